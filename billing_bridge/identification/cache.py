"""Where identification results are kept between calls: in-process, or Redis for a fleet.

A cache is an optimisation, never a dependency: a Redis that is down or slow makes lookups
fall through to the database, it never fails a call.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class IdentificationCache(Protocol):
    async def get(self, tenant_id: int, e164: str) -> dict[str, Any] | None: ...

    async def put(self, tenant_id: int, e164: str, result: dict[str, Any]) -> None: ...

    async def forget(self, tenant_id: int, numbers: Iterable[str]) -> None: ...


class NoCache:
    """Every lookup goes to the database (cache_ttl_seconds = 0)."""

    async def get(self, tenant_id: int, e164: str) -> dict[str, Any] | None:
        return None

    async def put(self, tenant_id: int, e164: str, result: dict[str, Any]) -> None:
        return None

    async def forget(self, tenant_id: int, numbers: Iterable[str]) -> None:
        return None


class MemoryCache:
    """A bounded LRU with expiry, for the embedded single-process default."""

    def __init__(self, ttl_seconds: float, max_entries: int = 100_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[tuple[int, str], tuple[float, dict[str, Any]]] = OrderedDict()

    async def get(self, tenant_id: int, e164: str) -> dict[str, Any] | None:
        key = (tenant_id, e164)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, result = entry
        if expires < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return result

    async def put(self, tenant_id: int, e164: str, result: dict[str, Any]) -> None:
        self._entries[(tenant_id, e164)] = (time.monotonic() + self._ttl, result)
        self._entries.move_to_end((tenant_id, e164))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def forget(self, tenant_id: int, numbers: Iterable[str]) -> None:
        for number in numbers:
            self._entries.pop((tenant_id, number), None)


class RedisCache:
    """Shared by every Ledgerline process, so one invalidation reaches them all."""

    PREFIX = "ledgerline:ident"

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    def _key(self, tenant_id: int, e164: str) -> str:
        return f"{self.PREFIX}:{tenant_id}:{e164}"

    async def get(self, tenant_id: int, e164: str) -> dict[str, Any] | None:
        try:
            raw = await self._redis.get(self._key(tenant_id, e164))
        except (RedisError, OSError) as exc:
            log.warning("identification cache unavailable, reading the database: %s", exc)
            return None
        return json.loads(raw) if raw else None

    async def put(self, tenant_id: int, e164: str, result: dict[str, Any]) -> None:
        try:
            await self._redis.set(self._key(tenant_id, e164), json.dumps(result), ex=self._ttl)
        except (RedisError, OSError) as exc:
            log.warning("identification cache unavailable, result not kept: %s", exc)

    async def forget(self, tenant_id: int, numbers: Iterable[str]) -> None:
        keys = [self._key(tenant_id, n) for n in numbers]
        # Failing to forget would serve stale balances until the TTL: let the caller know.
        for start in range(0, len(keys), 1000):
            await self._redis.unlink(*keys[start : start + 1000])
