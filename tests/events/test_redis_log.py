"""The desk events' Redis Stream as the service connects to it: a wait outlasts a quiet spell,
a burst appended together reaches a waiting reader whole and in order, and an entry that
does not decode is dropped with one line, live and in replay."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from pbx.bootstrap import _bus_redis
from pbx.events import log as log_module
from pbx.events.hub import Hub, Subscriber
from pbx.events.log import RedisEventLog
from pbx.events.model import Audience, DeskEvent, Viewer, id_key
from pbx.events.wire import from_bus
from pbx.settings import load_settings
from tests.conftest import REDIS_TEST_URL
from tests.events.samples import sample

pytestmark = pytest.mark.redis


@pytest.fixture
async def bus(redis: Redis) -> AsyncIterator[Redis]:
    """The desk events' Redis client, configured as the service configures it."""
    client = _bus_redis(load_settings(environ={"LEDGERLINE_REDIS_URL": REDIS_TEST_URL}))
    yield client
    await client.aclose()


async def blocked_in_xread(client: Redis, within: float = 5.0) -> None:
    """Until a connection to this test's database is blocked in XREAD (Redis says so)."""
    db = str(client.connection_pool.connection_kwargs.get("db", 0))
    async with asyncio.timeout(within):
        while not any(  # noqa: ASYNC110 - polling Redis's own view of its clients
            c["db"] == db and c["cmd"] == "xread" and "b" in c["flags"]
            for c in await client.client_list()
        ):
            await asyncio.sleep(0.01)


async def test_a_wait_for_desk_events_outlasts_a_quiet_spell_longer_than_any_read_timeout(
    bus: Redis,
) -> None:
    # redis-py 8 reads with a 5 s timeout unless told otherwise: a quiet 5 s broke the
    # blocking XREAD off with an error, and the desks' events waited out a retry.
    events = RedisEventLog(bus, retention=100, prefix="ll:test-quiet:")
    started = time.monotonic()
    assert (await events.wait(1, "0-0", timeout_s=5.5)).entries == []
    assert time.monotonic() - started >= 5.4


async def test_events_appended_together_keep_their_order_and_reach_a_waiting_reader_at_once(
    bus: Redis,
) -> None:
    try:
        events = RedisEventLog(bus, retention=100, prefix="ll:test-burst:")
        start = await events.newest(1)
        waiting = asyncio.create_task(events.wait(1, start, timeout_s=10.0))
        await blocked_in_xread(bus)  # the burst must wake a reader already waiting
        burst = [
            sample("agent.state", 1, Audience(agents=(7,))),
            sample("call.offered", 1, Audience(agents=(7,))),
            sample("call.offered", 2, Audience(agents=(9,))),  # elsewhere
        ]

        ids = await events.append_all(burst)

        assert len(ids) == 3 and id_key(ids[0]) < id_key(ids[1])
        assert [(i, e.type) for i, e in (await waiting).entries] == [
            (ids[0], "agent.state"),
            (ids[1], "call.offered"),
        ]
        assert [e for _, e in (await events.after(2, "", 10)).entries] == [burst[2]]
    finally:
        await bus.delete("ll:test-burst:1", "ll:test-burst:2")


# Written by hand (or by a version that sends what this one does not know): a call id that is
# a number, where the codec wants text.
MALFORMED = json.dumps({"type": "call.offered", "tenant_id": 1, "audience": {"agents": [7]},
                        "data": {"call_id": 5}})  # fmt: skip


async def test_a_malformed_entry_on_the_bus_is_dropped_with_one_line_and_desks_get_the_next(
    bus: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    hub = Hub(RedisEventLog(bus, retention=100, prefix="ll:test-bad:"), wait_s=0.5)
    desk = Subscriber(Viewer(7, 1, False))
    await hub.attach(desk)
    try:
        await bus.xadd("ll:test-bad:1", {"e": MALFORMED})
        good = sample("agent.state", 1, Audience(agents=(7,)))
        good_id = await hub.publish(good)
        entry = await asyncio.wait_for(desk.queue.get(), 5)
        reading = not hub._readers[1].done()
    finally:
        await hub.close()

    assert entry == (good_id, good) and desk.queue.empty() and reading
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and "call_id" in dropped[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_replay_passes_over_malformed_entries_even_a_whole_page_of_them(
    bus: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    events = RedisEventLog(bus, retention=10_000, prefix="ll:test-replay:")
    hub = Hub(events)
    before = sample("call.offered", 1, Audience(agents=(7,)))
    after = sample("call.ended", 1, Audience(agents=(7,)))
    first = await hub.publish(before)
    pipe = bus.pipeline(transaction=False)
    for _ in range(600):  # more than a page of the replay's reads
        pipe.xadd("ll:test-replay:1", {"e": MALFORMED})
    await pipe.execute()
    last = await hub.publish(after)

    replayed = await hub.replay(Viewer(7, 1, False), "0-0")

    assert replayed == [(first, before), (last, after)]
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 600


async def test_an_append_names_the_entry_just_before_each_event_in_its_businesss_stream(
    bus: Redis,
) -> None:
    try:
        events = RedisEventLog(bus, retention=100, prefix="ll:test-linked:")
        theirs = await RedisEventLog(bus, retention=100, prefix="ll:test-linked:").append(
            sample("agent.state", 1, Audience(agents=(7,)))
        )  # another process's entry, last in the stream

        mine = await events.append_linked([
            sample("call.offered", 1, Audience(agents=(7,))),
            sample("call.offered", 2, Audience(agents=(9,))),  # a stream of its own, empty
            sample("call.ended", 1, Audience(agents=(7,))),
        ])  # fmt: skip

        assert [m.previous for m in mine] == [theirs, "0-0", mine[0].event_id]
        assert id_key(theirs) < id_key(mine[0].event_id) < id_key(mine[2].event_id)
    finally:
        await bus.delete("ll:test-linked:1", "ll:test-linked:2")


async def test_desks_on_both_processes_get_the_owners_and_the_others_events_once_in_order(
    bus: Redis,
) -> None:
    # The owner's desks get its events in process; the other process's through the stream.
    owner = Hub(RedisEventLog(bus, retention=1000, prefix="ll:test-two:"), wait_s=0.5)
    other = Hub(RedisEventLog(bus, retention=1000, prefix="ll:test-two:"), wait_s=0.5)
    here, there = Subscriber(Viewer(7, 1, False)), Subscriber(Viewer(7, 1, False))
    await owner.attach(here)
    await other.attach(there)
    audience = Audience(agents=(7,))
    published: list[str] = []
    try:
        for _ in range(5):
            published += await owner.publish_all([sample("call.offered", 1, audience),
                                                  sample("agent.state", 1, audience)])  # fmt: skip
            published.append(await other.publish(sample("agent.state", 1, audience)))
            published.append(await owner.publish(sample("call.ended", 1, audience)))
        received: dict[str, list[str]] = {"here": [], "there": []}
        for name, desk in (("here", here), ("there", there)):
            while len(received[name]) < len(published):
                received[name].append((await asyncio.wait_for(desk.queue.get(), 5))[0])
        # One more of the other's, read by the owner's reader after all of the above.
        final = await other.publish(sample("recording.stored", 1, audience))
        received["here"].append((await asyncio.wait_for(here.queue.get(), 5))[0])
    finally:
        await owner.close()
        await other.close()
        await bus.delete("ll:test-two:1")

    assert received["there"] == published
    assert received["here"] == [*published, final] and here.queue.empty()


async def test_the_owners_reader_takes_its_own_entries_from_memory_not_decoding_them_again(
    bus: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redis answers the reader's XREAD before the append that woke it: the reader waits for
    # the append's answer rather than decode what its process has in memory already.
    decoded: list[str] = []

    def counted(raw: str | bytes) -> DeskEvent:
        event = from_bus(raw)
        decoded.append(event.type)
        return event

    monkeypatch.setattr(log_module, "from_bus", counted)
    owner = Hub(RedisEventLog(bus, retention=1000, prefix="ll:test-own:"), wait_s=5)
    other = Hub(RedisEventLog(bus, retention=1000, prefix="ll:test-own:"), wait_s=5)
    desk = Subscriber(Viewer(7, 1, False))
    await owner.attach(desk)
    audience = Audience(agents=(7,))
    try:
        for _ in range(10):
            await blocked_in_xread(bus)
            await owner.publish_all([sample("call.offered", 1, audience),
                                     sample("call.ended", 1, audience)])  # fmt: skip
        await other.publish(sample("recording.stored", 1, audience))
        kinds = [(await asyncio.wait_for(desk.queue.get(), 5))[1].type for _ in range(21)]
    finally:
        await owner.close()
        await bus.delete("ll:test-own:1")

    assert kinds == ["call.offered", "call.ended"] * 10 + ["recording.stored"]
    assert decoded == ["recording.stored"]  # the other process's entry only


class AnswerLost(RedisEventLog):
    """Appends, and the answer never comes back (a connection that hangs after the write)."""

    async def append_linked(self, events):  # type: ignore[no-untyped-def]
        await super().append_linked(events)
        await asyncio.Event().wait()


async def test_an_append_whose_answer_never_comes_holds_no_desk_event_back_for_long(
    bus: Redis,
) -> None:
    owner = Hub(AnswerLost(bus, retention=100, prefix="ll:test-lost:"), wait_s=5)
    other = Hub(RedisEventLog(bus, retention=100, prefix="ll:test-lost:"), wait_s=5)
    desk = Subscriber(Viewer(7, 1, False))
    await owner.attach(desk)
    audience = Audience(agents=(7,))
    hanging = asyncio.create_task(owner.publish(sample("call.offered", 1, audience)))
    try:
        async with asyncio.timeout(5):  # the owner's entry is in the stream, its answer not
            while await bus.xlen("ll:test-lost:1") < 1:  # noqa: ASYNC110 - Redis's view
                await asyncio.sleep(0.01)
        await other.publish(sample("call.ended", 1, audience))
        # Read from the stream after the reader has waited out the append: in order, once.
        kinds = [(await asyncio.wait_for(desk.queue.get(), 5))[1].type for _ in range(2)]
    finally:
        hanging.cancel()
        await owner.close()
        await bus.delete("ll:test-lost:1")

    assert kinds == ["call.offered", "call.ended"] and desk.queue.empty()
