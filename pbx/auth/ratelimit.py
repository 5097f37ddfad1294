"""Sign-in limits: only wrong passwords count, so correct sign-ins never lock anyone out.

Two limits, both answered with how long to wait (429 with Retry-After), neither a lockout:
- per user and address: `pair_failures` wrong passwords in a window from one address stop
  that address guessing that user's password until the window ends; a correct sign-in from
  the address clears it. Other addresses (the real user elsewhere) are not affected.
- per user, from anywhere: after `user_free_failures` wrong passwords each next try waits
  a delay that doubles with every further failure up to `user_delay_max_s`; so an attacker
  spreading guesses over many addresses gets a handful a minute, and the real user waits at
  most the cap. The count is forgotten a window after the last failure.

In memory for one process; in Redis (keys expiring on Redis's clock) when several processes
share the sign-in page, so an attacker cannot multiply the allowance by spreading attempts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class SignInPolicy:
    pair_failures: int = 10
    window_s: int = 300
    user_free_failures: int = 5
    user_delay_s: float = 1.0
    user_delay_max_s: float = 60.0

    def user_delay(self, failures: int) -> float:
        """Seconds the next try waits after this many failures for a user (0: none)."""
        if failures < self.user_free_failures:
            return 0.0
        doublings = min(failures - self.user_free_failures, 32)
        return min(self.user_delay_max_s, self.user_delay_s * 2.0**doublings)


class SignInLimits(Protocol):
    async def wait_s(self, user: str, address: str) -> float:
        """Seconds before this user may try again from this address (0: now)."""
        ...

    async def failed(self, user: str, address: str) -> None: ...

    async def succeeded(self, user: str, address: str) -> None: ...


def retry_after(wait_s: float) -> int:
    """Whole seconds for a Retry-After header: never 0 while there is still a wait."""
    return max(1, math.ceil(wait_s))


class MemorySignInLimits:
    _MAX_KEYS = 100_000  # bounded memory under a spray of usernames and addresses

    def __init__(
        self, policy: SignInPolicy, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy, self._clock = policy, clock
        self._pairs: dict[tuple[str, str], tuple[int, float]] = {}  # failures, window end
        self._users: dict[str, tuple[int, float, float]] = {}  # failures, forget at, wait until

    async def wait_s(self, user: str, address: str) -> float:
        now = self._clock()
        wait = 0.0
        failures, ends = self._pairs.get((user, address), (0, now))
        if ends > now and failures >= self.policy.pair_failures:
            wait = ends - now
        _, forget_at, wait_until = self._users.get(user, (0, now, now))
        if forget_at > now:
            wait = max(wait, wait_until - now)
        return wait

    async def failed(self, user: str, address: str) -> None:
        now, window = self._clock(), self.policy.window_s
        failures, ends = self._pairs.get((user, address), (0, now))
        self._pairs[(user, address)] = (failures + 1, ends) if ends > now else (1, now + window)
        failures, forget_at, _ = self._users.get(user, (0, now, now))
        failures = failures + 1 if forget_at > now else 1
        self._users[user] = (failures, now + window, now + self.policy.user_delay(failures))
        if len(self._pairs) + len(self._users) > self._MAX_KEYS:
            self._pairs = {k: v for k, v in self._pairs.items() if v[1] > now}
            self._users = {k: v for k, v in self._users.items() if v[1] > now}

    async def succeeded(self, user: str, address: str) -> None:
        self._pairs.pop((user, address), None)


class RedisSignInLimits:
    """Per pair: a failure counter expiring a window after its first failure. Per user: a
    failure counter expiring a window after its last, and a `wait` key that lives exactly
    as long as the delay, so every process reads the same wait on Redis's clock."""

    def __init__(self, redis: Redis, policy: SignInPolicy, prefix: str = "ll:signin:") -> None:
        self._redis, self.policy, self._prefix = redis, policy, prefix

    def _keys(self, user: str, address: str) -> tuple[str, str, str]:
        p = self._prefix
        return f"{p}pair:{user}\x1f{address}", f"{p}user:{user}", f"{p}wait:{user}"

    async def wait_s(self, user: str, address: str) -> float:
        pair, _, wait = self._keys(user, address)
        async with self._redis.pipeline(transaction=False) as pipe:
            count, pair_ms, wait_ms = await pipe.get(pair).pttl(pair).pttl(wait).execute()
        waits = [max(0, int(wait_ms)) / 1000]
        if count is not None and int(count) >= self.policy.pair_failures:
            waits.append(max(0, int(pair_ms)) / 1000)
        return max(waits)

    async def failed(self, user: str, address: str) -> None:
        pair, counter, wait = self._keys(user, address)
        window = self.policy.window_s
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(pair).expire(pair, window, nx=True).incr(counter).expire(counter, window)
            _, _, failures, _ = await pipe.execute()
        delay = self.policy.user_delay(int(failures))
        if delay > 0:
            await self._redis.set(wait, b"1", px=max(1, round(delay * 1000)))

    async def succeeded(self, user: str, address: str) -> None:
        await self._redis.delete(self._keys(user, address)[0])
