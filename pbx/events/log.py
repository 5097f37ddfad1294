"""The per-tenant event log: append, read what came after an id, wait for what comes next.

`RedisEventLog` keeps it in a Redis Stream per tenant (bounded with MAXLEN ~), shared by
every process, so a browser that reconnects to any process gets what it missed.
`MemoryEventLog` is the embedded default: one process, the same semantics.

Entries cross the bus through the codec (`wire.py`): an entry that does not decode (written
by hand, or by a version that sends what this one does not know) is logged as one line and
dropped, and reading goes on after it: a `Page` says how far was read, dropped ones included.
A reader may hand in a way to get the events its own process appended (`own`: asked once
the entries are read, before any is decoded, so that appends under way can finish first):
those entries are taken from it instead of being decoded again.

An append says, for each event, the entry just before it in its tenant's log (`Appended`),
read in the same atomic step: the hub hands its own events to its process's desks at once
when nothing of another process's came between (see `hub.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

from redis.asyncio import Redis

from pbx.events.codec import DeskCodecError
from pbx.events.model import DeskEvent, id_key
from pbx.events.wire import from_bus, to_bus

log = logging.getLogger(__name__)

Entry = tuple[str, DeskEvent]


class Page(NamedTuple):
    entries: list[Entry]  # what was read, oldest first, less any entry that did not decode
    last_id: str  # where to read on from: the last entry read (a dropped one too), or as asked
    read: int  # how many entries were read, dropped ones included


class Appended(NamedTuple):
    event_id: str
    previous: str  # the entry just before it in its tenant's log; "0-0" when there was none


Own = Callable[[], Awaitable[Mapping[str, DeskEvent]]]  # this process's appended events, by id


async def nothing_own() -> Mapping[str, DeskEvent]:
    return {}


def _page(entries: list[Entry], last_id: str) -> Page:
    return Page(entries, entries[-1][0] if entries else last_id, len(entries))


class EventLog(Protocol):
    async def append(self, event: DeskEvent) -> str: ...

    async def append_all(self, events: Sequence[DeskEvent]) -> list[str]:
        """Append in this order, in one round trip where the log is remote."""
        ...

    async def append_linked(self, events: Sequence[DeskEvent]) -> list[Appended]:
        """As `append_all`, each id with the entry just before it (one atomic step)."""
        ...

    async def after(self, tenant_id: int, last_id: str, limit: int) -> Page: ...

    async def wait(
        self, tenant_id: int, last_id: str, timeout_s: float,
        own: Own = ...,
    ) -> Page: ...  # fmt: skip

    async def newest(self, tenant_id: int) -> str: ...


class MemoryEventLog:
    def __init__(self, retention: int) -> None:
        self.retention = retention
        self._entries: dict[int, deque[Entry]] = {}
        self._changed: dict[int, asyncio.Condition] = {}
        self._last = (0, 0)

    async def append(self, event: DeskEvent) -> str:
        return (await self._append(event)).event_id

    async def append_all(self, events: Sequence[DeskEvent]) -> list[str]:
        return [(await self._append(event)).event_id for event in events]

    async def append_linked(self, events: Sequence[DeskEvent]) -> list[Appended]:
        return [await self._append(event) for event in events]

    async def _append(self, event: DeskEvent) -> Appended:
        ms = int(time.time() * 1000)
        seq = self._last[1] + 1 if ms <= self._last[0] else 0
        self._last = (max(ms, self._last[0]), seq)
        event_id = f"{self._last[0]}-{seq}"
        entries = self._entries.setdefault(event.tenant_id, deque(maxlen=self.retention))
        previous = entries[-1][0] if entries else "0-0"
        entries.append((event_id, event))
        condition = self._condition(event.tenant_id)
        async with condition:
            condition.notify_all()
        return Appended(event_id, previous)

    async def after(self, tenant_id: int, last_id: str, limit: int) -> Page:
        start = id_key(last_id) if last_id else (-1, -1)
        entries = self._entries.get(tenant_id, ())
        return _page([(i, e) for i, e in entries if id_key(i) > start][:limit], last_id)

    async def wait(
        self, tenant_id: int, last_id: str, timeout_s: float,
        own: Own = nothing_own,
    ) -> Page:  # fmt: skip
        found = await self.after(tenant_id, last_id, 1000)
        if found.read:
            return found
        condition = self._condition(tenant_id)
        async with condition:
            try:
                # Not `wait_for`: on Python 3.11 it drops a cancellation that comes as the
                # wait ends, and the hub's reader, cancelled as a desk left, read on for ever.
                async with asyncio.timeout(timeout_s):
                    await condition.wait()
            except TimeoutError:
                return _page([], last_id)
        return await self.after(tenant_id, last_id, 1000)

    async def newest(self, tenant_id: int) -> str:
        entries = self._entries.get(tenant_id)
        return entries[-1][0] if entries else "0-0"

    def _condition(self, tenant_id: int) -> asyncio.Condition:
        return self._changed.setdefault(tenant_id, asyncio.Condition())


# Each event appended after the entry last in its tenant's stream, all in one atomic step (a
# reader blocked in XREAD wakes once for all of it): [previous, id, previous, id, ...].
_APPEND_LINKED = """
local appended, last = {}, {}
for i, key in ipairs(KEYS) do
  local previous = last[key]
  if not previous then
    local newest = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    previous = newest[1] and newest[1][1] or '0-0'
  end
  local id = redis.call('XADD', key, 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i + 1])
  last[key] = id
  appended[#appended + 1] = previous
  appended[#appended + 1] = id
end
return appended
"""


class RedisEventLog:
    def __init__(self, redis: Redis, retention: int, prefix: str = "ll:desk:") -> None:
        """`redis` must have no read timeout: `wait` blocks in XREAD."""
        self._redis, self.retention, self._prefix = redis, retention, prefix
        self._append_linked = redis.register_script(_APPEND_LINKED)

    def _key(self, tenant_id: int) -> str:
        return f"{self._prefix}{tenant_id}"

    async def append(self, event: DeskEvent) -> str:
        return (await self.append_linked([event]))[0].event_id

    async def append_all(self, events: Sequence[DeskEvent]) -> list[str]:
        return [appended.event_id for appended in await self.append_linked(events)]

    async def append_linked(self, events: Sequence[DeskEvent]) -> list[Appended]:
        keys = [self._key(event.tenant_id) for event in events]
        args = [self.retention, *(to_bus(event) for event in events)]
        answer = [_id(i) for i in await self._append_linked(keys=keys, args=args)]
        return [Appended(answer[i + 1], answer[i]) for i in range(0, len(answer), 2)]

    async def after(self, tenant_id: int, last_id: str, limit: int) -> Page:
        start = f"({last_id}" if last_id else "-"
        rows = await self._redis.xrange(self._key(tenant_id), min=start, count=limit)
        return _decoded(tenant_id, rows, last_id, {})

    async def wait(
        self, tenant_id: int, last_id: str, timeout_s: float,
        own: Own = nothing_own,
    ) -> Page:  # fmt: skip
        answer = await self._redis.xread(
            {self._key(tenant_id): last_id or "$"}, count=1000, block=int(timeout_s * 1000)
        )
        rows = [row for _, rows in answer or () for row in rows]
        return _decoded(tenant_id, rows, last_id, await own() if rows else {})

    async def newest(self, tenant_id: int) -> str:
        rows = await self._redis.xrevrange(self._key(tenant_id), count=1)
        return _id(rows[0][0]) if rows else "0-0"


def _decoded(
    tenant_id: int, rows: Sequence[tuple[bytes | str, dict]], last_id: str,
    own: Mapping[str, DeskEvent],
) -> Page:  # fmt: skip
    entries: list[Entry] = []
    for raw_id, fields in rows:
        event_id = _id(raw_id)
        mine = own.get(event_id)
        if mine is not None:  # appended by this process: it has the event already
            entries.append((event_id, mine))
            continue
        try:
            entries.append((event_id, from_bus(fields.get(b"e") or fields.get("e") or b"")))
        except DeskCodecError as exc:
            log.warning("desk event %s of tenant %s dropped: %s", event_id, tenant_id, exc)
    return Page(entries, _id(rows[-1][0]) if rows else last_id, len(rows))


def _id(raw_id: bytes | str) -> str:
    return raw_id.decode() if isinstance(raw_id, bytes) else raw_id
