"""The LL_* channel variables: how a caller's identity travels on the caller's channel.

caller-lookup (FastAGI or the pyst2 script) encodes a `CallerIdentity` into them; the call
flow decodes them from StasisStart's `channelvars` (ari.conf), or from ARI for the few that
did not come with it. Decoding is strict: a value that is not what caller-lookup writes
raises `MalformedIdentity` naming the variable (never echoing it), and the call is then
identified as if caller-lookup had not run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from billing_bridge.identification.model import CallerIdentity, Match, NoMatchReason

MATCH = "LL_MATCH"
CUSTOMER_ID = "LL_CUSTOMER_ID"
CUSTOMER_NAME = "LL_CUSTOMER_NAME"
ACCOUNT_STATUS = "LL_ACCOUNT_STATUS"
BALANCE_MINOR = "LL_BALANCE_MINOR"
CURRENCY = "LL_CURRENCY"
PRIORITY = "LL_PRIORITY"
CANDIDATES = "LL_CANDIDATES"
REASON = "LL_REASON"

# What routing needs: ari.conf's `channelvars` lists these (asterisk-conf/ari.conf), and the
# call flow asks ARI only for those of them that StasisStart did not carry. The others are
# for dialplans and people reading the channel; each listed one is in every channel event.
ROUTING = (MATCH, CUSTOMER_ID, PRIORITY, ACCOUNT_STATUS)

# A line break inside an AGI argument would end the command early: names lose them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# ASCII only and bounded: `²` is a digit to str.isdigit() and int() refuses it.
_ID = re.compile(r"[1-9][0-9]{0,17}")
_SMALL = re.compile(r"[0-9]{1,4}")
_AMOUNT = re.compile(r"-?[0-9]{1,18}")
_STATUS = re.compile(r"[a-z_]{1,32}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class MalformedIdentity(ValueError):
    """An LL_* variable holds what caller-lookup never writes."""


def encode(identity: CallerIdentity) -> list[tuple[str, str]]:
    """The variables in the order they are set. Every one is set on every call, empty when
    it does not apply, so nothing from an earlier lookup on the same channel survives."""
    known = identity.customer_id is not None
    balance = identity.balance_minor
    return [
        (MATCH, identity.match.value),
        (CUSTOMER_ID, str(identity.customer_id) if known else ""),
        (CUSTOMER_NAME, _printable(identity.customer_name) if known else ""),
        (ACCOUNT_STATUS, identity.account_status if known else ""),
        (BALANCE_MINOR, str(balance) if known and balance is not None else ""),
        (CURRENCY, identity.currency if known else ""),
        (PRIORITY, str(identity.priority)),
        (CANDIDATES, str(identity.candidates)),
        (REASON, identity.reason.value if identity.reason else ""),
    ]


def _printable(name: str) -> str:
    # Nothing to replace in a printable name (control characters are not printable), and
    # testing that costs a fraction of the substitution on every identified caller.
    return name if name.isprintable() else _CONTROL.sub(" ", name)


def decode(variables: Mapping[str, str]) -> CallerIdentity | None:
    """The identity caller-lookup set, None when it did not run (no LL_MATCH); variables
    missing from `variables` read as empty. `MalformedIdentity` when one is not well formed."""
    match = variables.get(MATCH, "")
    if not match:
        return None
    if match not in _MATCHES:
        raise MalformedIdentity(f"{MATCH} is not a match")
    customer = _optional(variables, CUSTOMER_ID, _ID)
    balance = _optional(variables, BALANCE_MINOR, _AMOUNT)
    status = variables.get(ACCOUNT_STATUS, "")
    currency = variables.get(CURRENCY, "")
    if status and not _STATUS.fullmatch(status):
        raise MalformedIdentity(f"{ACCOUNT_STATUS} is not an account status")
    if currency and not _CURRENCY.fullmatch(currency):
        raise MalformedIdentity(f"{CURRENCY} is not a currency code")
    reason = variables.get(REASON, "")
    if reason and reason not in _REASONS:
        raise MalformedIdentity(f"{REASON} is not a reason")
    return CallerIdentity(
        Match(match), customer if match == Match.UNIQUE else None,
        _optional(variables, PRIORITY, _SMALL) or 0, status, variables.get(CUSTOMER_NAME, ""),
        balance, currency, _optional(variables, CANDIDATES, _SMALL) or 0,
        NoMatchReason(reason) if reason else None,
    )  # fmt: skip


_MATCHES = frozenset(m.value for m in Match)
_REASONS = frozenset(r.value for r in NoMatchReason)


def _optional(variables: Mapping[str, str], name: str, form: re.Pattern[str]) -> int | None:
    value = variables.get(name, "")
    if not value:
        return None
    if not form.fullmatch(value):
        raise MalformedIdentity(f"{name} is not a number of the expected form")
    return int(value)
