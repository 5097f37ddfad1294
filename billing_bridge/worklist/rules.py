"""The worklist's rules, pure: an entry's score from its parts, why an account is listed,
and compliance — whether a collection call to this customer may be placed now, and if not,
which rule refuses it. Times are judged on the customer's wall clock
(`billing_bridge.calling_window`, which callback retries ask too), so the calling window
follows a DST change."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from billing_bridge import calling_window
from billing_bridge.calling_window import CallingWindow
from billing_bridge.collections.errors import Invalid

REASONS = ("broken_promise", "failed_collection", "overdue_no_contact", "reminder_step",
           "callback")  # fmt: skip
OUTCOMES = ("right_party_contact", "wrong_party", "no_answer", "promise", "paid", "dispute",
            "refused", "callback")  # fmt: skip
ATTEMPT_DAYS = 7  # the attempts cap counts this many days back
DEFAULT_CALL_FROM, DEFAULT_CALL_UNTIL = "08:00", "21:00"
DEFAULT_MAX_ATTEMPTS, DEFAULT_NO_CONTACT_DAYS, DEFAULT_CLAIM_MINUTES = 7, 10, 15
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")

# Score weights: each part is capped, so no single figure buries the others.
MINOR_PER_POINT, AMOUNT_CAP = 1_000, 500  # a point per 10.00 overdue, at most 500
DAY_POINTS, DAYS_CAP = 2, 180  # two points a day overdue, counted up to 180 days
CONTACT_CAP = 90  # a point a day nobody spoke to the customer, up to 90
BROKEN_POINTS, BROKEN_CAP = 50, 5  # 50 points a broken promise or instalment, up to 5


@dataclass(frozen=True, slots=True)
class Score:
    """The score and the parts it adds up to, as the API shows them."""

    amount: int
    days_overdue: int
    no_contact: int
    broken_promises: int

    @property
    def total(self) -> int:
        return self.amount + self.days_overdue + self.no_contact + self.broken_promises


def score(overdue_minor: int, days_overdue: int, days_since_contact: int | None,
          broken_promises: int) -> Score:  # fmt: skip
    """Never contacted counts as long ago as the account has been overdue."""
    quiet_days = days_overdue if days_since_contact is None else days_since_contact
    return Score(
        min(max(overdue_minor, 0) // MINOR_PER_POINT, AMOUNT_CAP),
        DAY_POINTS * min(max(days_overdue, 0), DAYS_CAP),
        min(max(quiet_days, 0), CONTACT_CAP),
        BROKEN_POINTS * min(max(broken_promises, 0), BROKEN_CAP),
    )


@dataclass(frozen=True, slots=True)
class Signals:
    """What the build read of one account."""

    days_overdue: int
    days_since_contact: int | None
    broken_recently: bool
    failed_recently: bool
    at_reminder_step: bool
    callback_pending: bool


def reasons(signals: Signals, no_contact_days: int) -> list[str]:
    """Why the account is on the list, in REASONS' order; empty: it is not."""
    found = {
        "broken_promise": signals.broken_recently,
        "failed_collection": signals.failed_recently,
        "overdue_no_contact": signals.days_overdue >= no_contact_days and (
            signals.days_since_contact is None or signals.days_since_contact >= no_contact_days),
        "reminder_step": signals.at_reminder_step,
        "callback": signals.callback_pending,
    }  # fmt: skip
    return [name for name in REASONS if found[name]]


@dataclass(frozen=True, slots=True)
class Policy:
    """A business's collection-call rules."""

    call_from: str = DEFAULT_CALL_FROM
    call_until: str = DEFAULT_CALL_UNTIL
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    no_contact_days: int = DEFAULT_NO_CONTACT_DAYS
    claim_minutes: int = DEFAULT_CLAIM_MINUTES
    holidays: frozenset[date] = frozenset()


def clock(value: str, name: str) -> time:
    match = _CLOCK.fullmatch(value)
    if match is None:
        raise Invalid(name, "expected a local time HH:MM, 00:00 to 23:59")
    return time(int(match[1]), int(match[2]))


def window_of(policy: Policy) -> CallingWindow:
    """The policy's calling window (the one callback retries are judged by, too)."""
    start, end = clock(policy.call_from, "call_from"), clock(policy.call_until, "call_until")
    try:
        return CallingWindow(start, end)
    except ValueError:
        raise Invalid("call_until", "after call_from (the window is within one day)") from None


def check_policy(policy: Policy) -> Policy:
    """A policy every part of which holds, or `Invalid` naming the part."""
    window_of(policy)
    return policy


@dataclass(frozen=True, slots=True)
class Facts:
    """What compliance reads of the account and its customer at one moment."""

    zone: ZoneInfo  # the customer's clock
    attempts_in_window: int  # collection calls placed in the last ATTEMPT_DAYS days
    customer_do_not_call: bool
    number_listed: bool  # every number of the customer is on the business's list
    dispute: bool
    promise: bool  # an open promise
    plan: bool  # an active plan in good standing


@dataclass(frozen=True, slots=True)
class Refusal:
    """The rule that refuses a collection call: a code and what to tell the agent."""

    code: str
    message: str


def in_window(moment: datetime, zone: ZoneInfo, policy: Policy) -> bool:
    """Within the calling window on the wall clock of `zone`, and not a holiday there."""
    if moment.astimezone(zone).date() in policy.holidays:
        return False
    return calling_window.allows(moment, zone, window_of(policy))


def refusal(facts: Facts, policy: Policy, now: datetime) -> Refusal | None:
    """The first rule that refuses a call now, or None: in the order a compliance officer
    reads them (the customer's wishes, a dispute, what they agreed to, then time and count)."""
    if facts.customer_do_not_call:
        return Refusal("do_not_call", "the customer asked not to be called")
    if facts.number_listed:
        return Refusal("do_not_call_number", "the customer's number is on the do-not-call list")
    if facts.dispute:
        return Refusal("dispute", "a dispute is open on the account: no collection calls")
    if facts.promise:
        return Refusal("promise", "a promise to pay is open: no call until its date passes")
    if facts.plan:
        return Refusal("plan", "a payment plan is in good standing")
    if not in_window(now, facts.zone, policy):
        local = now.astimezone(facts.zone)
        if local.date() in policy.holidays:
            return Refusal("holiday", f"{local.date().isoformat()} is a holiday")
        return Refusal("outside_window", f"{local:%H:%M} on the customer's clock is outside "
                       f"{policy.call_from}-{policy.call_until}")  # fmt: skip
    if facts.attempts_in_window >= policy.max_attempts:
        return Refusal("attempts", f"{facts.attempts_in_window} call attempts in "
                       f"{ATTEMPT_DAYS} days: at most {policy.max_attempts}")  # fmt: skip
    return None


def callback_allowed(at: datetime, zone: ZoneInfo, policy: Policy, now: datetime) -> None:
    """A callback time the customer asked for: in the future and within the window on their
    clock; `Invalid` naming `callback_at` otherwise."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise Invalid("callback_at", "needs a time zone offset")
    if at <= now:
        raise Invalid("callback_at", "in the future")
    if not in_window(at, zone, policy):
        raise Invalid("callback_at", f"within {policy.call_from}-{policy.call_until} on the "
                      "customer's clock, not on a holiday")  # fmt: skip
