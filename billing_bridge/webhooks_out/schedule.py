"""When a failed delivery is tried again, and when it is given up: pure, no I/O.

Retries start 30 s after the first failure and double up to 6 h, each with ±20 % jitter so
that a receiver coming back is not hit by every delivery at the same second; a delivery is
given up (status `failed`) at its first failure 3 days or more after its first attempt.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=6)
GIVE_UP_AFTER = timedelta(days=3)
JITTER = 0.2


def retry_delay(failures: int, rng: random.Random) -> timedelta:
    """The wait after the `failures`-th failure in a row (1 for the first)."""
    doublings = min(max(failures - 1, 0), 20)  # 2**20 * 30 s is far beyond the cap
    base = min(FIRST_RETRY * (2**doublings), LONGEST_RETRY)
    return base * (1 + rng.uniform(-JITTER, JITTER))


def next_attempt(
    first_attempt_at: datetime, now: datetime, failures: int, rng: random.Random
) -> datetime | None:
    """When to try again after a failure at `now`, or None: give up."""
    if now - first_attempt_at >= GIVE_UP_AFTER:
        return None
    return now + retry_delay(failures, rng)
