"""The per-process fan-out: one reader per tenant follows the event log and hands each
event to the WebSockets of this process whose viewer may see it.

The events this process publishes (the call flow's, in the process that owns it) reach its
own desks without the round trip back through the log: once appended, an event is handed out
at once when the entry just before it in the log has been handed out already (the log says
which entry that is, read in the same atomic step as the append); otherwise (another
process's entry came between, not read yet) it waits for the reader to reach it, so the
desks see the log's order. The reader takes this process's own entries from memory instead
of decoding them (Redis often answers the reader's XREAD before the append it woke on: the
reader lets the appends under way finish first), and hands out nothing it has handed out
already: each event once, in the log's order, with the log's id. Other processes get
everything through the log.

Every append wakes the reader, this process's own too: in the process that owns the call
flow that was one read of the log for each batch of its own events, all handed out already
(about a twentieth of its CPU a call). So after a read that brought only its own events the
reader pauses (`own_pause_s`) before reading on, unless an own event is held for it (another
process's entry came first, unread): then it reads at once. Own events are never delayed
by the pause; another process's event reaches the desks here up to `own_pause_s` later
while this process is publishing, and as soon as it is appended otherwise.

When the log cannot be written (Redis away), the event still reaches this process's own desks,
with an id past the last one handed out (so a desk does not drop it as already seen); it is
not in the log, so a reconnecting desk does not get it again, and no other process gets it.

A socket that cannot keep up (its buffer full) is closed rather than allowed to grow without
bound; the browser reconnects with its last event id and the log replays what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pbx.events.log import Appended, Entry, EventLog
from pbx.events.model import DeskEvent, Viewer, id_key

log = logging.getLogger(__name__)
BUFFER = 1000
SETTLE_S = 1.0  # the longest the reader waits for this process's appends under way
OWN_PAUSE_S = 0.05  # the reader's pause after reading only this process's own events
OWN_HELD = 10_000  # own events kept for the reader, a tenant; past it the reader decodes them
Watcher = Callable[[int, DeskEvent], None]  # a tenant and an event of its log; never blocks


@dataclass(eq=False)
class Subscriber:
    viewer: Viewer
    queue: asyncio.Queue[Entry] = field(default_factory=lambda: asyncio.Queue(BUFFER))
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, entry: Entry) -> None:
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.overflowed.set()


class Hub:
    def __init__(
        self, events: EventLog, *, wait_s: float = 5.0, own_pause_s: float = OWN_PAUSE_S
    ) -> None:
        self.events = events
        self.wait_s, self.own_pause_s = wait_s, own_pause_s
        self._subscribers: dict[int, set[Subscriber]] = {}
        # Indexes by tenant: an event reaches its few agents without a scan of every desk
        # this process holds (supervisors, fewer, are checked one by one).
        self._by_user: dict[int, dict[int, set[Subscriber]]] = {}
        self._supervisors: dict[int, set[Subscriber]] = {}
        self._readers: dict[int, asyncio.Task[None]] = {}
        self._ready: dict[int, asyncio.Event] = {}
        self._watchers: list[Watcher] = []
        # By tenant followed: every entry of its log up to this id has been handed out here
        # (or was older than the reader's start); the own events appended and not yet read
        # back, by id; the last id given to an event the log could not take.
        self._handed: dict[int, str] = {}
        self._own: dict[int, dict[str, DeskEvent]] = {}
        self._appending: dict[int, set[asyncio.Future[None]]] = {}  # appends under way
        self._unlogged: dict[int, str] = {}
        self._held: dict[int, asyncio.Event] = {}  # set: an own event waits for the reader

    def watch(self, watcher: Watcher) -> None:
        """Show `watcher` every event of each tenant this process follows (one whose desks
        are connected here), from whichever process published it."""
        self._watchers.append(watcher)

    def supervisors_watching(self, tenant: int) -> bool:
        """Whether a supervisor's or admin's socket of `tenant` is connected here."""
        return bool(self._supervisors.get(tenant))

    async def publish(self, event: DeskEvent) -> str:
        return (await self.publish_all([event]))[0]

    async def publish_all(self, events: Sequence[DeskEvent]) -> list[str]:
        """Append `events` in this order and hand them to this process's desks (see above).
        Raises when the log cannot be written, once this process's desks have them."""
        if not events:
            return []
        done = asyncio.get_running_loop().create_future()
        tenants = {event.tenant_id for event in events}
        for tenant in tenants:
            self._appending.setdefault(tenant, set()).add(done)
        try:
            appended = await self.events.append_linked(events)
        except Exception:
            for event in events:
                self._hand_unlogged(event)
            raise
        else:
            for event, at in zip(events, appended, strict=True):
                self._hand_own(event, at)
        finally:
            for tenant in tenants:
                under_way = self._appending.get(tenant)
                if under_way is not None:
                    under_way.discard(done)
                    if not under_way:
                        del self._appending[tenant]
            done.set_result(None)
        return [at.event_id for at in appended]

    async def attach(self, subscriber: Subscriber) -> None:
        """Deliver live events to `subscriber` from now on (returns once the tenant's reader
        is following the log, so nothing appended after this returns is missed)."""
        viewer = subscriber.viewer
        tenant = viewer.tenant_id
        self._subscribers.setdefault(tenant, set()).add(subscriber)
        self._by_user.setdefault(tenant, {}).setdefault(viewer.user_id, set()).add(subscriber)
        if viewer.supervisor:
            self._supervisors.setdefault(tenant, set()).add(subscriber)
        if tenant not in self._readers:
            self._ready[tenant] = asyncio.Event()
            self._held[tenant] = asyncio.Event()
            self._readers[tenant] = asyncio.create_task(self._follow(tenant), name=f"hub-{tenant}")
        await self._ready[tenant].wait()

    async def detach(self, subscriber: Subscriber) -> None:
        viewer = subscriber.viewer
        tenant = viewer.tenant_id
        subscribers = self._subscribers.get(tenant, set())
        subscribers.discard(subscriber)
        users = self._by_user.get(tenant, {})
        mine = users.get(viewer.user_id)
        if mine is not None:
            mine.discard(subscriber)
            if not mine:
                del users[viewer.user_id]
        self._supervisors.get(tenant, set()).discard(subscriber)
        if not subscribers:
            self._subscribers.pop(tenant, None)
            self._by_user.pop(tenant, None)
            self._supervisors.pop(tenant, None)
            reader = self._readers.pop(tenant, None)
            self._ready.pop(tenant, None)
            self._held.pop(tenant, None)
            self._handed.pop(tenant, None)
            self._own.pop(tenant, None)
            self._unlogged.pop(tenant, None)
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def replay(self, viewer: Viewer, last_id: str) -> list[Entry]:
        """What `viewer` may see after `last_id`, oldest first (as far as retention goes)."""
        found: list[Entry] = []
        while True:
            page = await self.events.after(viewer.tenant_id, last_id, 500)
            found += [(i, e) for i, e in page.entries if viewer.may_see(e)]
            if page.read < 500:
                return found
            last_id = page.last_id

    def connections(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    async def close(self) -> None:
        for tenant in list(self._readers):
            for subscriber in list(self._subscribers.get(tenant, ())):
                await self.detach(subscriber)

    async def _follow(self, tenant: int) -> None:
        last = self._handed[tenant] = await self.events.newest(tenant)
        own = self._own[tenant] = {}
        held = self._held[tenant]
        self._ready[tenant].set()

        async def settled_own() -> dict[str, DeskEvent]:
            """This process's own events, once the appends under way now have finished: an
            entry just read may be theirs, its append's answer not in yet. An append still
            unanswered after `SETTLE_S` does not hold the desks' events: what is not in
            memory by then is decoded."""
            under_way = list(self._appending.get(tenant, ()))
            if under_way:
                await asyncio.wait(under_way, timeout=SETTLE_S)
            return own

        while True:
            # From past what was handed out: the own events handed out at once are not read.
            start = max(last, self._handed[tenant], key=id_key)
            try:
                page = await self.events.wait(tenant, start, self.wait_s, settled_own)
            except Exception as exc:  # Redis away: keep trying; replay covers the gap
                log.warning("desk events of tenant %s unavailable: %s", tenant, exc)
                await asyncio.sleep(1)
                continue
            # Past what was read, entries the codec dropped included: a malformed one is
            # logged once and skipped, not read again for ever.
            last = page.last_id
            only_own = page.read == len(page.entries) > 0  # none dropped by the codec either
            for event_id, event in page.entries:
                only_own = own.pop(event_id, None) is not None and only_own
                if id_key(event_id) > id_key(self._handed[tenant]):
                    self._hand_out(tenant, event_id, event)
            if only_own and not held.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.own_pause_s):
                        await held.wait()
            held.clear()

    def _hand_own(self, event: DeskEvent, at: Appended) -> None:
        """An event this process appended: to its desks now if the entry before it has been
        handed out, else kept for the reader, which reaches it after that entry."""
        tenant = event.tenant_id
        handed = self._handed.get(tenant)
        if handed is None or id_key(at.event_id) <= id_key(handed):
            return  # no desk of the tenant followed here yet, or the reader got there first
        own = self._own[tenant]
        if len(own) >= OWN_HELD:  # the reader is not reading: it decodes them when it does
            own.clear()
        own[at.event_id] = event
        if id_key(at.previous) <= id_key(handed):
            self._hand_out(tenant, at.event_id, event)
        else:  # another process's entry came first: the reader reads on now, not after a pause
            self._held[tenant].set()

    def _hand_unlogged(self, event: DeskEvent) -> None:
        """An event the log did not take: to this process's desks, with an id past the last
        handed out (the log's next ids are later still: its clock has moved on by then)."""
        tenant = event.tenant_id
        handed = self._handed.get(tenant)
        if handed is None:
            return
        ms, seq = max(id_key(handed), id_key(self._unlogged.get(tenant, "0-0")))
        event_id = self._unlogged[tenant] = f"{ms}-{seq + 1}"
        self._deliver(tenant, event_id, event)

    def _hand_out(self, tenant: int, event_id: str, event: DeskEvent) -> None:
        self._handed[tenant] = event_id
        self._deliver(tenant, event_id, event)

    def _deliver(self, tenant: int, event_id: str, event: DeskEvent) -> None:
        for subscriber in self._audience(tenant, event):
            subscriber.offer((event_id, event))
        for watcher in self._watchers:
            try:
                watcher(tenant, event)
            except Exception:  # a watcher's fault must not stop the desks' events
                log.exception("desk event watcher failed on %s", event.type)

    def _audience(self, tenant: int, event: DeskEvent) -> list[Subscriber]:
        users = self._by_user.get(tenant, {})
        found = {s for agent in event.audience.agents for s in users.get(agent, ())}
        found.update(self._supervisors.get(tenant, ()))
        return [s for s in found if s.viewer.may_see(event)]
