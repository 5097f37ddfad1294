"""Where identification results are kept between calls: in-process, or Redis for a fleet.

Caches keep the `Identification` itself; only Redis holds it as JSON (decoded once per read,
and a lookup without a cache encodes nothing).

A cache is an optimisation, never a dependency: a Redis that is down or slow makes lookups
fall through to the database, it never fails a call.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from billing_bridge.identification.model import Identification

log = logging.getLogger(__name__)
Key = tuple[int, str]  # (tenant_id, caller E.164)


class IdentificationCache(Protocol):
    async def get(self, tenant_id: int, e164: str) -> Identification | None: ...

    async def put(self, tenant_id: int, e164: str, result: Identification) -> None: ...

    async def forget(self, tenant_id: int, numbers: Iterable[str]) -> None: ...

    async def close(self) -> None: ...


class NoCache:
    """Every lookup goes to the database (cache_ttl_seconds = 0)."""

    async def get(self, tenant_id: int, e164: str) -> Identification | None:
        return None

    async def put(self, tenant_id: int, e164: str, result: Identification) -> None:
        return None

    async def forget(self, tenant_id: int, numbers: Iterable[str]) -> None:
        return None

    async def close(self) -> None:
        return None


class Entries:
    """A bounded LRU whose entries expire: the in-process tier of `MemoryCache` and
    `NearCache`. Synchronous, so a hit costs no await."""

    def __init__(
        self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[Key, tuple[float, Identification]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Identification | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Key, result: Identification, ttl_seconds: float | None = None) -> None:
        """Keep `result` for the TTL, or for `ttl_seconds` if that is shorter."""
        ttl = self._ttl if ttl_seconds is None else min(self._ttl, ttl_seconds)
        self._entries[key] = (self._clock() + ttl, result)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def drop(self, key: Key) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class MemoryCache:
    """A bounded LRU with expiry, for the embedded single-process default."""

    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries = Entries(ttl_seconds, max_entries, clock)

    async def get(self, tenant_id: int, e164: str) -> Identification | None:
        return self._entries.get((tenant_id, e164))

    async def put(self, tenant_id: int, e164: str, result: Identification) -> None:
        self._entries.put((tenant_id, e164), result)

    async def forget(self, tenant_id: int, numbers: Iterable[str]) -> None:
        for number in numbers:
            self._entries.drop((tenant_id, number))

    async def close(self) -> None:
        return None


class RedisCache:
    """Shared by every Ledgerline process, so one invalidation reaches them all.

    Forgetting a number also publishes it (`channel`, in the same transaction as the
    delete), for the in-process tiers in front of this cache (`near_cache.NearCache`)."""

    PREFIX = "ledgerline:ident"

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        # Pub/sub channels are server-wide, keys are per database: two deployments sharing
        # a Redis server in different databases must not hear each other's invalidations.
        database = redis.connection_pool.connection_kwargs.get("db", 0)
        self.channel = f"{self.PREFIX}:forget:{database}"

    def _key(self, tenant_id: int, e164: str) -> str:
        return f"{self.PREFIX}:{tenant_id}:{e164}"

    async def get(self, tenant_id: int, e164: str) -> Identification | None:
        try:
            raw = await self._redis.get(self._key(tenant_id, e164))
        except (RedisError, OSError) as exc:
            log.warning("identification cache unavailable, reading the database: %s", exc)
            return None
        return Identification.from_json(json.loads(raw)) if raw else None

    async def get_with_ttl(self, tenant_id: int, e164: str) -> tuple[Identification | None, float]:
        """The result and the seconds it has left here (one round trip), so that a copy kept
        elsewhere expires no later than this one."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                key = self._key(tenant_id, e164)
                raw, left_ms = await pipe.get(key).pttl(key).execute()
        except (RedisError, OSError) as exc:
            log.warning("identification cache unavailable, reading the database: %s", exc)
            return None, 0.0
        if not raw or left_ms < 0:  # -2: gone meanwhile; -1: no expiry (not one of ours)
            return None, 0.0
        return Identification.from_json(json.loads(raw)), left_ms / 1000

    async def put(self, tenant_id: int, e164: str, result: Identification) -> None:
        try:
            encoded = json.dumps(result.to_json())
            await self._redis.set(self._key(tenant_id, e164), encoded, ex=self._ttl)
        except (RedisError, OSError) as exc:
            log.warning("identification cache unavailable, result not kept: %s", exc)

    async def forget(self, tenant_id: int, numbers: Iterable[str]) -> None:
        numbers = list(numbers)
        # Failing to forget would serve stale balances until the TTL: let the caller know.
        for start in range(0, len(numbers), 1000):
            chunk = numbers[start : start + 1000]
            message = json.dumps({"tenant_id": tenant_id, "numbers": chunk})
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.unlink(*(self._key(tenant_id, n) for n in chunk))
                pipe.publish(self.channel, message)
                await pipe.execute()

    async def close(self) -> None:
        return None  # the client is the composition root's to close
