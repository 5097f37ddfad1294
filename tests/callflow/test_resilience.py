"""Restarts and dropped sockets: callers are neither forgotten nor doubled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pbx.acd.agents import AgentState
from tests.callflow.world import World


async def _support(world: World, *agents: tuple[str, str]) -> None:
    # The default ring timeout (15 s), not a short one: no test here lets a ring time out,
    # and one that did would pause the agent (autopause) and leave the callers unserved. A
    # ring's deadline runs from the ACD's decision, so a loaded machine's stall before the
    # originate or the answer's handling counts against it: 2 s was seen running out.
    await world.add_queue("support", strategy="linear")
    for name, extension in agents:
        await world.add_agent(name, extension, "support")
    await world.add_route("support")


async def test_callers_waiting_through_a_ledgerline_restart_are_served_in_order(
    world: World,
) -> None:
    await _support(world, ("avi", "1001"))
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()
    first = await world.call("0502345678")
    second = await world.call("0523456789")
    await world.until(lambda: world.phase_of(first) == world.phase_of(second) == "queued",
                      "both queued")  # fmt: skip

    await world.stop_ledgerline()
    assert first.state == "Up" and "moh:ledgerline" in first.heard  # still on hold in Asterisk
    await world.start_ledgerline()
    waiting = world.flow.state.engine.queues[f"{world.tenant_id}:support"].waiting
    assert [entry.call_id for entry in waiting] == [first.channel_id, second.channel_id]
    await world.login("avi")

    await world.until(lambda: world.connected_to(first) is not None, "first caller served first")
    assert world.connected_to(second) is None
    await first.hangup()
    await world.until(lambda: world.connected_to(second) is not None, "then the second")


async def test_a_caller_who_left_while_ledgerline_was_down_is_logged_as_abandoned(
    world: World,
) -> None:
    await _support(world, ("avi", "1001"))
    await world.start_ledgerline()
    call = await world.call()
    await world.until(lambda: world.phase_of(call) == "queued", "queued")

    await world.stop_ledgerline()
    await call.hangup()
    await world.start_ledgerline()

    row = await world.record_when(call, lambda r: r.ended_at is not None, "abandon logged")
    assert row.outcome == "abandoned"
    await world.until(lambda: world.flow.state.calls == {}, "call let go")
    assert world.sim.model.bridges == {}  # the holding bridge went too


async def test_the_events_socket_dropping_mid_call_is_resynchronised(world: World) -> None:
    await _support(world, ("avi", "1001"))
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    flow = await world.start_ledgerline()
    await world.login("avi")
    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")

    await world.sim.drop_event_sockets()
    await call.hangup()  # while nobody listens

    await world.until(lambda: flow.state.calls == {}, "call settled after the reconnect")
    row = await world.record(call)
    assert row.outcome == "answered" and row.ended_at is not None
    await world.until(lambda: world.state_of("avi") is AgentState.AVAILABLE, "agent freed")
    agent_legs = world.sim.agents["PJSIP/1001"].channel_ids
    assert all(world.sim.model.channels.get(leg) is None for leg in agent_legs)


async def test_an_asterisk_restart_ends_every_call_and_frees_every_agent(world: World) -> None:
    await _support(world, ("avi", "1001"), ("bella", "1002"))
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    world.sim.agent("PJSIP/1002", answer_after=None)
    flow = await world.start_ledgerline()
    await world.login("avi")
    talking = await world.call("0502345678")
    await world.until(lambda: world.connected_to(talking) is not None, "connected")
    await world.login("bella")
    ringing = await world.call("0523456789")
    await world.until(lambda: world.state_of("bella") is AgentState.RINGING, "bella ringing")

    await world.sim.restart(down_seconds=0.3)

    await world.until(lambda: flow.ready and flow.state.calls == {}, "calls settled", within=10)
    assert world.state_of("bella") is AgentState.AVAILABLE  # not paused: not her fault
    assert (await world.record(talking)).outcome == "answered"
    assert (await world.record(ringing)).outcome == "abandoned"


async def test_a_restart_over_an_agent_held_by_a_call_that_never_existed_frees_them(
    world: World, caplog
) -> None:
    """What a click-to-call that failed half-way left behind before it undid itself: an
    agent `on_call` on a call nobody has. Starting again repairs it, and says so."""
    await _support(world, ("avi", "1001"))
    await world.start_ledgerline()
    await world.login("avi")
    world.flow.state.engine.start_outbound("ghost", world.agents["avi"], world.flow.clock())
    await world.stop_ledgerline()  # saves the state as it is

    await world.start_ledgerline()

    assert world.state_of("avi") is AgentState.AVAILABLE
    assert "ghost" not in world.flow.state.engine.active
    assert any("repaired" in r.message and "ghost" in r.message for r in caplog.records)
    await world.login("avi")  # what `ledgerline demo` does on start: no InvalidTransition
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "avi takes calls again")


def _write_cut_short(world: World, column: str) -> asyncio.Event:
    """The running flow's call-log write that sets `column` never finishes (a stop then
    cancels it); the event is set once it is under way."""
    call_log, reached = world.flow.call_log, asyncio.Event()
    update = call_log.update

    async def stalled(tenant_id: int, record_id: int, **fields: Any) -> None:
        if column in fields:
            reached.set()
            await asyncio.Event().wait()
        await update(tenant_id, record_id, **fields)

    call_log.update = stalled  # type: ignore[method-assign]
    return reached


async def test_a_restart_completes_the_row_of_a_caller_queued_when_its_write_was_cut_short(
    world: World,
) -> None:
    await _support(world, ("avi", "1001"))
    await world.start_ledgerline()
    reached = _write_cut_short(world, "queued_at")
    call = await world.call()
    await reached.wait()
    assert world.phase_of(call) == "queued"
    await world.stop_ledgerline()  # no drain: the admission's write is cancelled
    assert (await world.record(call)).queued_at is None

    await world.start_ledgerline()

    restored = world.flow.state.calls[call.channel_id]
    assert restored.phase.value == "queued" and restored.queued_at is not None
    row = await world.record(call)  # completed as the flow starts
    assert row.queued_at is not None and row.queue_id == world.queues["support"]
    assert row.ended_at is None and row.outcome is None


async def test_a_restart_completes_the_row_of_a_call_answered_when_its_write_was_cut_short(
    world: World,
) -> None:
    await _support(world, ("avi", "1001"))
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi")
    reached = _write_cut_short(world, "answered_at")
    call = await world.call()
    await reached.wait()
    await world.stop_ledgerline()
    before = await world.record(call)
    assert before.answered_at is None and before.agent_id is None and before.queued_at

    await world.start_ledgerline()

    restored = world.flow.state.calls[call.channel_id]
    assert restored.phase.value == "connected" and restored.answered_at is not None
    row = await world.record(call)
    assert row.answered_at is not None and row.agent_id == int(world.agents["avi"])
    assert row.wait_seconds is not None and row.queued_at == before.queued_at
    assert row.queue_id == world.queues["support"] and row.offered_at is not None
    assert world.connected_to(call) == world.agents["avi"]  # and the call carries on


async def test_an_answer_waiting_behind_a_resync_that_took_it_does_not_hang_the_agent_up(
    world: World,
) -> None:
    """The agent answers as the events socket reconnects: the answer's StasisStart waits
    for the resync, which finds the leg up and connects it. The answer's own turn then
    finds the leg already the call's agent's: nothing to do, and above all no hangup."""
    await _support(world, ("avi", "1001"))
    world.sim.agent("PJSIP/1001", answer_after=None)  # answered below, by the test
    flow = await world.start_ledgerline()
    await world.login("avi")
    call = await world.call()
    phone = world.sim.agents["PJSIP/1001"]
    await world.until(lambda: bool(phone.channel_ids), "avi's phone ringing")
    leg, avi = phone.channel_ids[0], world.agents["avi"]

    async with flow.lanes.exclusive():  # as a resync under way: the answer waits for it
        world.sim.model.far_end_answered(world.sim.model.channels[leg])
        await world.until(lambda: (call.channel_id, avi) in flow.answering, "answer arrived")
        await world.sim.drop_event_sockets()  # the reconnect's resync finds the leg up
        restored = flow.state.calls[call.channel_id]
        await world.until(lambda: leg not in restored.ringing, "the resync took the answer")
    await world.until(lambda: flow.ready, "in sync again")
    assert await flow.lanes.settle(20.0)  # the waiting answer has had its turn

    channel = world.sim.model.channels.get(leg)
    assert channel is not None and not channel.gone  # avi's leg was not hung up
    assert world.connected_to(call) == avi
    assert world.state_of("avi") is AgentState.ON_CALL
    assert flow.answering == set()


@pytest.mark.parametrize("cut", ["after the bridge was made", "before the parties were added"])
async def test_a_restart_bridges_a_call_answered_whose_bridging_was_cut_short(
    world: World, cut: str
) -> None:
    """The answer is counted (the call connected) before caller and agent are bridged: a
    stop in between restored a connected call nobody hears. The restart puts them together."""
    await _support(world, ("avi", "1001"))
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    flow = await world.start_ledgerline()
    await world.login("avi")
    client, reached = flow.client, asyncio.Event()
    create_bridge, add_channel = client.create_bridge, client.add_channel

    async def stall() -> None:
        reached.set()
        await asyncio.Event().wait()  # until the stop cancels it

    async def creating(*args: Any, bridge_id: str | None = None, **options: Any) -> Any:
        made = await create_bridge(*args, bridge_id=bridge_id, **options)
        if cut == "after the bridge was made" and (bridge_id or "").startswith("ll-talk-"):
            await stall()
        return made

    async def adding(bridge: str, *args: Any, **options: Any) -> None:
        if cut == "before the parties were added" and bridge.startswith("ll-talk-"):
            await stall()
        await add_channel(bridge, *args, **options)

    client.create_bridge = creating  # type: ignore[method-assign]
    client.add_channel = adding  # type: ignore[method-assign]
    call = await world.call()
    await reached.wait()
    assert world.phase_of(call) == "connected" and world.connected_to(call) is None
    await world.stop_ledgerline()  # no drain: the connect is cut short

    await world.start_ledgerline()

    avi = world.agents["avi"]
    await world.until(lambda: world.connected_to(call) == avi, "caller and avi bridged")
    assert world.talk_bridge_size(call) == 2
    assert world.state_of("avi") is AgentState.ON_CALL
    restored = world.flow.state.calls[call.channel_id]
    assert restored.holding_bridge is None and not restored.music
    assert list(world.sim.model.bridges) == [restored.bridge]  # one talk bridge, no other
