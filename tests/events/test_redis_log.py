"""The desk events' Redis Stream as the service connects to it: a wait outlasts a quiet spell,
and a burst appended together reaches a waiting reader whole and in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from pbx.bootstrap import _bus_redis
from pbx.events.log import RedisEventLog
from pbx.events.model import Audience, DeskEvent, id_key
from pbx.settings import load_settings
from tests.conftest import REDIS_TEST_URL

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
    assert await events.wait(1, "0-0", timeout_s=5.5) == []
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
            DeskEvent("agent.state", 1, Audience(agents=(7,)), {"state": "ringing"}),
            DeskEvent("call.offered", 1, Audience(agents=(7,)), {"call_id": "c-1"}),
            DeskEvent("call.offered", 2, Audience(agents=(9,)), {"call_id": "c-2"}),  # elsewhere
        ]

        ids = await events.append_all(burst)

        assert len(ids) == 3 and id_key(ids[0]) < id_key(ids[1])
        assert [(i, e.type) for i, e in await waiting] == [
            (ids[0], "agent.state"),
            (ids[1], "call.offered"),
        ]
        assert [e.data for _, e in await events.after(2, "", 10)] == [{"call_id": "c-2"}]
    finally:
        await bus.delete("ll:test-burst:1", "ll:test-burst:2")
