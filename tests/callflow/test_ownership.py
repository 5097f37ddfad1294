"""Two Ledgerline processes share one Asterisk through a Redis lease: one serves, and the
other takes over when it dies, with the callers still waiting; an owner that stalled past its
lease is fenced off, and a graceful stop finishes the work in flight, then hands over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from pbx.acd.agents import AgentState
from pbx.bootstrap import ownership_of
from pbx.callflow.app import CallFlow
from pbx.callflow.fencing import StaleOwner
from pbx.callflow.ownership import Ownership, RedisLease
from pbx.db.models import AcdSnapshot
from pbx.simulator.ari.scripts import Call as SimCall
from tests.callflow.world import World
from tests.conftest import release_abandoned_sqlite_locks


async def test_only_the_lease_holder_serves_and_a_survivor_takes_over(
    world: World, redis: Redis
) -> None:
    await world.add_queue("support")
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    first, second = world.new_flow(), world.new_flow()
    one = ownership_of(first, RedisLease(redis, "test-node", ttl_s=3), every_s=0.5)
    two = ownership_of(second, RedisLease(redis, "test-node", ttl_s=3), every_s=0.5)
    await one.start()
    await two.start()
    try:
        await world.until(lambda: first.ready, "the first process serves")
        assert (one.owner, two.owner) == (True, False) and not second.ready
        world.flows.append(first)
        waiting = await world.call()
        await world.until(lambda: world.phase_of(waiting) == "queued", "a caller waits")

        # The first process dies without a goodbye: its lease is not renewed or released.
        assert one._task is not None
        one._task.cancel()
        await first.stop(save=False)
        world.flows.remove(first)
        await release_abandoned_sqlite_locks(world.database)  # as its process's end would

        await world.until(lambda: two.owner and second.ready, "the survivor took over", within=10)
        world.flows.append(second)
        await second.agent_available(world.agents["avi"])
        await world.until(lambda: world.connected_to(waiting) == world.agents["avi"],
                          "the waiting caller is served by the survivor")  # fmt: skip
        assert world.state_of("avi") is AgentState.ON_CALL
    finally:
        world.flows.clear()
        await two.stop()
        await first.client.close()
        await second.client.close()


@asynccontextmanager
async def _a_caller_waits_while_the_first_of_two_serves(
    world: World, redis: Redis
) -> AsyncIterator[tuple[CallFlow, CallFlow, Ownership, Ownership, SimCall]]:
    """Two processes on one Asterisk with 3 s leases; the first serves and a caller waits in
    its queue (the test decides what the first does next). Both are stopped after."""
    await world.add_queue("support")
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    first, second = world.new_flow(), world.new_flow()
    one = ownership_of(first, RedisLease(redis, "test-node", ttl_s=3), every_s=0.5)
    two = ownership_of(second, RedisLease(redis, "test-node", ttl_s=3), every_s=0.5)
    await one.start()
    await two.start()
    try:
        await world.until(lambda: first.ready, "the first process serves")
        world.flows.append(first)
        waiting = await world.call()
        await world.until(lambda: world.phase_of(waiting) == "queued", "a caller waits")
        world.flows.remove(first)
        yield first, second, one, two, waiting
    finally:
        world.flows.clear()
        await two.stop()
        await first.stop(save=False)
        await first.client.close()
        await second.client.close()


async def test_an_owner_that_stalled_past_its_lease_cannot_overwrite_the_survivors_state(
    world: World, redis: Redis
) -> None:
    waiting_caller = _a_caller_waits_while_the_first_of_two_serves(world, redis)
    async with waiting_caller as (first, second, one, two, _):
        # The first process stalls (a long pause): no renewals, but its call flow lives on.
        assert one._task is not None
        one._task.cancel()
        await world.until(lambda: two.owner and second.ready, "the survivor took over", within=10)
        await second.flush()
        newer, stale = two.lease.token or 0, one.lease.token or 0
        assert newer > stale

        # It wakes and writes what it knows: refused in the statement itself, and it steps down.
        await first.flush()
        async with world.database.system_session() as session:
            saved = await session.get(AcdSnapshot, "test-node")
        assert saved is not None and saved.lease_token >= newer
        await world.until(lambda: not one.owner, "the stale owner stepped down")
        assert first.fence.token == stale


async def test_a_stale_owner_asks_nothing_of_asterisk_and_steps_down(
    world: World, redis: Redis
) -> None:
    waiting_caller = _a_caller_waits_while_the_first_of_two_serves(world, redis)
    async with waiting_caller as (first, second, one, two, waiting):
        assert one._task is not None
        one._task.cancel()  # stalled: its lease runs out
        await world.until(lambda: two.owner and second.ready, "the survivor took over", within=10)

        # Woken, the stale owner would hang the caller up: its lease is checked first.
        with pytest.raises(StaleOwner):
            await first.client.hangup(waiting.channel_id)
        assert waiting.channel_id in world.sim.model.channels
        await world.until(lambda: not one.owner and not first.ready, "it stepped down")
        assert two.owner and second.ready


async def test_a_graceful_stop_finishes_calls_work_in_flight_then_hands_over_at_once(
    world: World, redis: Redis
) -> None:
    await world.add_queue("support")
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    first, second = world.new_flow(), world.new_flow()
    # A lease of a minute: the survivor can only be quick if the lease is handed over.
    one = ownership_of(first, RedisLease(redis, "test-node", ttl_s=60), every_s=0.2, drain_s=10)
    two = ownership_of(second, RedisLease(redis, "test-node", ttl_s=60), every_s=0.1)
    await one.start()
    await two.start()
    stopping: asyncio.Task[None] | None = None
    try:
        await world.until(lambda: first.ready, "the first process serves")
        world.flows.append(first)
        waiting = await world.call()
        await world.until(lambda: world.phase_of(waiting) == "queued", "a caller waits")
        world.flows.remove(first)

        # A call's work in flight when SIGTERM arrives: it tells the caller something once
        # the step before it is done.
        step_done, told = asyncio.Event(), asyncio.Event()

        async def in_flight() -> None:
            await step_done.wait()
            await first.client.play(waiting.channel_id, "sound:queue-thankyou")
            told.set()

        first.lanes.post(waiting.channel_id, in_flight, "in-flight")
        stopping = asyncio.create_task(one.stop())
        await world.until(lambda: not first.connection.connected, "no more events taken")
        assert one.owner and not two.owner  # still draining: the lease is not handed over
        step_done.set()

        await stopping
        assert told.is_set() and "sound:queue-thankyou" in waiting.heard
        await world.until(lambda: two.owner and second.ready, "the survivor took over at once",
                          within=10)  # fmt: skip
        world.flows.append(second)
        world.sim.agent("PJSIP/1001", answer_after=0.05)
        await second.agent_available(world.agents["avi"])
        await world.until(lambda: world.connected_to(waiting) == world.agents["avi"],
                          "the waiting caller is served by the survivor")  # fmt: skip
    finally:
        if stopping is not None and not stopping.done():
            stopping.cancel()
        world.flows.clear()
        await two.stop()
        await one.stop()
        await first.client.close()
        await second.client.close()
