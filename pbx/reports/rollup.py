"""Which interval a report row's quarter hours go to, grouped in the database where it
knows time zones (PostgreSQL: a month by hour is a few thousand rows, not tens of
thousands carried into Python), else in Python (`periods.interval_of`, SQLite).

The key is fold-safe: an hour is the UTC instant it starts at (a bucket less its local
minutes), so the two 03:00s of a night the clocks go back stay two; a day or week is its
local date, whose first moment `periods.local_midnight` finds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Date, cast, func, literal

from pbx.reports.periods import QUARTER_S, Interval, interval_of, local_midnight

ToStart = Callable[[Any], datetime]


def interval_key(bucket: ColumnElement[int], interval: Interval, zone: ZoneInfo,
                 dialect: str) -> tuple[ColumnElement[Any], ToStart]:  # fmt: skip
    """The column to group by, and how its value becomes the interval's start (UTC)."""
    if dialect != "postgresql" or interval is Interval.QUARTER:
        return bucket, lambda value: interval_of(int(value), interval, zone)
    local = func.timezone(literal(zone.key), func.to_timestamp(bucket * QUARTER_S))
    if interval is Interval.HOUR:
        minutes = cast(func.extract("minute", local), BigInteger)
        return bucket * QUARTER_S - minutes * 60, _instant
    if interval is Interval.DAY:
        return cast(local, Date), lambda day: _midnight(day, zone)
    return cast(func.date_trunc("week", local), Date), lambda day: _midnight(day, zone)


def _instant(seconds: Any) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return local_midnight(day, zone)
