"""What the caller hears, as ARI media URIs (pure).

`sound:` names from Asterisk's core sounds where one says the right thing; the
`ledgerline-*` prompts are the business's own recordings (asterisk-conf/README.md lists
them and what each must say).
"""

from __future__ import annotations

import math

from pbx.voice import saying

CLOSED = ("sound:ledgerline-closed", "sound:vm-goodbye")
NO_SERVICE = ("sound:ss-noservice",)
CALLBACK_CONFIRMED = ("sound:ledgerline-callback-requested", "sound:vm-goodbye")
ENTER_PIN = ("sound:ledgerline-enter-pin",)
ENTER_DATE_OF_BIRTH = ("sound:ledgerline-enter-date-of-birth",)
VERIFIED = ("sound:auth-thankyou",)
NOT_VERIFIED = ("sound:auth-incorrect",)
INVALID_CHOICE = ("sound:option-is-invalid",)
# Secure card capture (the agent hears none of these, nor the keys pressed).
CARD_NUMBER = ("sound:ledgerline-card-number",)
CARD_EXPIRY = ("sound:ledgerline-card-expiry",)
CARD_CVC = ("sound:ledgerline-card-cvc",)
ENTRY_INVALID = ("sound:ledgerline-entry-invalid",)  # any keyed field that does not check out
PAYMENT_ACCEPTED = ("sound:ledgerline-payment-accepted",)
PAYMENT_DECLINED = ("sound:ledgerline-payment-declined",)
PAYMENT_PENDING = ("sound:ledgerline-payment-pending",)
PAYMENT_ABANDONED = ("sound:ledgerline-payment-abandoned",)
# A direct-debit mandate by phone (the recording stays on: the consent is evidence).
BANK_CODE = ("sound:ledgerline-bank-code",)
BANK_BRANCH = ("sound:ledgerline-bank-branch",)
BANK_ACCOUNT = ("sound:ledgerline-bank-account",)
SORT_CODE = ("sound:ledgerline-sort-code",)
IBAN_DIGITS = ("sound:ledgerline-iban-digits",)
ROUTING_NUMBER = ("sound:ledgerline-routing-number",)
MANDATE_AGREE = ("sound:ledgerline-mandate-agree",)
MANDATE_CREATED = ("sound:ledgerline-mandate-created",)
MANDATE_FAILED = ("sound:ledgerline-mandate-failed",)
MANDATE_ABANDONED = ("sound:ledgerline-mandate-abandoned",)


def mandate_consent(scheme: str, tenant_slug: str) -> tuple[str, ...]:
    """The direct-debit consent script for `scheme` (masav, bacs, sepa_core, ach) with the
    business's name in it: built per business by `ledgerline prompts build`
    (`pbx.voice.catalog.consent_name`)."""
    return (f"sound:ledgerline-consent-{scheme}-{tenant_slug}",)


def position(place: int, estimated_wait_s: int | None, language: str = "en") -> tuple[str, ...]:
    """A waiting caller's announcement: their place in line, then the expected wait in
    minutes, read out in the caller's language (`pbx.voice.saying`: "מיקומך בתור הוא שלוש",
    "dvi minutės"); a language it has no read-out for hears app_queue's own sounds."""
    minutes = None if estimated_wait_s is None else max(1, math.ceil(estimated_wait_s / 60))
    try:
        media = saying.place_in_line(place, language)
        return media if minutes is None else media + saying.wait_minutes(minutes, language)
    except saying.CannotSay:
        pass
    core = ["sound:queue-youarenext"] if place == 1 else [
        "sound:queue-thereare", f"number:{place - 1}", "sound:queue-callswaiting",
    ]  # fmt: skip
    if minutes is not None:
        core += ["sound:queue-holdtime", f"number:{minutes}", "sound:queue-minutes"]
    return tuple(core)
