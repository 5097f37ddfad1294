"""When a callback whose customer did not answer is tried again, and when it stops.

A queue's rule: at most `attempts` dials of the customer in all, each retry at least
`spacing_s` after the failed one, and only inside the calling window on the customer's wall
clock (`billing_bridge.calling_window`): a retry that would fall after the window's end
waits for its next start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from billing_bridge.calling_window import DEFAULT_WINDOW, CallingWindow, next_allowed

MAX_ATTEMPTS = 10
MAX_SPACING_S = 7 * 86_400


@dataclass(frozen=True, slots=True)
class CallbackRule:
    attempts: int = 3
    spacing_s: int = 600
    window: CallingWindow = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= MAX_ATTEMPTS:
            raise ValueError(f"callback attempts must be from 1 to {MAX_ATTEMPTS}")
        if not 60 <= self.spacing_s <= MAX_SPACING_S:
            raise ValueError(f"callback spacing must be from 60 to {MAX_SPACING_S} seconds")

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts, "spacing_s": self.spacing_s,
            "window": [f"{self.window.start:%H:%M}", f"{self.window.end:%H:%M}"],
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallbackRule:
        start, end = (time.fromisoformat(part) for part in data["window"])
        return cls(data["attempts"], data["spacing_s"], CallingWindow(start, end))


def rule_of(
    attempts: int | None, spacing_s: int | None, start: str | None, end: str | None
) -> CallbackRule:
    """A queue's rule as an admin sets it: each setting left unset (None) is the default's;
    the window's ends as HH:MM. ValueError names what is wrong."""
    default = CallbackRule()
    window = CallingWindow(
        time.fromisoformat(start) if start else default.window.start,
        time.fromisoformat(end) if end else default.window.end,
    )
    return CallbackRule(attempts or default.attempts, spacing_s or default.spacing_s, window)


def next_attempt(
    rule: CallbackRule, made: int, failed_at: datetime, zone: ZoneInfo
) -> datetime | None:
    """When to dial the customer again after `made` unanswered dials, the last failing at
    `failed_at`; None when that was the last attempt the rule allows."""
    if made >= rule.attempts:
        return None
    return next_allowed(failed_at + timedelta(seconds=rule.spacing_s), zone, rule.window)
