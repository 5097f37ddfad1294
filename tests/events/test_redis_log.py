"""The desk events' Redis Stream as the service connects to it: a wait outlasts a quiet spell."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from pbx.bootstrap import _bus_redis
from pbx.events.log import RedisEventLog
from pbx.settings import load_settings
from tests.conftest import REDIS_TEST_URL

pytestmark = pytest.mark.redis


async def test_a_wait_for_desk_events_outlasts_a_quiet_spell_longer_than_any_read_timeout(
    redis: Redis,
) -> None:
    # redis-py 8 reads with a 5 s timeout unless told otherwise: a quiet 5 s broke the
    # blocking XREAD off with an error, and the desks' events waited out a retry.
    settings = load_settings(environ={"LEDGERLINE_REDIS_URL": REDIS_TEST_URL})
    bus = _bus_redis(settings)
    try:
        events = RedisEventLog(bus, retention=100, prefix="ll:test-quiet:")
        started = time.monotonic()
        assert await events.wait(1, "0-0", timeout_s=5.5) == []
        assert time.monotonic() - started >= 5.4
    finally:
        await bus.aclose()
