"""The in-process tier in front of the Redis cache, kept correct by invalidations over pub/sub
(the real Redis server; the clock is injected, so nothing here waits on time)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from billing_bridge.identification.cache import Entries, RedisCache
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.model import Candidate, Identification, Match, NoMatchReason
from billing_bridge.identification.near_cache import NearCache
from billing_bridge.identification.service import CallerIdentification
from pbx.db.database import Database
from tests.conftest import REDIS_TEST_URL
from tests.factories import make_customer, make_tenant
from tests.waiting import until

NUMBER = "+972502345678"
AVI = Identification(Match.AMBIGUOUS, NUMBER, 1, candidates=(Candidate(7, "C-7", "Avi"),))
NONE = Identification.from_json({"match": "none"})  # as '{"match": "none"}' in Redis reads
KEY = f"ledgerline:ident:1:{NUMBER}"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


RUN = uuid.uuid4().hex  # names this run's connections among everyone's on the server


@pytest.fixture
async def clients(redis: Redis) -> AsyncIterator[Callable[..., Redis]]:
    """Redis clients for a process's cache and listener, named so a test can find them."""
    made: list[Redis] = []

    def make(role: str = "cache") -> Redis:
        made.append(Redis.from_url(REDIS_TEST_URL, client_name=f"near-{RUN}-{role}"))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
async def caches(clients: Callable[..., Redis]) -> AsyncIterator[Callable[..., NearCache]]:
    """A process's near cache, subscribed before it is handed over."""
    made: list[NearCache] = []

    def make(**options: object) -> NearCache:
        defaults: dict = {"ttl_seconds": 300, "clock": Clock(), "retry_initial": 0.01}
        cache = NearCache(RedisCache(clients(), 300), clients("listener"), **(defaults | options))
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.close()


async def subscribed(cache: NearCache) -> NearCache:
    await cache.get(0, "+0")  # the first lookup starts the listener
    await asyncio.wait_for(cache.subscribed.wait(), 5)
    return cache


async def test_a_second_lookup_is_served_in_process_without_redis(
    redis: Redis, caches: Callable[..., NearCache]
) -> None:
    cache = await subscribed(caches())
    await cache.put(1, NUMBER, AVI)
    assert await cache.get(1, NUMBER) == AVI  # read from Redis, kept here
    await redis.delete(KEY)  # behind its back: only a copy in process can answer now
    assert await cache.get(1, NUMBER) == AVI


async def test_a_result_read_from_the_database_after_a_miss_is_kept_in_process(
    redis: Redis, caches: Callable[..., NearCache]
) -> None:
    cache = await subscribed(caches())
    assert await cache.get(1, NUMBER) is None  # as the service does: miss, read, put
    await cache.put(1, NUMBER, AVI)
    await redis.delete(KEY)
    assert await cache.get(1, NUMBER) == AVI


async def test_a_result_read_before_an_invalidation_is_not_kept_in_process(
    redis: Redis, caches: Callable[..., NearCache]
) -> None:
    cache = await subscribed(caches())
    assert await cache.get(1, NUMBER) is None
    await cache.forget(1, [NUMBER])  # while this lookup was reading the database
    await cache.put(1, NUMBER, AVI)
    await redis.delete(KEY)
    assert await cache.get(1, NUMBER) is None


async def test_an_invalidation_published_by_another_process_drops_the_entry(
    redis: Redis, caches: Callable[..., NearCache], clients: Callable[..., Redis]
) -> None:
    cache = await subscribed(caches())
    await cache.put(1, NUMBER, AVI)
    await cache.get(1, NUMBER)
    other_process = RedisCache(clients(), 300)
    await other_process.forget(1, [NUMBER])
    await until(lambda: _forgotten(cache), "the other process's invalidation dropped it")
    assert len(cache) == 0


async def _forgotten(cache: NearCache) -> bool:
    return await cache.get(1, NUMBER) is None


async def test_an_invalidation_of_another_number_or_business_keeps_the_entry(
    redis: Redis, caches: Callable[..., NearCache], clients: Callable[..., Redis]
) -> None:
    cache = await subscribed(caches())
    last = "+972501111111"
    for number in (NUMBER, last):
        await cache.put(1, number, AVI)
        await cache.get(1, number)
    other_process = RedisCache(clients(), 300)
    await other_process.forget(2, [NUMBER])
    await other_process.forget(1, ["+972509999999"])
    await other_process.forget(1, [last])  # once this one is heard, so were those before it

    async def last_forgotten() -> bool:
        return await cache.get(1, last) is None

    await until(last_forgotten, "the invalidations were heard")
    await redis.delete(KEY)
    assert await cache.get(1, NUMBER) == AVI


async def test_forgetting_drops_this_processes_copy_at_once(
    caches: Callable[..., NearCache],
) -> None:
    cache = await subscribed(caches())
    await cache.put(1, NUMBER, AVI)
    await cache.get(1, NUMBER)
    await cache.forget(1, [NUMBER])
    assert await cache.get(1, NUMBER) is None


async def test_a_dropped_subscription_clears_the_local_tier_and_reads_redis_until_back(
    redis: Redis, caches: Callable[..., NearCache]
) -> None:
    cache = await subscribed(caches(retry_initial=60.0))  # stays down for the test
    await cache.put(1, NUMBER, AVI)
    await cache.get(1, NUMBER)
    await _kill_listener(redis)
    await asyncio.wait_for(cache.lost.wait(), 5)
    assert len(cache) == 0 and not cache.subscribed.is_set()
    await redis.set(KEY, '{"match": "none"}', ex=300)  # changed while it could not hear
    assert await cache.get(1, NUMBER) == NONE
    assert len(cache) == 0  # read, not kept


async def test_after_a_dropped_subscription_the_local_tier_serves_again_once_resubscribed(
    redis: Redis, caches: Callable[..., NearCache]
) -> None:
    cache = await subscribed(caches())
    await _kill_listener(redis)
    await asyncio.wait_for(cache.lost.wait(), 5)
    await asyncio.wait_for(cache.subscribed.wait(), 5)
    await cache.put(1, NUMBER, AVI)
    await cache.get(1, NUMBER)
    await redis.delete(KEY)
    assert await cache.get(1, NUMBER) == AVI


async def _kill_listener(redis: Redis) -> None:
    """Cuts the one listening connection of this test (a process's cache's subscription)."""
    name = f"near-{RUN}-listener"
    (listener,) = [c for c in await redis.client_list() if c["name"] == name]
    await redis.client_kill_filter(_id=listener["id"])


async def test_a_lookup_never_starts_serving_from_process_before_it_is_subscribed(
    redis: Redis, clients: Callable[..., Redis]
) -> None:
    nowhere = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    cache = NearCache(RedisCache(clients(), 300), nowhere, 300, retry_initial=60.0)
    try:
        await cache.put(1, NUMBER, AVI)
        assert await cache.get(1, NUMBER) == AVI
        await asyncio.wait_for(cache.lost.wait(), 5)
        await redis.delete(KEY)
        assert await cache.get(1, NUMBER) is None
    finally:
        await cache.close()
        await nowhere.aclose()


async def test_an_unreadable_invalidation_clears_the_local_tier(
    redis: Redis, caches: Callable[..., NearCache]
) -> None:
    cache = await subscribed(caches())
    await cache.put(1, NUMBER, AVI)
    await cache.get(1, NUMBER)
    await redis.publish(RedisCache(redis, 300).channel, "not json")
    await until(lambda: _forgotten_locally(cache), "the unreadable message cleared it")


async def _forgotten_locally(cache: NearCache) -> bool:
    return len(cache) == 0


async def test_a_local_copy_expires_with_its_ttl(
    redis: Redis, caches: Callable[..., NearCache]
) -> None:
    clock = Clock()
    cache = await subscribed(caches(ttl_seconds=30, clock=clock))
    await cache.put(1, NUMBER, AVI)
    await cache.get(1, NUMBER)
    await redis.delete(KEY)
    clock.now += 29
    assert await cache.get(1, NUMBER) == AVI
    clock.now += 1
    assert await cache.get(1, NUMBER) is None


async def test_a_local_copy_expires_no_later_than_the_redis_entry_it_was_copied_from(
    redis: Redis, caches: Callable[..., NearCache]
) -> None:
    clock = Clock()
    cache = await subscribed(caches(ttl_seconds=300, clock=clock))
    await redis.set(KEY, '{"match": "none"}', ex=10)
    await cache.get(1, NUMBER)
    await redis.delete(KEY)
    clock.now += 9
    assert await cache.get(1, NUMBER) == NONE
    clock.now += 1
    assert await cache.get(1, NUMBER) is None


async def test_a_process_hears_a_change_another_process_made_through_the_service(
    database: Database, caches: Callable[..., NearCache]
) -> None:
    did = "+97235550100"
    tenant = await make_tenant(database, "ofek", "IL", "ILS", [did])
    await make_customer(database, tenant, "C-1", "Avi", [NUMBER])
    first = CallerIdentification(CustomerDirectory(database), await subscribed(caches()), "IL")
    second = CallerIdentification(CustomerDirectory(database), await subscribed(caches()), "IL")
    assert (await first.identify(NUMBER, did)).match is Match.UNIQUE
    assert (await first.identify(NUMBER, did)).match is Match.UNIQUE  # now kept in process
    await make_customer(database, tenant, "C-2", "Dana", [NUMBER])
    await second.forget_numbers(tenant, [NUMBER])

    async def ambiguous() -> bool:
        return (await first.identify(NUMBER, did)).match is Match.AMBIGUOUS

    await until(ambiguous, "the first process sees the household")


def nobody(number: str) -> Identification:
    return Identification.nobody(NoMatchReason.NOT_FOUND, 1, number)


def test_the_local_tier_keeps_at_most_its_size_dropping_the_least_recently_used() -> None:
    entries = Entries(ttl_seconds=300, max_entries=2, clock=Clock())
    entries.put((1, "+1"), nobody("+1"))
    entries.put((1, "+2"), nobody("+2"))
    assert entries.get((1, "+1")) == nobody("+1")  # +2 is now the least recently used
    entries.put((1, "+3"), nobody("+3"))
    assert len(entries) == 2
    assert [entries.get((1, n)) for n in ("+1", "+2", "+3")] == [nobody("+1"), None, nobody("+3")]


def test_an_entry_expires_when_the_clock_reaches_its_ttl() -> None:
    clock = Clock()
    entries = Entries(ttl_seconds=30, max_entries=10, clock=clock)
    entries.put((1, "+1"), nobody("+1"))
    entries.put((1, "+2"), nobody("+2"), ttl_seconds=5)  # a shorter life, as Redis had left
    clock.now += 5
    assert (entries.get((1, "+1")), entries.get((1, "+2"))) == (nobody("+1"), None)
    clock.now += 25
    assert entries.get((1, "+1")) is None and len(entries) == 0


async def test_forgetting_publishes_the_numbers_in_the_same_transaction_as_the_delete(
    redis: Redis, clients: Callable[..., Redis]
) -> None:
    shared = RedisCache(clients(), 300)
    listener = clients().pubsub()
    await listener.subscribe(shared.channel)
    await listener.get_message(timeout=5)  # the subscription's confirmation
    await shared.put(1, NUMBER, AVI)
    await shared.forget(1, [NUMBER])
    message = await listener.get_message(timeout=5)
    await listener.aclose()
    assert message is not None and message["type"] == "message"
    assert message["data"] == b'{"tenant_id": 1, "numbers": ["+972502345678"]}'
    assert await redis.exists(KEY) == 0
