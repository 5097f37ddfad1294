"""Login attempts allowed per key (a username, an address) in a sliding window.

In memory for one process; in Redis (one counter per key and window) when several processes
share the login page, so an attacker cannot multiply the allowance by spreading attempts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis


class AttemptLimiter(Protocol):
    async def allow(self, key: str) -> bool: ...

    async def reset(self, key: str) -> None: ...


class MemoryLimiter:
    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._attempts: dict[str, deque[float]] = {}

    async def allow(self, key: str) -> bool:
        now = self._clock()
        attempts = self._attempts.setdefault(key, deque())
        while attempts and attempts[0] <= now - self.window_s:
            attempts.popleft()
        if len(attempts) >= self.limit:
            return False
        attempts.append(now)
        if len(self._attempts) > 100_000:  # bounded memory under a spray of usernames
            self._attempts = {
                k: v for k, v in self._attempts.items() if v and v[-1] > now - self.window_s
            }
        return True

    async def reset(self, key: str) -> None:
        self._attempts.pop(key, None)


class RedisLimiter:
    """A fixed window per key: INCR then EXPIRE on the first attempt."""

    def __init__(self, redis: Redis, limit: int, window_s: int, prefix: str = "ll:login:") -> None:
        self._redis, self.limit, self.window_s, self._prefix = redis, limit, window_s, prefix

    async def allow(self, key: str) -> bool:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(name).expire(name, self.window_s, nx=True).execute()
        return int(count) <= self.limit

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
