"""The events a process publishes reach its own desks without the round trip back through
the log, once each and in the log's order; the other processes get them through the log."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from pbx.events.hub import Hub, Subscriber
from pbx.events.log import Appended, MemoryEventLog, Page
from pbx.events.model import Audience, DeskEvent, Viewer, id_key
from tests.events.samples import sample

TENANT, AGENT = 1, 7
MARKER = "recording.stored"


def taken(desk: Subscriber) -> list[tuple[str, DeskEvent]]:
    found = []
    while not desk.queue.empty():
        found.append(desk.queue.get_nowait())
    return found


async def read_back_past(events: MemoryEventLog, desk: Subscriber) -> list[str]:
    """Until the reader of `desk`'s process has read its log past everything appended so
    far: another process's marker, appended now, reaches `desk` only once the reader has read
    it. Returns the kinds `desk` got meanwhile, the marker's last."""
    await Hub(events).publish(sample(MARKER, TENANT, Audience(agents=(AGENT,))))
    kinds: list[str] = []
    async with asyncio.timeout(5):
        while MARKER not in kinds:
            kinds.append((await desk.queue.get())[1].type)
    return kinds


class UnreadLog(MemoryEventLog):
    """A log whose reader never gets an answer: whatever reaches a desk came in process."""

    async def wait(self, tenant_id: int, last_id: str, timeout_s: float, own=None) -> Page:  # type: ignore[no-untyped-def, override]
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class DownLog(MemoryEventLog):
    """A log that cannot be written (Redis away)."""

    async def append_linked(self, events: Sequence[DeskEvent]) -> list[Appended]:
        raise ConnectionError("Redis is away")


async def test_an_own_event_reaches_the_desks_here_without_being_read_back_from_the_log() -> None:
    hub = Hub(UnreadLog(100))
    desk = Subscriber(Viewer(AGENT, TENANT, False))
    await hub.attach(desk)
    try:
        offered = sample("call.offered", TENANT, Audience(agents=(AGENT,)))
        event_id = await hub.publish(offered)
        assert taken(desk) == [(event_id, offered)]
    finally:
        await hub.close()


async def test_a_desk_of_the_publishing_process_gets_each_event_once_not_again_from_the_log(
) -> None:  # fmt: skip
    events = MemoryEventLog(100)
    hub = Hub(events, wait_s=0.05)
    desk = Subscriber(Viewer(AGENT, TENANT, False))
    await hub.attach(desk)
    try:
        burst = [sample(kind, TENANT, Audience(agents=(AGENT,)))
                 for kind in ("call.offered", "agent.state", "call.connected")]  # fmt: skip
        ids = await hub.publish_all(burst[:2]) + [await hub.publish(burst[2])]
        await asyncio.sleep(0)  # the reader may read them back now; it must not hand them out
        desk_sees = taken(desk)
        afterwards = await read_back_past(events, desk)
    finally:
        await hub.close()

    assert desk_sees == list(zip(ids, burst, strict=True)) and afterwards == [MARKER]


async def test_a_desk_on_another_process_gets_the_owners_events_through_the_log_in_order(
) -> None:  # fmt: skip
    events = MemoryEventLog(100)
    owner, other = Hub(events, wait_s=0.05), Hub(events, wait_s=0.05)
    desk_there = Subscriber(Viewer(AGENT, TENANT, False))
    await other.attach(desk_there)
    try:
        burst = [sample(kind, TENANT, Audience(agents=(AGENT,)))
                 for kind in ("call.offered", "call.connected", "call.ended")]  # fmt: skip
        ids = [*await owner.publish_all(burst[:2]), await owner.publish(burst[2])]
        got = [await asyncio.wait_for(desk_there.queue.get(), 5) for _ in burst]
    finally:
        await other.close()

    assert got == list(zip(ids, burst, strict=True)) and desk_there.queue.empty()


@pytest.mark.parametrize("turns", range(3))
async def test_own_and_other_processes_events_reach_every_desk_once_in_the_logs_order(
    turns: int,
) -> None:
    # The other process appends just before the owner (its entry not read yet here, or read
    # already, as the readers get their turns): the owner's desk must not get the owner's
    # event first, or a reconnect from its id would skip the other one.
    events = MemoryEventLog(1000)
    owner, other = Hub(events, wait_s=0.05), Hub(events, wait_s=0.05)
    here = Subscriber(Viewer(AGENT, TENANT, True))
    there = Subscriber(Viewer(AGENT, TENANT, True))
    await owner.attach(here)
    await other.attach(there)
    published: list[str] = []
    try:
        for n in range(10):
            audience = Audience(agents=(AGENT,))
            published.append(await other.publish(sample("agent.state", TENANT, audience)))
            for _ in range(turns * (n % 2)):
                await asyncio.sleep(0)
            pair = [
                sample("call.offered", TENANT, audience),
                sample("call.ended", TENANT, audience),
            ]
            published += await owner.publish_all(pair)
        final = await other.publish(sample(MARKER, TENANT, Audience(agents=(AGENT,))))
        published.append(final)
        received: dict[str, list[str]] = {"here": [], "there": []}
        for name, desk in (("here", here), ("there", there)):
            async with asyncio.timeout(5):
                while not received[name] or received[name][-1] != final:
                    received[name].append((await desk.queue.get())[0])
    finally:
        await owner.close()
        await other.close()

    assert published == sorted(published, key=id_key)
    assert received["here"] == received["there"] == published


async def test_with_the_log_away_the_desks_here_still_get_the_event_after_what_they_have(
) -> None:  # fmt: skip
    hub = Hub(DownLog(100), wait_s=0.05)
    desk = Subscriber(Viewer(AGENT, TENANT, False))
    await hub.attach(desk)
    try:
        first, second = (sample(kind, TENANT, Audience(agents=(AGENT,)))
                         for kind in ("call.offered", "call.ended"))  # fmt: skip
        for event in (first, second):
            with pytest.raises(ConnectionError):  # the publisher logs it: not published
                await hub.publish(event)
        got = taken(desk)
    finally:
        await hub.close()

    assert [event for _, event in got] == [first, second]
    assert id_key("0-0") < id_key(got[0][0]) < id_key(got[1][0])


class ReadsCounted(MemoryEventLog):
    """Counts the reader's reads that brought entries back."""

    def __init__(self, retention: int) -> None:
        super().__init__(retention)
        self.pages: list[list[str]] = []
        self.read_some = asyncio.Event()

    async def wait(self, tenant_id: int, last_id: str, timeout_s: float, own=None) -> Page:  # type: ignore[no-untyped-def, override]
        page = await super().wait(tenant_id, last_id, timeout_s, own)
        if page.read:
            self.pages.append([event_id for event_id, _ in page.entries])
            self.read_some.set()
        return page


async def test_the_reader_does_not_read_the_log_again_for_each_batch_of_own_events() -> None:
    # The owner of the call flow appends a batch every few milliseconds: reading each back
    # (all handed out already) cost it a twentieth of its CPU a call. A pause longer than the
    # test: only an own event held behind another process's entry may end it.
    events = ReadsCounted(100)
    owner, other = Hub(events, own_pause_s=60), Hub(events)
    desk = Subscriber(Viewer(AGENT, TENANT, False))
    await owner.attach(desk)
    audience = Audience(agents=(AGENT,))
    try:
        first = await owner.publish(sample("call.offered", TENANT, audience))
        async with asyncio.timeout(5):  # read back once: own, so the reader pauses
            await events.read_some.wait()
        own = [await owner.publish(sample("agent.state", TENANT, audience)) for _ in range(10)]
        theirs = await other.publish(sample(MARKER, TENANT, audience))
        last = await owner.publish(sample("call.ended", TENANT, audience))  # held behind theirs
        got: list[str] = []
        async with asyncio.timeout(5):
            while last not in got:
                got.append((await desk.queue.get())[0])
    finally:
        await owner.close()

    assert got == [first, *own, theirs, last]  # the log's order, each once
    assert events.pages == [[first], [theirs, last]]  # not one read for each own event
