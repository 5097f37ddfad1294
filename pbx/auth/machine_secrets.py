"""Secrets that machine clients present (the platform's tokens, a business's API keys): a
prefix that names the kind (at a glance, and to secret scanners) and 256 random bits, kept
only as their SHA-256 (`token_digest`: high entropy needs no slow hash, unlike a password),
with when each was last used."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Protocol

LONGEST = 200  # no secret of ours is longer: a longer one is not looked up
# A request records `last_used_at` at most this often, so most requests only read.
TOUCH_EVERY = timedelta(seconds=60)


class Used(Protocol):
    last_used_at: datetime | None


def mint(prefix: str) -> str:
    """A new secret of the kind `prefix` names."""
    return prefix + secrets.token_urlsafe(32)


def plausible(secret: str, prefix: str) -> bool:
    """Whether `secret` could be one of ours of this kind, worth a lookup at all."""
    return secret.startswith(prefix) and len(secret) <= LONGEST and secret.isascii()


def touch(row: Used, now: datetime) -> None:
    """Record a use, unless one was recorded within `TOUCH_EVERY`."""
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now
