"""The credit limit rules (pure): limits hold in total over a period, not per credit.

A business sets, in minor units of its currency:
- `credit_limits`: the most each role grants without approval in one period, in total
  (a user's own `credit_limit_minor`, where an admin set it above zero, replaces the role's);
- `credit_account_limit_minor`: the most credits may take off one account in a period, in
  total, whoever gave them, before the next one needs approval (None: no such total);
- `credit_period`: a day, an ISO week (from Monday) or a calendar month in the business's
  time zone;
- `credits_below_zero`: whether a credit may take a balance below zero at all.

A credit that would take the agent's total or the account's total over its limit waits for
a supervisor's approval. One that would take the balance below zero where that is not
allowed is refused outright, and so is its approval: no approval makes it right.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GRANTED, PENDING = "granted", "pending_approval"
# `pbx.db.models.CREDIT_PERIODS`, longest last: a period we cannot read counts as the
# longest, where totals are largest and approval comes soonest.
PERIODS = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class Period:
    name: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive


def period_around(name: str, moment: datetime, timezone: str) -> Period:
    """The limit period that holds `moment`, its bounds at local midnight in `timezone`
    (so a day is 23 or 25 hours long when the clocks change)."""
    if name not in PERIODS:
        name = PERIODS[-1]
    try:
        zone: Any = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    today = moment.astimezone(zone).date()
    if name == "day":
        first, after = today, today + timedelta(days=1)
    elif name == "week":
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    else:
        first = today.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    return Period(name, _midnight(first, zone), _midnight(after, zone))


def _midnight(day: date, zone: Any) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def limit_of(role: str, limits: Mapping[str, Any], personal_limit: int | None = 0) -> int | None:
    """The user's period limit: their own where set above zero, else their role's; None
    where there is no usable one (then every credit needs approval). A limit that is not a
    whole non-negative number (a hand-edited row) counts as none: approval is the safe side.
    """
    if isinstance(personal_limit, int) and personal_limit > 0:
        return personal_limit
    limit = limits.get(role)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        return None
    return limit


def credit_status(
    role: str,
    amount_minor: int,
    currency: str,
    tenant_currency: str,
    limits: Mapping[str, Any],
    personal_limit: int = 0,
    *,
    used_minor: int = 0,
    account_used_minor: int = 0,
    account_limit: int | None = None,
) -> str:
    """GRANTED when `role` (or the user, with a `personal_limit` above zero) may give
    `amount_minor` on their own, else PENDING.

    `used_minor` is what the user already granted on their own authority in the period,
    `account_used_minor` what credits already took off the account in it; the credit must
    fit under both limits with them. Admins are never limited. Limits are in the tenant's
    currency; a credit in another currency cannot be compared without an exchange rate we
    do not keep, so it waits for approval.
    """
    if role == "admin":
        return GRANTED
    if currency != tenant_currency:
        return PENDING
    limit = limit_of(role, limits, personal_limit)
    if limit is None or used_minor + amount_minor > limit:
        return PENDING
    if account_limit is not None and account_used_minor + amount_minor > account_limit:
        return PENDING
    return GRANTED


def stays_within_zero(balance_minor: int, amount_minor: int, below_zero_allowed: bool) -> bool:
    """Whether a credit of `amount_minor` may lower `balance_minor` (what the customer owes)."""
    return below_zero_allowed or balance_minor - amount_minor >= 0
