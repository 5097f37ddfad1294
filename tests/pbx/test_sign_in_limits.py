"""Sign-in limits: wrong passwords count, per user and address and (slower) per user; in
memory and in Redis, where several processes share them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from pbx.auth.ratelimit import (
    MemorySignInLimits,
    RedisSignInLimits,
    SignInLimits,
    SignInPolicy,
    retry_after,
)

POLICY = SignInPolicy(pair_failures=3, window_s=300, user_free_failures=5,
                      user_delay_s=2, user_delay_max_s=16)  # fmt: skip
DANA = "ofek:dana"
OFFICE, ELSEWHERE, THIRD = "192.0.2.10", "198.51.100.7", "203.0.113.9"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def limits(request: pytest.FixtureRequest, redis: Redis) -> AsyncIterator[SignInLimits]:
    yield MemorySignInLimits(POLICY) if request.param == "memory" else RedisSignInLimits(
        redis, POLICY
    )


async def fail(limits: SignInLimits, times: int, address: str = OFFICE) -> None:
    for _ in range(times):
        await limits.failed(DANA, address)


async def test_correct_sign_ins_count_against_nobody(limits: SignInLimits) -> None:
    for _ in range(50):
        assert await limits.wait_s(DANA, OFFICE) == 0
        await limits.succeeded(DANA, OFFICE)
    assert await limits.wait_s(DANA, OFFICE) == 0


async def test_wrong_passwords_from_one_address_make_only_that_address_wait(
    limits: SignInLimits,
) -> None:
    await fail(limits, 3)
    assert 0 < await limits.wait_s(DANA, OFFICE) <= POLICY.window_s
    assert await limits.wait_s(DANA, ELSEWHERE) == 0  # the real user, somewhere else
    assert await limits.wait_s("ofek:avi", OFFICE) == 0  # a colleague behind the same proxy


async def test_a_correct_sign_in_clears_the_addresses_count(limits: SignInLimits) -> None:
    await fail(limits, 2)
    await limits.succeeded(DANA, OFFICE)
    await fail(limits, 2)  # two more would have been four, over the three allowed
    assert await limits.wait_s(DANA, OFFICE) == 0


async def test_failures_from_many_addresses_delay_the_user_without_locking_them_out(
    limits: SignInLimits,
) -> None:
    for address in (OFFICE, ELSEWHERE, THIRD, "192.0.2.40"):
        await fail(limits, 1, address)
    assert await limits.wait_s(DANA, "192.0.2.99") == 0  # four of five free failures
    await fail(limits, 1, "192.0.2.50")
    wait = await limits.wait_s(DANA, "192.0.2.99")
    assert 0 < wait <= POLICY.user_delay_s  # a delay from any address, not a lockout


async def test_processes_sharing_redis_share_the_counts(redis: Redis) -> None:
    one, two = RedisSignInLimits(redis, POLICY), RedisSignInLimits(redis, POLICY)
    await fail(one, 2)
    await fail(two, 1)
    assert await one.wait_s(DANA, OFFICE) > 0 and await two.wait_s(DANA, OFFICE) > 0
    await two.succeeded(DANA, OFFICE)
    assert await one.wait_s(DANA, OFFICE) == 0


async def test_the_per_user_delay_doubles_up_to_its_cap_and_then_lets_the_user_try() -> None:
    clock = Clock()
    limits = MemorySignInLimits(POLICY, clock)
    addresses = (f"10.0.0.{n}" for n in range(100))
    waits = []
    for _ in range(9):
        await limits.failed(DANA, next(addresses))
        waits.append(await limits.wait_s(DANA, "10.9.9.9"))
    assert waits == [0, 0, 0, 0, 2, 4, 8, 16, 16]
    clock.now += 16
    assert await limits.wait_s(DANA, "10.9.9.9") == 0  # the real user gets a try


async def test_an_addresses_count_ends_with_its_window() -> None:
    clock = Clock()
    limits = MemorySignInLimits(POLICY, clock)
    await fail(limits, 3)
    clock.now += POLICY.window_s - 1
    assert await limits.wait_s(DANA, OFFICE) == 1
    clock.now += 1
    assert await limits.wait_s(DANA, OFFICE) == 0
    await fail(limits, 1)  # the fourth in total, but the first of a new window
    assert await limits.wait_s(DANA, OFFICE) == 0


def test_retry_after_is_a_whole_number_of_seconds_and_never_zero_while_waiting() -> None:
    assert [retry_after(w) for w in (0.01, 1.0, 1.2, 59.9)] == [1, 1, 2, 60]
