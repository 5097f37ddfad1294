"""The per-tenant event log: append, read what came after an id, wait for what comes next.

`RedisEventLog` keeps it in a Redis Stream per tenant (bounded with MAXLEN ~), shared by
every process, so a browser that reconnects to any process gets what it missed.
`MemoryEventLog` is the embedded default: one process, the same semantics.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis

from pbx.events.model import DeskEvent, id_key

Entry = tuple[str, DeskEvent]


class EventLog(Protocol):
    async def append(self, event: DeskEvent) -> str: ...

    async def append_all(self, events: Sequence[DeskEvent]) -> list[str]:
        """Append in this order, in one round trip where the log is remote."""
        ...

    async def after(self, tenant_id: int, last_id: str, limit: int) -> list[Entry]: ...

    async def wait(self, tenant_id: int, last_id: str, timeout_s: float) -> list[Entry]: ...

    async def newest(self, tenant_id: int) -> str: ...


class MemoryEventLog:
    def __init__(self, retention: int) -> None:
        self.retention = retention
        self._entries: dict[int, deque[Entry]] = {}
        self._changed: dict[int, asyncio.Condition] = {}
        self._last = (0, 0)

    async def append(self, event: DeskEvent) -> str:
        ms = int(time.time() * 1000)
        seq = self._last[1] + 1 if ms <= self._last[0] else 0
        self._last = (max(ms, self._last[0]), seq)
        event_id = f"{self._last[0]}-{seq}"
        entries = self._entries.setdefault(event.tenant_id, deque(maxlen=self.retention))
        entries.append((event_id, event))
        condition = self._condition(event.tenant_id)
        async with condition:
            condition.notify_all()
        return event_id

    async def append_all(self, events: Sequence[DeskEvent]) -> list[str]:
        return [await self.append(event) for event in events]

    async def after(self, tenant_id: int, last_id: str, limit: int) -> list[Entry]:
        start = id_key(last_id) if last_id else (-1, -1)
        entries = self._entries.get(tenant_id, ())
        return [(i, e) for i, e in entries if id_key(i) > start][:limit]

    async def wait(self, tenant_id: int, last_id: str, timeout_s: float) -> list[Entry]:
        found = await self.after(tenant_id, last_id, 1000)
        if found:
            return found
        condition = self._condition(tenant_id)
        async with condition:
            try:
                # Not `wait_for`: on Python 3.11 it drops a cancellation that comes as the
                # wait ends, and the hub's reader, cancelled as a desk left, read on for ever.
                async with asyncio.timeout(timeout_s):
                    await condition.wait()
            except TimeoutError:
                return []
        return await self.after(tenant_id, last_id, 1000)

    async def newest(self, tenant_id: int) -> str:
        entries = self._entries.get(tenant_id)
        return entries[-1][0] if entries else "0-0"

    def _condition(self, tenant_id: int) -> asyncio.Condition:
        return self._changed.setdefault(tenant_id, asyncio.Condition())


class RedisEventLog:
    def __init__(self, redis: Redis, retention: int, prefix: str = "ll:desk:") -> None:
        """`redis` must have no read timeout: `wait` blocks in XREAD."""
        self._redis, self.retention, self._prefix = redis, retention, prefix

    def _key(self, tenant_id: int) -> str:
        return f"{self._prefix}{tenant_id}"

    async def append(self, event: DeskEvent) -> str:
        return (await self.append_all([event]))[0]

    async def append_all(self, events: Sequence[DeskEvent]) -> list[str]:
        # One round trip for a burst (a call offered and its agent ringing); in MULTI/EXEC
        # so that a reader blocked in XREAD wakes once for all of it, not after the first.
        pipe = self._redis.pipeline(transaction=True)
        for event in events:
            fields = {"e": json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False)}
            pipe.xadd(self._key(event.tenant_id), fields, maxlen=self.retention, approximate=True)
        ids = await pipe.execute()
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def after(self, tenant_id: int, last_id: str, limit: int) -> list[Entry]:
        start = f"({last_id}" if last_id else "-"
        rows = await self._redis.xrange(self._key(tenant_id), min=start, count=limit)
        return [_entry(i, f) for i, f in rows]

    async def wait(self, tenant_id: int, last_id: str, timeout_s: float) -> list[Entry]:
        answer = await self._redis.xread(
            {self._key(tenant_id): last_id or "$"}, count=1000, block=int(timeout_s * 1000)
        )
        return [_entry(i, f) for _, rows in answer or () for i, f in rows]

    async def newest(self, tenant_id: int) -> str:
        rows = await self._redis.xrevrange(self._key(tenant_id), count=1)
        return _entry(*rows[0])[0] if rows else "0-0"


def _entry(raw_id: bytes | str, fields: dict) -> Entry:
    event_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
    raw = fields.get(b"e") or fields.get("e")
    return event_id, DeskEvent.from_dict(json.loads(raw))
