"""The shared identification cache on the real Redis server."""

from __future__ import annotations

from datetime import date

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from billing_bridge.identification.cache import RedisCache
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.model import Identification, Match, NoMatchReason
from billing_bridge.identification.service import CallerIdentification
from pbx.db.database import Database
from tests.factories import make_customer, make_tenant

DID = "+97235550100"


async def test_a_result_is_kept_per_tenant_and_number_with_its_ttl(redis: Redis) -> None:
    cache = RedisCache(redis, ttl_seconds=120)
    result = Identification.nobody(NoMatchReason.NOT_FOUND, 1, "+97235551234")
    await cache.put(1, "+97235551234", result)
    assert await cache.get(1, "+97235551234") == result
    assert await cache.get(2, "+97235551234") is None
    assert 0 < await redis.ttl("ledgerline:ident:1:+97235551234") <= 120


async def test_forgetting_numbers_removes_only_those(redis: Redis) -> None:
    cache = RedisCache(redis, ttl_seconds=120)
    for number in ("+1", "+2", "+3"):
        await cache.put(1, number, Identification.nobody(NoMatchReason.NOT_FOUND, 1, number))
    await cache.forget(1, ["+1", "+3", "+never-cached"])
    kept = [await cache.get(1, n) for n in ("+1", "+2", "+3")]
    assert kept == [None, Identification.nobody(NoMatchReason.NOT_FOUND, 1, "+2"), None]


async def test_a_change_made_by_one_process_is_seen_by_another(
    database: Database, redis: Redis
) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", [DID])
    await make_customer(database, tenant, "C-1", "Avi", ["+972502345678"])

    def process() -> CallerIdentification:
        return CallerIdentification(CustomerDirectory(database), RedisCache(redis, 300), "IL")

    first, second = process(), process()
    assert (await first.identify("+972502345678", DID)).match is Match.UNIQUE
    await make_customer(database, tenant, "C-2", "Dana", ["+972502345678"])
    await second.forget_numbers(tenant, ["+972502345678"])
    assert (await first.identify("+972502345678", DID)).match is Match.AMBIGUOUS


async def test_a_cached_profile_with_overdue_invoices_is_the_same_integers_as_a_fresh_one(
    database: Database, redis: Redis
) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", [DID])
    await make_customer(
        database, tenant, "C-1", "Avi", ["+972502345678"],
        accounts=[{"currency": "ILS", "balance_minor": 30_000, "status": "overdue",
                   "invoices": [{"amount_minor": 10_000, "due_on": date(2026, 1, 1)},
                                {"amount_minor": 20_000, "due_on": date(2026, 2, 1)}]}],
    )  # fmt: skip
    identification = CallerIdentification(CustomerDirectory(database), RedisCache(redis, 300), "IL")
    fresh = await identification.identify("+972502345678", DID)
    cached = await identification.identify("+972502345678", DID)
    assert cached == fresh
    assert cached.customer is not None
    (account,) = cached.customer.accounts
    assert (account.overdue_minor, account.overdue_invoices) == (30_000, 2)
    assert type(account.overdue_minor) is int


async def test_a_dropped_redis_falls_back_to_the_database(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", [DID])
    await make_customer(database, tenant, "C-1", "Avi", ["+972502345678"])
    nowhere = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    identification = CallerIdentification(
        CustomerDirectory(database), RedisCache(nowhere, 300), "IL"
    )
    try:
        result = await identification.identify("+972502345678", DID)
    finally:
        await nowhere.aclose()
    assert result.match is Match.UNIQUE


async def test_forgetting_with_redis_down_is_reported_not_swallowed() -> None:
    nowhere = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        with pytest.raises(RedisError):
            await RedisCache(nowhere, 300).forget(1, ["+1"])
    finally:
        await nowhere.aclose()
