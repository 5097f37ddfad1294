"""Two Ledgerline processes share one Asterisk through a Redis lease: one serves, and the
other takes over when it dies, with the callers still waiting."""

from __future__ import annotations

from redis.asyncio import Redis

from pbx.acd.agents import AgentState
from pbx.callflow.ownership import Ownership, RedisLease
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
    one = Ownership(first, RedisLease(redis, "test-node", ttl_s=0.6), every_s=0.2)
    two = Ownership(second, RedisLease(redis, "test-node", ttl_s=0.6), every_s=0.2)
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

        await world.until(lambda: two.owner and second.ready, "the survivor took over", within=5)
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
