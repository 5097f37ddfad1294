"""The hours in which a customer may be called, on the wall clock of the customer's zone.

A window is a start and an end on the same day (08:00 to 21:00 by default), the start
included and the end not. Moments are compared on the local clock of the zone, so a window
means the same hours on the two days a year the clocks change: the next lawful moment after
a summer evening is 08:00 the next morning local time, however many hours away that is.

Pure functions, no I/O: callback retries (`pbx.acd`) and the collections worklist's
compliance both ask them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class CallingWindow:
    start: time = time(8)
    end: time = time(21)

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("a calling window is in local wall-clock times, without a zone")
        if self.start >= self.end:
            raise ValueError("a calling window ends after it starts, on the same day")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


DEFAULT_WINDOW = CallingWindow()


def allows(at: datetime, zone: ZoneInfo, window: CallingWindow = DEFAULT_WINDOW) -> bool:
    """Whether `at` (aware) falls inside the window on the wall clock of `zone`."""
    local = _aware(at).astimezone(zone).time().replace(tzinfo=None)
    return window.start <= local < window.end


def next_allowed(at: datetime, zone: ZoneInfo, window: CallingWindow = DEFAULT_WINDOW) -> datetime:
    """`at` itself if the window allows it, else the window's next start in `zone`: later
    the same local day, or the next day's. Returned in UTC."""
    at = _aware(at).astimezone(UTC)
    if allows(at, zone, window):
        return at
    day = at.astimezone(zone).date()
    for _ in range(3):  # today's start, or tomorrow's (a third day only past a gap)
        start = datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)
        # A start inside a spring-forward gap reads as the moment after it: still lawful.
        if start >= at and allows(start, zone, window):
            return start
        day += timedelta(days=1)
    raise AssertionError(f"no start of {window} in the three days after {at}")  # unreachable


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a moment to check against a calling window must be aware")
    return at
