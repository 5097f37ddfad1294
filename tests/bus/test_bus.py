"""The bus on real Redis (two processes' worth of connections) and in memory."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from pbx.bus import MemoryBus, Message, RedisBus
from pbx.bus.port import RESYNC
from tests.conftest import REDIS_TEST_URL
from tests.waiting import until

# Pub/sub channels are server-wide: a topic of this run's own, so a test process using
# another database of the same server (a parallel worker) cannot add to what is heard here.
TOPIC = f"config-{uuid.uuid4().hex}"


def collector() -> tuple[list[Message], object]:
    seen: list[Message] = []

    async def handler(message: Message) -> None:
        seen.append(message)

    return seen, handler


async def test_a_message_published_by_one_process_reaches_the_others(redis: Redis) -> None:
    sender_redis, receiver_redis = Redis.from_url(REDIS_TEST_URL), Redis.from_url(REDIS_TEST_URL)
    sender, receiver = RedisBus(sender_redis), RedisBus(receiver_redis)
    seen, handler = collector()
    receiver.subscribe(TOPIC, handler)
    await receiver.start()
    await asyncio.wait_for(receiver.subscribed.wait(), 5)
    try:
        await sender.publish(TOPIC, {"tenant_id": 7, "what": "queues"})
        await sender.publish("other", {"ignored": True})

        await until(lambda: len(seen) == 2, "delivery")
        assert seen == [RESYNC, {"tenant_id": 7, "what": "queues"}]
    finally:
        await receiver.stop()
        await sender_redis.aclose()
        await receiver_redis.aclose()


async def test_after_redis_drops_the_listener_comes_back_and_resyncs(redis: Redis) -> None:
    name = f"bus-listener-{uuid.uuid4().hex}"
    listener_redis = Redis.from_url(REDIS_TEST_URL, client_name=name)
    bus = RedisBus(listener_redis, retry_initial=0.05)
    seen, handler = collector()
    bus.subscribe(TOPIC, handler)
    await bus.start()
    await until(lambda: seen == [RESYNC], "first subscription")
    try:
        for client in await redis.client_list():  # this test's listener, no one else's
            if client["name"] == name:
                await redis.client_kill_filter(_id=client["id"])

        await until(lambda: seen.count(RESYNC) == 2, "resubscribed with a resync")
        await RedisBus(redis).publish(TOPIC, {"after": "reconnect"})
        await until(lambda: {"after": "reconnect"} in seen, "live again")
    finally:
        await bus.stop()
        await listener_redis.aclose()


async def test_garbage_on_the_channel_is_skipped(redis: Redis) -> None:
    listener_redis = Redis.from_url(REDIS_TEST_URL)
    bus = RedisBus(listener_redis)
    seen, handler = collector()
    bus.subscribe(TOPIC, handler)
    await bus.start()
    await asyncio.wait_for(bus.subscribed.wait(), 5)
    try:
        await redis.publish(bus.channel(TOPIC), b"\xff not json")
        await redis.publish(bus.channel(TOPIC), b"[1, 2]")
        await redis.publish(bus.channel(TOPIC), b'{"ok": 1}')

        await until(lambda: {"ok": 1} in seen, "the good message")
        assert seen == [RESYNC, {"ok": 1}]
    finally:
        await bus.stop()
        await listener_redis.aclose()


async def test_a_deployment_in_another_database_of_the_server_is_not_heard(redis: Redis) -> None:
    prefix, _, db = REDIS_TEST_URL.rpartition("/")
    other_redis = Redis.from_url(f"{prefix}/{(int(db) + 1) % 16}")  # publishes, stores nothing
    receiver_redis = Redis.from_url(REDIS_TEST_URL)
    receiver = RedisBus(receiver_redis)
    seen, handler = collector()
    receiver.subscribe(TOPIC, handler)
    await receiver.start()
    await asyncio.wait_for(receiver.subscribed.wait(), 5)
    try:
        await RedisBus(other_redis).publish(TOPIC, {"from": "the other deployment"})
        await RedisBus(redis).publish(TOPIC, {"from": "ours"})

        await until(lambda: {"from": "ours"} in seen, "our own message")
        assert seen == [RESYNC, {"from": "ours"}]  # Redis delivers in publishing order
    finally:
        await receiver.stop()
        await other_redis.aclose()
        await receiver_redis.aclose()


async def test_the_memory_bus_delivers_in_process_and_survives_a_failing_handler() -> None:
    bus = MemoryBus()
    seen, handler = collector()

    async def broken(message: Message) -> None:
        raise RuntimeError("boom")

    bus.subscribe("config", broken)
    bus.subscribe("config", handler)
    await bus.start()
    await bus.publish("config", {"n": 1})

    assert seen == [RESYNC, {"n": 1}]
