"""The sandbox payment provider: deterministic, no network, the embedded default.

It behaves like Stripe and GoCardless do in their test modes, so the in-call flows, recurring
collection and webhook handling can be exercised end to end without an account anywhere.

Test cards (modelled on Stripe's published test numbers; any expiry ahead, any CVC):
    4242424242424242  Visa              succeeds
    5555555555554444  Mastercard        succeeds
    378282246310005   American Express  succeeds
    4000000000000002  Visa              card_declined
    4000000000009995  Visa              insufficient_funds
    4000000000000069  Visa              expired_card
    4000000000000127  Visa              incorrect_cvc
    4000000000000119  Visa              processing error: raises ProviderUnavailable (retry)
    any other card that passes `cards` checks succeeds; one that fails them is refused as
    Stripe would: incorrect_number, card_not_supported, expired_card, invalid_expiry_month,
    invalid_expiry_year, invalid_cvc.

Mandates from bank details (modelled on GoCardless's sandbox and Stripe's test accounts):
    bacs       200000 / 55779911             active (GoCardless sandbox account)
    bacs       108800 / 00012345             active (Stripe Bacs test account)
    sepa_core  DE89370400440532013000        active (both providers' test IBAN)
    sepa_core  FR1420041010050500013M02606   active (GoCardless)
    sepa_core  DE62370400440532013001        failed (Stripe's failing test IBAN)
    ach        026073150 / 2715500356        active (GoCardless)
    any scheme: an account number or IBAN ending 0002 fails; any other active.
A mandate by link is pending until `settle(ref)` makes it active (or the status given).

Collections (`charge_mandate`) are pending, as a direct debit is for days; `settle(ref)` then
emits the outcome: an amount ending in 13 minor units (e.g. 10.13) fails with
insufficient_funds, any other succeeds. Pay links are paid by `settle(ref)`.

Webhooks are signed like Stripe's: `Ledgerline-Sandbox-Signature: t=<unix>,v1=<hex>`, the hex
being HMAC-SHA256 over "<t>." + raw body, checked in constant time within a 300 s window.

Card data: the number, expiry and CVC are read during `charge_card` and dropped; only the
brand and last four digits are kept, as a real provider's response would carry them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from billing_bridge.money import MoneyError, exponent
from billing_bridge.payments import cards
from billing_bridge.payments import event_fields as fields
from billing_bridge.payments.port import (
    BankAccount,
    CardDetails,
    ChargeResult,
    MandateResult,
    MandateStatus,
    Payer,
    PayLink,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
    WebhookEvent,
    WebhookMalformed,
    WebhookRejected,
)

log = logging.getLogger(__name__)
_Result = TypeVar("_Result", ChargeResult, PayLink, MandateResult)
_Status = TypeVar("_Status", PaymentStatus, MandateStatus)

BASE_URL = "https://sandbox.ledgerline.invalid"
SIGNATURE_HEADER = "Ledgerline-Sandbox-Signature"
TOLERANCE_SECONDS = 300
_MAX_T_DIGITS = 12
PAY_LINK_LIFETIME = timedelta(days=7)
FAILING_AMOUNT_ENDING = 13  # minor units: a collection of 10.13 fails at settlement


@dataclass(frozen=True)
class _Decline:
    code: str
    message: str  # safe to read to the caller


_DECLINED = _Decline("card_declined", "The card was declined.")
_TEST_CARDS: dict[str, _Decline] = {
    "4000000000000002": _DECLINED,
    "4000000000009995": _Decline("insufficient_funds", "The card has insufficient funds."),
    "4000000000000069": _Decline("expired_card", "The card has expired."),
    "4000000000000127": _Decline("incorrect_cvc", "The security code is incorrect."),
}
_PROCESSING_ERROR_CARD = "4000000000000119"
# What a card failing `cards` checks is refused with, by problem code, in Stripe's words.
_NUMBER_DECLINES = {
    "unknown_brand": _Decline("card_not_supported", "This card type is not accepted."),
}
_BAD_NUMBER = _Decline("incorrect_number", "The card number is not valid.")
_EXPIRY_DECLINES = {
    "expired": _Decline("expired_card", "The card has expired."),
    "bad_month": _Decline("invalid_expiry_month", "The expiry month is not valid."),
}
_BAD_EXPIRY_YEAR = _Decline("invalid_expiry_year", "The expiry year is not valid.")
_BAD_CVC = _Decline("invalid_cvc", "The security code is not valid.")
_INSUFFICIENT_FUNDS = _Decline("insufficient_funds", "The bank refused the collection.")
_MANDATE_INACTIVE = _Decline("mandate_not_active", "The direct debit is not active.")

SCHEME_CURRENCIES = {"bacs": "GBP", "sepa_core": "EUR", "ach": "USD", "masav": "ILS"}
_SEPA_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",  # the EU
    "IS", "LI", "NO", "CH", "GB", "MC", "SM", "VA", "AD",  # the rest of the SEPA scheme area
})  # fmt: skip
_FAILING_IBANS = frozenset({"DE62370400440532013001"})
_FAILING_ACCOUNT_ENDING = "0002"

_PAYMENT_MOVES = {PaymentStatus.PENDING: {PaymentStatus.SUCCEEDED, PaymentStatus.FAILED}}
_MANDATE_MOVES = {
    MandateStatus.PENDING: {
        MandateStatus.SUBMITTED, MandateStatus.ACTIVE, MandateStatus.FAILED,
        MandateStatus.CANCELLED, MandateStatus.EXPIRED,
    },
    MandateStatus.SUBMITTED: {MandateStatus.ACTIVE, MandateStatus.FAILED, MandateStatus.CANCELLED},
    MandateStatus.ACTIVE: {MandateStatus.CANCELLED, MandateStatus.EXPIRED},
}  # fmt: skip
_STATUSES_BY_RESOURCE: dict[str, frozenset[str]] = {
    "payment": frozenset(PaymentStatus),
    "pay_link": frozenset(PaymentStatus),
    "mandate": frozenset(MandateStatus),
}


# --- signatures (Stripe's scheme; kept here so no shared module is needed) ------------------


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>." + body, as lowercase hex."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: bytes, header: str | None, body: bytes, *, now: datetime, tolerance_seconds: int
) -> None:
    """`t=<unix>,v1=<hex>[,v1=<hex>...]`: any v1 may match (secret rotation). The timestamp is
    signed too, so an old delivery cannot be replayed with a fresh one."""
    if not header:
        raise WebhookRejected("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        # ASCII digits, and few of them: `int()` refuses over 4,300 digits (and "²" is a digit
        # to `isdigit`), and a float overflows far sooner; no real timestamp is this long.
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= _MAX_T_DIGITS:
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookRejected("signature header is not t=...,v1=...")
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        raise WebhookRejected("signature timestamp outside the tolerance window")
    expected = sign(secret, timestamp, body)
    # Every candidate is compared, so timing does not tell which one (or whether any) matched.
    matched = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    if not any(matched):
        raise WebhookRejected("signature does not match")


# --- the provider -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Payment:
    status: PaymentStatus
    amount_minor: int
    currency: str
    resource: str  # "payment" or "pay_link"
    settles_as: _Decline | None = None  # the failure a pending payment will settle with


@dataclass(slots=True)
class _Mandate:
    status: MandateStatus
    scheme: str


@dataclass(frozen=True, slots=True)
class _Recorded:
    fingerprint: tuple[object, ...]
    result: ChargeResult | PayLink | MandateResult


class SandboxProvider:
    name = "sandbox"

    def __init__(
        self,
        *,
        webhook_secret: str | bytes,
        clock: Callable[[], datetime] | None = None,
        tolerance_seconds: int = TOLERANCE_SECONDS,
        remember: int | None = None,
    ) -> None:
        """`remember`: keep at most this many payments and pay links, forgetting the oldest
        (None: all). A forgotten one cannot be settled, and its key made again makes it again
        under the same reference; for long runs whose memory must not grow (the benchmark)."""
        if not webhook_secret:
            raise ValueError("the sandbox needs a webhook secret")
        self._secret = (
            webhook_secret.encode() if isinstance(webhook_secret, str) else webhook_secret
        )
        self._clock = clock or (lambda: datetime.now(UTC))
        self._tolerance = tolerance_seconds
        self._by_key: dict[str, _Recorded] = {}
        self._payments: dict[str, _Payment] = {}
        self._mandates: dict[str, _Mandate] = {}
        self._remember = remember
        self._made: deque[tuple[str, str]] = deque()  # (key, reference), oldest first

    def __repr__(self) -> str:
        return f"SandboxProvider(payments={len(self._payments)}, mandates={len(self._mandates)})"

    # -- PaymentProvider ----------------------------------------------------------------------

    async def charge_card(
        self,
        card: CardDetails,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        customer_ref: str,
    ) -> ChargeResult:
        _check_amount(amount_minor, currency)
        number_check = cards.check_number(card.number)
        brand = number_check.brand.value if number_check.brand else None
        last4 = card.last4
        fingerprint = ("charge_card", amount_minor, currency, description, customer_ref, last4)
        if (earlier := self._replay(idempotency_key, fingerprint, ChargeResult)) is not None:
            return earlier
        decline = self._card_decline(card, number_check)
        if decline is None and card.number == _PROCESSING_ERROR_CARD:
            # Not recorded: like a provider's 5xx, a retry with the same key tries again.
            raise ProviderUnavailable(
                "sandbox: processing error (test card); retry with the same key"
            )
        ref = _ref("sbx_pay", idempotency_key)
        status = PaymentStatus.FAILED if decline else PaymentStatus.SUCCEEDED
        result = ChargeResult(
            status=status,
            provider_ref=ref,
            failure_code=decline.code if decline else None,
            failure_message=decline.message if decline else None,
            card_last4=last4,
            card_brand=brand,
        )
        self._payments[ref] = _Payment(status, amount_minor, currency, "payment")
        self._record(idempotency_key, fingerprint, result, ref)
        log.info("sandbox card charge %s: %s", ref, result.failure_code or status.value)
        return result

    async def charge_mandate(
        self,
        mandate_ref: str,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        _check_amount(amount_minor, currency)
        mandate = self._mandates.get(mandate_ref)
        # A mandate this process did not make (another process's, the demo's seed) is taken
        # as active: the sandbox keeps no state between processes, a real provider would.
        if mandate is not None and SCHEME_CURRENCIES[mandate.scheme] != currency:
            expected = SCHEME_CURRENCIES[mandate.scheme]
            raise ProviderError(
                f"sandbox: a {mandate.scheme} mandate collects in {expected}, not {currency}"
            )
        fingerprint = ("charge_mandate", mandate_ref, amount_minor, currency, description)
        if (earlier := self._replay(idempotency_key, fingerprint, ChargeResult)) is not None:
            return earlier
        ref = _ref("sbx_pay", idempotency_key)
        if mandate is not None and mandate.status not in {
            MandateStatus.ACTIVE,
            MandateStatus.SUBMITTED,
        }:
            result = ChargeResult(
                PaymentStatus.FAILED, ref, _MANDATE_INACTIVE.code, _MANDATE_INACTIVE.message
            )
            self._payments[ref] = _Payment(PaymentStatus.FAILED, amount_minor, currency, "payment")
        else:
            result = ChargeResult(PaymentStatus.PENDING, ref)
            fails = amount_minor % 100 == FAILING_AMOUNT_ENDING
            self._payments[ref] = _Payment(
                PaymentStatus.PENDING, amount_minor, currency, "payment",
                settles_as=_INSUFFICIENT_FUNDS if fails else None,
            )  # fmt: skip
        self._record(idempotency_key, fingerprint, result, ref)
        log.info("sandbox mandate collection %s: %s", ref, result.status.value)
        return result

    async def create_pay_link(
        self,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        customer_ref: str,
    ) -> PayLink:
        _check_amount(amount_minor, currency)
        fingerprint = ("pay_link", amount_minor, currency, description, customer_ref)
        if (earlier := self._replay(idempotency_key, fingerprint, PayLink)) is not None:
            return earlier
        ref = _ref("sbx_link", idempotency_key)
        link = PayLink(f"{BASE_URL}/pay/{ref}", ref, self._clock() + PAY_LINK_LIFETIME)
        self._payments[ref] = _Payment(PaymentStatus.PENDING, amount_minor, currency, "pay_link")
        self._record(idempotency_key, fingerprint, link, ref)
        return link

    async def create_mandate_link(
        self, *, scheme: str, idempotency_key: str, customer_ref: str, customer_name: str,
        payer: Payer | None = None,
    ) -> MandateResult:  # fmt: skip
        _check_scheme(scheme)
        fingerprint = ("mandate_link", scheme, customer_ref, customer_name)
        if (earlier := self._replay(idempotency_key, fingerprint, MandateResult)) is not None:
            return earlier
        ref = _ref("sbx_md", idempotency_key)
        result = MandateResult(MandateStatus.PENDING, ref, scheme, f"{BASE_URL}/mandate/{ref}")
        self._mandates[ref] = _Mandate(MandateStatus.PENDING, scheme)
        self._record(idempotency_key, fingerprint, result)
        return result

    async def create_mandate(
        self, account: BankAccount, *, scheme: str, idempotency_key: str, customer_ref: str,
        payer: Payer | None = None,
    ) -> MandateResult:  # fmt: skip
        _check_scheme(scheme)
        _check_account_fits(account, scheme)
        identity = (account.country, account.iban, account.bank_code, account.branch_code,
                    account.account_number, account.account_holder)  # fmt: skip
        fingerprint = ("mandate", scheme, customer_ref, identity)
        if (earlier := self._replay(idempotency_key, fingerprint, MandateResult)) is not None:
            return earlier
        ref = _ref("sbx_md", idempotency_key)
        status = MandateStatus.FAILED if _mandate_fails(account) else MandateStatus.ACTIVE
        result = MandateResult(status, ref, scheme)
        self._mandates[ref] = _Mandate(status, scheme)
        self._record(idempotency_key, fingerprint, result)
        log.info("sandbox mandate %s (%s): %s", ref, scheme, status.value)
        return result

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        header = next(
            (value for key, value in headers.items() if key.lower() == SIGNATURE_HEADER.lower()),
            None,
        )
        verify_signature(
            self._secret, header, body, now=self._clock(), tolerance_seconds=self._tolerance
        )
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise WebhookMalformed("body") from None
        items = payload.get("events") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise WebhookMalformed("events")
        return [_event_from_json(item, f"events[{n}].") for n, item in enumerate(items)]

    # -- what a test or the demo does in the provider's place -------------------------------

    def webhook(self, events: Sequence[WebhookEvent]) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a delivery of `events`, signed now."""
        body = json.dumps(
            {"events": [_event_to_json(event) for event in events]},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        timestamp = int(self._clock().timestamp())
        signature = sign(self._secret, timestamp, body)
        return body, {
            SIGNATURE_HEADER: f"t={timestamp},v1={signature}",
            "Content-Type": "application/json",
        }

    def settle(
        self, provider_ref: str, status: PaymentStatus | MandateStatus | str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """Move a pending payment, pay link or mandate on and return the webhook announcing it.
        Without `status`, the scheduled outcome: collections by their amount (see the module's
        note), pay links paid, mandates active."""
        if (payment := self._payments.get(provider_ref)) is not None:
            return self._settle_payment(provider_ref, payment, status)
        if (mandate := self._mandates.get(provider_ref)) is not None:
            return self._settle_mandate(provider_ref, mandate, status)
        raise ProviderError("sandbox: nothing to settle under that reference")

    def references(self) -> list[str]:
        """The payments and pay links the sandbox has made, then its mandates."""
        return [*self._payments, *self._mandates]

    def status_of(self, provider_ref: str) -> str:
        if (payment := self._payments.get(provider_ref)) is not None:
            return payment.status.value
        if (mandate := self._mandates.get(provider_ref)) is not None:
            return mandate.status.value
        raise ProviderError("sandbox: no such reference")

    # -- inside -------------------------------------------------------------------------------

    def _card_decline(self, card: CardDetails, number_check: cards.CardCheck) -> _Decline | None:
        if not number_check.ok:
            return _NUMBER_DECLINES.get(number_check.problem or "", _BAD_NUMBER)
        expiry = cards.check_expiry_date(card.exp_month, card.exp_year, self._today())
        if not expiry.ok:
            return _EXPIRY_DECLINES.get(expiry.problem or "", _BAD_EXPIRY_YEAR)
        if not cards.check_cvc(card.cvc, number_check.brand).ok:
            return _BAD_CVC
        return _TEST_CARDS.get(card.number)

    def _today(self) -> date:
        return self._clock().astimezone(UTC).date()

    def _replay(
        self, key: str, fingerprint: tuple[object, ...], kind: type[_Result]
    ) -> _Result | None:
        if not key:
            raise ProviderError("sandbox: an idempotency key is required")
        recorded = self._by_key.get(key)
        if recorded is None:
            return None
        if recorded.fingerprint != fingerprint:
            # Stripe answers 400 idempotency_error: a reused key must carry the same request.
            raise ProviderError("sandbox: idempotency key reused with different parameters")
        if not isinstance(recorded.result, kind):  # unreachable: the fingerprint names the call
            raise ProviderError("sandbox: idempotency key reused for another operation")
        return recorded.result

    def _record(
        self,
        key: str,
        fingerprint: tuple[object, ...],
        result: ChargeResult | PayLink | MandateResult,
        payment_ref: str | None = None,
    ) -> None:
        self._by_key[key] = _Recorded(fingerprint, result)
        if payment_ref is None or self._remember is None:
            return
        self._made.append((key, payment_ref))
        while len(self._made) > self._remember:
            old_key, old_ref = self._made.popleft()
            self._by_key.pop(old_key, None)
            self._payments.pop(old_ref, None)

    def _settle_payment(
        self, ref: str, payment: _Payment, status: PaymentStatus | MandateStatus | str | None
    ) -> tuple[bytes, dict[str, str]]:
        if status is None:
            target = PaymentStatus.FAILED if payment.settles_as else PaymentStatus.SUCCEEDED
        else:
            target = _as(PaymentStatus, status)
        if target not in _PAYMENT_MOVES.get(payment.status, set()):
            raise ProviderError(f"sandbox: a {payment.status.value} payment cannot become {target}")
        payment.status = target
        details = {"amount_minor": str(payment.amount_minor), "currency": payment.currency}
        if target is PaymentStatus.FAILED:
            decline = payment.settles_as or _DECLINED
            details |= {"failure_code": decline.code, "failure_message": decline.message}
        return self.webhook([self._event(payment.resource, ref, target, details)])

    def _settle_mandate(
        self, ref: str, mandate: _Mandate, status: PaymentStatus | MandateStatus | str | None
    ) -> tuple[bytes, dict[str, str]]:
        target = MandateStatus.ACTIVE if status is None else _as(MandateStatus, status)
        if target not in _MANDATE_MOVES.get(mandate.status, set()):
            raise ProviderError(f"sandbox: a {mandate.status.value} mandate cannot become {target}")
        mandate.status = target
        return self.webhook([self._event("mandate", ref, target, {"scheme": mandate.scheme})])

    def _event(self, resource: str, ref: str, status: str, details: dict[str, str]) -> WebhookEvent:
        # A reference reaches each status once, so the id is stable across restarts and retries.
        event_id = _ref("sbx_evt", f"{ref}:{status}")
        return WebhookEvent(
            event_id=event_id,
            type=f"{resource}.{status}",
            resource=resource,
            provider_ref=ref,
            status=str(status),
            occurred_at=self._clock(),
            details=details,
        )


def _ref(prefix: str, key: str) -> str:
    # Derived from the idempotency key: the same request names the same payment, even after a
    # restart of the process that holds this in-memory sandbox.
    return f"{prefix}_{hashlib.sha256(f'{prefix}:{key}'.encode()).hexdigest()[:24]}"


def _check_amount(amount_minor: int, currency: str) -> None:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ProviderError("sandbox: the amount must be a positive whole number of minor units")
    try:
        exponent(currency)
    except MoneyError as exc:
        raise ProviderError(f"sandbox: {exc}") from None


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEME_CURRENCIES:
        raise ProviderError(f"sandbox: unknown mandate scheme {scheme!r}")


def _check_account_fits(account: BankAccount, scheme: str) -> None:
    fits = {
        "bacs": account.country == "GB" and bool(account.bank_code and account.account_number),
        "sepa_core": bool(account.iban) and account.country in _SEPA_COUNTRIES,
        "ach": account.country == "US" and bool(account.bank_code and account.account_number),
        "masav": account.country == "IL"
        and bool(account.bank_code and account.branch_code and account.account_number),
    }[scheme]
    if not fits:
        raise ProviderError(f"sandbox: these bank details do not fit a {scheme} mandate")


def _mandate_fails(account: BankAccount) -> bool:
    if account.iban in _FAILING_IBANS:
        return True
    return (account.iban or account.account_number or "").endswith(_FAILING_ACCOUNT_ENDING)


def _as(kind: type[_Status], status: object) -> _Status:
    try:
        return kind(str(status))
    except ValueError:
        raise ProviderError(f"sandbox: {status!r} is not a {kind.__name__}") from None


def _event_to_json(event: WebhookEvent) -> dict[str, object]:
    return {
        "id": event.event_id,
        "type": event.type,
        "created": int(event.occurred_at.timestamp()),
        "resource": event.resource,
        "provider_ref": event.provider_ref,
        "status": event.status,
        "details": dict(event.details),
    }


def _event_from_json(item: object, where: str) -> WebhookEvent:
    if not isinstance(item, dict):
        raise WebhookMalformed(where.rstrip("."))
    resource = fields.name(item, "resource", where, fields.MAX_RESOURCE)
    kind = fields.name(item, "type", where)
    status = item.get("status")
    known = (
        resource in _STATUSES_BY_RESOURCE
        and isinstance(status, str)
        and status in _STATUSES_BY_RESOURCE[resource]
        and kind == f"{resource}.{status}"
    )
    return WebhookEvent(
        event_id=fields.ident(item, "id", where),
        type=kind,
        resource=resource,
        provider_ref=fields.ident(item, "provider_ref", where),
        status=str(status) if known else None,
        occurred_at=fields.unix_time(item, "created", where),
        raw_type_known=known,
        details=fields.details(fields.obj(item, "details", where)),
    )
