"""Business hours: is the business open at a given moment, in its own time zone? (pure)

A window that closes at or before it opens runs past midnight: `22:00-06:00` on Friday is
open Friday 22:00 to Saturday 06:00. A closed date (a holiday) closes the whole local day,
including the early-morning tail of the previous day's overnight window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class HoursError(ValueError):
    """Opening hours that cannot be read; the message names the offending part."""


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]  # 0 = Monday, as date.weekday()
    opens: time
    closes: time

    @property
    def overnight(self) -> bool:
        return self.closes <= self.opens


@dataclass(frozen=True, slots=True)
class OpeningHours:
    timezone: ZoneInfo
    windows: tuple[Window, ...]
    closed_dates: frozenset[date] = frozenset()

    @classmethod
    def parse(
        cls, timezone: str, weekly: Iterable[Mapping[str, Any]], closed_dates: Iterable[str] = ()
    ) -> OpeningHours:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise HoursError(f"timezone: unknown time zone {timezone!r}") from None
        windows = tuple(_window(index, raw) for index, raw in enumerate(weekly))
        dates = frozenset(_date(index, raw) for index, raw in enumerate(closed_dates))
        return cls(zone, windows, dates)

    def is_open(self, now: datetime) -> bool:
        if now.tzinfo is None:
            raise ValueError("naive datetime: opening hours need an aware time")
        local = now.astimezone(self.timezone)
        today, clock = local.date(), local.time().replace(tzinfo=None)
        if today in self.closed_dates:
            return False
        yesterday = today - timedelta(days=1)
        for window in self.windows:
            if window.overnight:
                if today.weekday() in window.days and clock >= window.opens:
                    return True
                if yesterday.weekday() in window.days and clock < window.closes:
                    return True
            elif today.weekday() in window.days and window.opens <= clock < window.closes:
                return True
        return False


def _window(index: int, raw: Mapping[str, Any]) -> Window:
    where = f"weekly[{index}]"
    if not isinstance(raw, Mapping):
        raise HoursError(f"{where}: expected an object with days, open and close")
    days = raw.get("days")
    if not isinstance(days, list) or not days:
        raise HoursError(f"{where}.days: expected a non-empty list of weekdays")
    numbers = frozenset(_day(f"{where}.days", day) for day in days)
    return Window(
        numbers, _time(f"{where}.open", raw.get("open")), _time(f"{where}.close", raw.get("close"))
    )


def _day(where: str, day: Any) -> int:
    if isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6:
        return day
    if isinstance(day, str) and day.lower() in DAY_NAMES:
        return DAY_NAMES.index(day.lower())
    raise HoursError(f"{where}: {day!r} is not a weekday (0-6 from Monday, or its name)")


def _time(where: str, value: Any) -> time:
    if isinstance(value, str) and value == "24:00":
        return time.max
    try:
        parsed = time.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or len(value) != 5:
        raise HoursError(f"{where}: expected HH:MM, got {value!r}")
    return parsed


def _date(index: int, value: Any) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise HoursError(f"closed_dates[{index}]: expected YYYY-MM-DD, got {value!r}") from None
