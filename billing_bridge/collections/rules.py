"""The rules of promises and plans, pure: the caps a business sets, instalment amounts that
add up exactly, instalment dates, and when a date has passed in the business's time zone."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from billing_bridge.collections.errors import Invalid

DEFAULT_MAX_DAYS = 30  # a promise's date: at most this many days from today
DEFAULT_MIN_SHARE_PCT = 20  # a promise covers at least this share of the overdue amount
MAX_DAYS_LIMIT = 365
MAX_INSTALMENTS = 36
FREQUENCY_DAYS = {"weekly": 7, "fortnightly": 14}  # monthly: the same day of each month


@dataclass(frozen=True, slots=True)
class Caps:
    """A business's caps on promises (its collections settings)."""

    max_days: int = DEFAULT_MAX_DAYS
    min_share_pct: int = DEFAULT_MIN_SHARE_PCT


def caps_of(max_days: int | None, min_share_pct: int | None) -> Caps:
    """The caps a business's row holds (None: the default)."""
    return Caps(DEFAULT_MAX_DAYS if max_days is None else max_days,
                DEFAULT_MIN_SHARE_PCT if min_share_pct is None else min_share_pct)  # fmt: skip


def least_promise(overdue_minor: int, caps: Caps) -> int:
    """The smallest amount a promise may name: the share of the overdue amount, rounded up
    to a whole minor unit (at least 1)."""
    return max(1, -(-overdue_minor * caps.min_share_pct // 100))


def default_promise(overdue_minor: int, *, today: date, caps: Caps) -> tuple[int, date]:
    """The promise offered without an agent (the IVR): the whole overdue amount, so never
    below the business's minimum share, by the latest date the business allows."""
    return overdue_minor, today + timedelta(days=caps.max_days)


def check_promise(
    amount_minor: int, due_on: date, *, today: date, overdue_minor: int, owed_minor: int,
    caps: Caps,
) -> None:  # fmt: skip
    """Raises `Invalid` naming the field a promise breaks a cap with."""
    if amount_minor <= 0:
        raise Invalid("amount_minor", "must be more than 0")
    least = least_promise(overdue_minor, caps)
    if amount_minor < least:
        raise Invalid("amount_minor", f"must be at least {least} ({caps.min_share_pct}% of the "
                      f"overdue {overdue_minor})")  # fmt: skip
    if amount_minor > owed_minor:
        raise Invalid("amount_minor", f"must be at most what the account owes ({owed_minor})")
    check_date(due_on, today=today, caps=caps, field="due_on")


def check_date(due_on: date, *, today: date, caps: Caps, field: str) -> None:
    if due_on < today:
        raise Invalid(field, f"must be today ({today.isoformat()}) or later")
    latest = today + timedelta(days=caps.max_days)
    if due_on > latest:
        raise Invalid(field, f"must be at most {caps.max_days} days ahead ({latest.isoformat()})")


def split(total_minor: int, count: int) -> list[int]:
    """`total_minor` in `count` instalments that add up to it exactly: each the whole part of
    the division, and the remainder spread one minor unit each over the first instalments
    (10001 in 3: 3334, 3334, 3333). Never a zero instalment."""
    if count < 1 or total_minor < count:
        raise Invalid("instalment_count", f"must be between 1 and {max(total_minor, 1)} "
                      "(every instalment at least one minor unit)")  # fmt: skip
    whole, remainder = divmod(total_minor, count)
    return [whole + 1 if number < remainder else whole for number in range(count)]


def due_dates(first: date, count: int, frequency: str) -> list[date]:
    """Each instalment's date, counted from the first (never from the one before, so a
    monthly plan from 31 January is 28/29 February, then 31 March)."""
    if frequency in FREQUENCY_DAYS:
        step = FREQUENCY_DAYS[frequency]
        return [first + timedelta(days=step * number) for number in range(count)]
    if frequency != "monthly":
        raise Invalid("frequency", "one of weekly, fortnightly, monthly")
    return [_months_after(first, number) for number in range(count)]


def _months_after(first: date, months: int) -> date:
    year, month = divmod(first.month - 1 + months, 12)
    year, month = first.year + year, month + 1
    return date(year, month, min(first.day, calendar.monthrange(year, month)[1]))


def check_plan(
    total_minor: int, count: int, frequency: str, first_due_on: date, *, today: date, caps: Caps
) -> list[tuple[date, int]]:
    """The plan's instalments (date, amount), or `Invalid` naming the field."""
    if not 2 <= count <= MAX_INSTALMENTS:
        raise Invalid("instalment_count", f"must be between 2 and {MAX_INSTALMENTS}")
    if total_minor <= 0:
        raise Invalid("account_id", "the account has nothing overdue to plan")
    check_date(first_due_on, today=today, caps=caps, field="first_due_on")
    return list(zip(due_dates(first_due_on, count, frequency), split(total_minor, count),
                    strict=True))  # fmt: skip


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The date a moment falls on in the business's time zone."""
    return moment.astimezone(zone).date()


def is_late(due_on: date, paid_at: datetime, zone: ZoneInfo) -> bool:
    """Paid after the end of its date in the business's time zone (a DST change included:
    the end of a day is local midnight, however many hours the day had)."""
    return local_day(paid_at, zone) > due_on


def zone_named(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")
