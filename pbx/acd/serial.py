"""Tiny helpers shared by the `to_dict`/`from_dict` of every ACD state class."""

from __future__ import annotations

from datetime import UTC, datetime

from pbx.instants import parse_instant


def require_utc(now: datetime) -> datetime:
    """Reject naive times at the boundary: comparing naive and aware times fails much later."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("naive datetime: the ACD works in timezone-aware UTC only")
    return now.astimezone(UTC)


def dump_time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def load_time(value: str | None) -> datetime | None:
    return parse_instant(value) if value is not None else None
