"""A recording's pause intervals, as kept in `Recording.pauses` (pure).

Each interval is `{"from": iso, "to": iso | None, "reason": str, "by": user id | None}`, in
UTC; the recording is paused while the last one is open. The helpers return new lists rather
than changing the one given: SQLAlchemy only saves a JSON column that was assigned, so
`recording.pauses = open_pause(recording.pauses, ...)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pbx.instants import parse_instant

Pauses = Sequence[Mapping[str, Any]]


class PauseError(Exception):
    """A pause or resume that does not fit the recording's intervals."""


class AlreadyPaused(PauseError):
    pass


class NotPaused(PauseError):
    pass


@dataclass(frozen=True)
class PauseOffsets:
    """One pause as milliseconds from the recording's start; `end_ms` None: never resumed
    and the recording's end is not known yet."""

    start_ms: int
    end_ms: int | None
    reason: str
    by: int | None


def is_paused(pauses: Pauses) -> bool:
    return bool(pauses) and pauses[-1].get("to") is None


def open_pause(pauses: Pauses, *, at: datetime, reason: str, by: int | None) -> list[dict]:
    """The intervals with a new one opened at `at`."""
    if is_paused(pauses):
        raise AlreadyPaused("the recording is paused already")
    if not reason.strip():
        raise ValueError("a pause needs a reason")
    if pauses and _parse(pauses[-1]["to"]) > _utc(at):
        raise PauseError("a pause cannot start before the previous one ended")
    return [*map(dict, pauses), {"from": _iso(at), "to": None, "reason": reason, "by": by}]


def close_pause(pauses: Pauses, *, at: datetime) -> list[dict]:
    """The intervals with the open one closed at `at`."""
    if not is_paused(pauses):
        raise NotPaused("the recording is not paused")
    if _utc(at) < _parse(pauses[-1]["from"]):
        raise PauseError("a pause cannot end before it started")
    *done, current = map(dict, pauses)
    return [*done, {**current, "to": _iso(at)}]


def offsets(
    pauses: Pauses, *, started_at: datetime, ended_at: datetime | None = None
) -> list[PauseOffsets]:
    """The intervals in milliseconds from `started_at`, clipped to the recording; a pause
    still open when the recording ended lasts until `ended_at`."""
    start = _utc(started_at)
    end = _utc(ended_at) if ended_at is not None else None
    result = []
    for pause in pauses:
        begins = _parse(pause["from"])
        ends = _parse(pause["to"]) if pause.get("to") is not None else end
        if end is not None and ends is not None:  # ends is set whenever end is
            begins, ends = min(begins, end), min(ends, end)
        result.append(
            PauseOffsets(
                start_ms=_ms(begins - start),
                end_ms=None if ends is None else _ms(ends - start),
                reason=pause.get("reason", ""),
                by=pause.get("by"),
            )
        )
    return result


def paused_ms(pauses: Pauses, *, started_at: datetime, ended_at: datetime) -> int:
    """How long the finished recording was paused in all."""
    spans = offsets(pauses, started_at=started_at, ended_at=ended_at)
    return sum((span.end_ms or span.start_ms) - span.start_ms for span in spans)


def _ms(delta: timedelta) -> int:
    return max(0, round(delta.total_seconds() * 1000))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: pauses are kept in UTC")
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat()


def _parse(value: str) -> datetime:
    return parse_instant(value)
