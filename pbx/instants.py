"""Instants written as text: an ISO 8601 date-time with its UTC offset ("Z" or "+02:00"),
read as UTC (pure; any layer may use it).

A time with no offset is refused rather than guessed: a naive time compared with an aware
one fails much later, far from the text that caused it. Each caller turns `NotAnInstant`
into its own refusal (a 400 naming the field, a malformed webhook, a record refused); its
message says which way the text failed, in the words a field's refusal uses ("from: must
include a UTC offset (e.g. Z)"), and `reason` says it to code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Reason = Literal["format", "zone", "range"]
_SAID: dict[Reason, str] = {
    "format": "must be an ISO 8601 date-time",
    "zone": "must include a UTC offset (e.g. Z)",
    "range": "is out of the range of dates",
}

# The longest a sensible instant is ("2026-12-07T02:21:16.123456+05:30" is 32 characters);
# longer text is refused before it is parsed.
MAX_LENGTH = 64


class NotAnInstant(ValueError):
    """The text is no ISO 8601 date-time with a UTC offset; `reason` says why: `format`
    (not a date-time, or too long), `zone` (no offset), `range` (no UTC time can hold it,
    as year 1 at +14:00)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(_SAID[reason])
        self.reason: Reason = reason


def parse_instant(text: str, *, max_length: int = MAX_LENGTH) -> datetime:
    """The instant `text` names, in UTC."""
    if not isinstance(text, str) or len(text) > max_length:
        raise NotAnInstant("format")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise NotAnInstant("format") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise NotAnInstant("zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise NotAnInstant("range") from None
