"""What recurring collection does with one due invoice: pure, no I/O, no clock.

An invoice is charged as attempt 1; a refusal the payer can fix (insufficient funds, a
provider that was down) is tried again 3 days after it failed, then 5 days after the second
failure; three attempts at most. Refusals that say the mandate is gone, or that we do not
understand, are final: retrying those costs the payer bank fees and us the scheme's goodwill.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

MAX_ATTEMPTS = 3
# Days after attempt N failed before attempt N + 1 (index N - 1).
RETRY_DELAYS_DAYS = (3, 5)
RETRYABLE = frozenset({"insufficient_funds", "processing_error", "provider_unavailable"})
# The mandate itself is gone: no retry on it, but a new active mandate may be charged.
MANDATE_GONE = frozenset({
    "mandate_not_active", "mandate_cancelled", "mandate_expired", "mandate_failed",
})  # fmt: skip
PROVIDER_ERROR = "provider_error"  # our request was refused as malformed: final


class Action(StrEnum):
    CHARGE = "charge"  # a new attempt
    RESEND = "resend"  # the last attempt's request again, same key (no answer was kept)
    IN_FLIGHT = "in_flight"  # the provider has it; the outcome comes by webhook
    WAIT = "wait"  # failed, retry later
    SKIP = "skip"  # not collectable now: reported


@dataclass(frozen=True)
class LastAttempt:
    number: int
    mandate_id: int
    outcome: str  # "pending" (no answer kept), "submitted", "succeeded", "failed"
    failure_code: str | None
    failed_on: date | None  # the day the failure was learned


@dataclass(frozen=True)
class Decision:
    action: Action
    attempt: int = 0  # for CHARGE and RESEND
    reason: str | None = None  # for SKIP: why, e.g. mandate_cancelled, attempts_exhausted


def idempotency_key(invoice_id: int, attempt: int) -> str:
    """The same invoice and attempt always give the same key: a resend charges once."""
    return f"collect:{invoice_id}:{attempt}"


def instalment_key(plan_id: int, number: int, attempt: int) -> str:
    """A plan's instalment charge: `plan<id>-inst<n>`, a retry `plan<id>-inst<n>-try<k>`."""
    key = f"plan{plan_id}-inst{number}"
    return key if attempt == 1 else f"{key}-try{attempt}"


_INSTALMENT_KEY = re.compile(r"plan([0-9]+)-inst([0-9]+)(?:-try([0-9]+))?")


def instalment_of_key(key: str) -> tuple[int, int, int] | None:
    """(plan id, instalment number, attempt) of an instalment charge's key; None: not one."""
    found = _INSTALMENT_KEY.fullmatch(key)
    if found is None:
        return None
    return int(found[1]), int(found[2]), int(found[3] or 1)


def instalment_link_key(plan_id: int, number: int) -> str:
    """The pay link sent for a plan's instalment paid by link: `plan<id>-inst<n>-link`."""
    return f"plan{plan_id}-inst{number}-link"


_LINK_KEY = re.compile(r"plan([0-9]+)-inst([0-9]+)-link")


def instalment_of_link_key(key: str) -> tuple[int, int] | None:
    """(plan id, instalment number) of an instalment's pay link key; None: not one."""
    found = _LINK_KEY.fullmatch(key)
    return None if found is None else (int(found[1]), int(found[2]))


def retry_on(attempt: int, failure_code: str | None, failed_on: date) -> date | None:
    """When attempt `attempt + 1` may run after `attempt` failed; None: never."""
    if failure_code not in RETRYABLE or attempt >= MAX_ATTEMPTS:
        return None
    return failed_on + timedelta(days=RETRY_DELAYS_DAYS[attempt - 1])


def decide(
    last: LastAttempt | None,
    *,
    active_mandate_id: int | None,
    mandate_status: str | None,
    today: date,
) -> Decision:
    """`active_mandate_id`: the account's active mandate (None: none is); `mandate_status`:
    otherwise the status of its newest mandate, reported as the reason it is skipped."""
    if last is not None and last.outcome == "pending":
        return Decision(Action.RESEND, last.number)
    if last is not None and last.outcome in ("submitted", "succeeded"):
        return Decision(Action.IN_FLIGHT)
    if active_mandate_id is None:
        return Decision(Action.SKIP, reason=f"mandate_{mandate_status or 'missing'}")
    if last is None:
        return Decision(Action.CHARGE, 1)
    if last.number >= MAX_ATTEMPTS:
        return Decision(Action.SKIP, reason="attempts_exhausted")
    if last.failure_code in MANDATE_GONE and active_mandate_id != last.mandate_id:
        return Decision(Action.CHARGE, last.number + 1)  # a new mandate since
    due = retry_on(last.number, last.failure_code, last.failed_on or today)
    if due is None:
        return Decision(Action.SKIP, reason=f"final_{last.failure_code or 'failure'}")
    if today < due:
        return Decision(Action.WAIT)
    return Decision(Action.CHARGE, last.number + 1)
