"""The call flow keeps every agent's states over time: a call answered, held from the desk,
resumed and hung up is written as the agent's spans (the hold against its call), and the
next owner of the node closes what was left open and carries on what it restored."""

from __future__ import annotations

from sqlalchemy import select

from pbx.callflow import control
from pbx.db.models import AgentStateSpan
from tests.callflow.world import World


async def _spans(world: World, agent: str) -> list[AgentStateSpan]:
    async with world.database.tenant_session(world.tenant_id) as session:
        return list(await session.scalars(
            select(AgentStateSpan).where(AgentStateSpan.agent_id == int(world.agents[agent]))
            .order_by(AgentStateSpan.id)
        ))  # fmt: skip


async def test_a_held_call_is_kept_as_the_agents_spans_and_a_new_owner_closes_the_rest(
    world: World,
) -> None:
    await world.add_queue("support", strategy="linear", wrapup_seconds=0)
    await world.add_agent("avi", "1001", "support")
    await world.add_agent("bella", "1002", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi")
    call = await world.call()
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
    await control.hold(world.flow, call.channel_id, world.tenant_id)
    await control.resume(world.flow, call.channel_id, world.tenant_id)
    await call.hangup()
    record = await world.record_when(call, lambda row: row.ended_at is not None, "call ended")

    async def written() -> bool:
        spans = await _spans(world, "avi")
        return [s.state for s in spans] == ["available", "ringing", "on_call", "on_hold",
                                            "available"]  # fmt: skip

    await world.until_async(written, "avi's call written as spans")
    available, ringing, on_call, hold, now_available = await _spans(world, "avi")
    assert hold.call_id == record.id and hold.ended_at is not None
    assert on_call.started_at <= hold.started_at <= hold.ended_at <= on_call.ended_at
    assert available.ended_at == ringing.started_at and ringing.ended_at == on_call.started_at
    assert now_available.ended_at is None

    # bella logged in while nobody saved it: the next owner restores avi available (the
    # same open span carries on) and does not hold bella logged in (hers is closed).
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        session.add(AgentStateSpan(agent_id=int(world.agents["bella"]), state="available",
                                   started_at=now_available.started_at))  # fmt: skip
    await world.stop_ledgerline()
    await world.start_ledgerline()

    async def bella_closed() -> bool:
        return all(s.ended_at is not None for s in await _spans(world, "bella"))

    await world.until_async(bella_closed, "bella's open span closed by the new owner")
    assert [(s.id, s.ended_at) for s in await _spans(world, "avi")][-1] == (
        now_available.id, None,
    )  # fmt: skip
