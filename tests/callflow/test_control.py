"""In-call control through the simulator: hold, transfers, hang-up and click-to-call."""

from __future__ import annotations

import pytest

from pbx.acd.agents import AgentState
from pbx.callflow import control
from pbx.callflow.control import ControlError
from tests.callflow.world import World

OUTSIDE = "+97237778888"
OUTSIDE_PHONE = f"PJSIP/{OUTSIDE}@pstn-trunk"


@pytest.fixture
async def talking(world: World):
    """A caller connected to agent avi; bella is a second agent in another queue."""
    await world.add_queue("support", strategy="linear", wrapup_seconds=0)
    await world.add_queue("billing", strategy="linear")
    await world.add_agent("avi", "1001", "support")
    await world.add_agent("bella", "1002", "billing")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    world.sim.agent("PJSIP/1002", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi", "bella")
    call = await world.call()
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
    return call


def _bridge_of(world: World, channel_id: str) -> str | None:
    channel = world.sim.model.channels.get(channel_id)
    return channel.bridge_id if channel else None


def _together(world: World, phone, channel_id: str | None) -> bool:
    """The first leg dialled to `phone` shares a bridge with `channel_id`."""
    if not phone.channel_ids or channel_id is None:
        return False
    bridge = _bridge_of(world, phone.channel_ids[0])
    return bridge is not None and bridge == _bridge_of(world, channel_id)


async def test_hold_gives_the_caller_music_and_resume_brings_them_back(
    world: World, talking
) -> None:
    call, tenant = talking, world.tenant_id

    await control.hold(world.flow, call.channel_id, tenant)

    holding = world.sim.model.bridges[_bridge_of(world, call.channel_id)]
    assert holding.holding and call.heard[-1].startswith("moh:")
    with pytest.raises(ControlError, match="already on hold"):
        await control.hold(world.flow, call.channel_id, tenant)

    await control.resume(world.flow, call.channel_id, tenant)

    assert world.connected_to(call) == world.agents["avi"]
    assert len(world.sim.model.bridges) == 1


async def test_blind_transfer_to_a_queue_rings_that_queue_and_frees_the_agent(
    world: World, talking
) -> None:
    await control.transfer_to_queue(
        world.flow, talking.channel_id, world.tenant_id, f"{world.tenant_id}:billing"
    )

    await world.until(lambda: world.connected_to(talking) == world.agents["bella"], "bella has it")
    assert world.state_of("avi") is AgentState.AVAILABLE
    row = await world.record(talking)
    assert row.queue_id == world.queues["billing"]


async def test_blind_transfer_to_a_number_bridges_the_caller_with_it(world: World, talking) -> None:
    outside = world.sim.agent(OUTSIDE_PHONE, answer_after=0.1)

    await control.transfer_to(
        world.flow, talking.channel_id, world.tenant_id, OUTSIDE_PHONE, "blind"
    )

    await world.until(lambda: world.state_of("avi") is AgentState.AVAILABLE, "agent released")
    await world.until(lambda: _together(world, outside, talking.channel_id), "caller and number")

    await talking.hangup()
    await world.until(lambda: world.flow.state.calls == {}, "all cleaned up")
    assert world.sim.model.bridges == {}
    assert world.sim.model.channels.get(outside.channel_ids[0]) is None


async def test_attended_transfer_consults_then_completes(world: World, talking) -> None:
    outside = world.sim.agent(OUTSIDE_PHONE, answer_after=0.1)
    avi_leg = world.flow.state.calls[talking.channel_id].agent_channel

    await control.transfer_to(
        world.flow, talking.channel_id, world.tenant_id, OUTSIDE_PHONE, "attended"
    )
    await world.until(lambda: _together(world, outside, avi_leg), "agent consulting the target")
    assert world.sim.model.bridges[_bridge_of(world, talking.channel_id)].holding  # caller waits

    await control.complete_transfer(world.flow, talking.channel_id, world.tenant_id)

    assert _bridge_of(world, talking.channel_id) == _bridge_of(world, outside.channel_ids[0])
    await world.until(lambda: world.state_of("avi") is AgentState.AVAILABLE, "agent released")


async def test_a_cancelled_attended_transfer_brings_the_caller_back(world: World, talking) -> None:
    outside = world.sim.agent(OUTSIDE_PHONE, answer_after=0.1)
    await control.transfer_to(
        world.flow, talking.channel_id, world.tenant_id, OUTSIDE_PHONE, "attended"
    )
    await world.until(lambda: world.flow.state.calls[talking.channel_id].consult_bridge is not None
                      and len(outside.channel_ids) == 1, "consulting")  # fmt: skip

    await control.cancel_transfer(world.flow, talking.channel_id, world.tenant_id)

    await world.until(lambda: world.connected_to(talking) == world.agents["avi"], "back with avi")
    await world.until(
        lambda: world.sim.model.channels.get(outside.channel_ids[0]) is None, "target hung up"
    )


async def test_a_blind_transfer_nobody_answers_returns_the_caller_to_the_queue(
    world: World, talking
) -> None:
    world.sim.agent(OUTSIDE_PHONE, reject=True)

    await control.transfer_to(
        world.flow, talking.channel_id, world.tenant_id, OUTSIDE_PHONE, "blind"
    )

    await world.until(
        lambda: world.connected_to(talking) == world.agents["avi"], "queued, avi again"
    )


async def test_hang_up_from_the_desk_ends_every_leg(world: World, talking) -> None:
    await control.hang_up(world.flow, talking.channel_id, world.tenant_id)

    await world.until(lambda: world.flow.state.calls == {}, "settled")
    assert talking.state == "Hungup" and world.sim.model.bridges == {}
    row = await world.record(talking)
    assert row.outcome == "answered" and row.ended_at is not None


async def test_control_of_another_tenants_call_is_not_found(world: World, talking) -> None:
    with pytest.raises(ControlError) as refused:
        await control.hold(world.flow, talking.channel_id, world.tenant_id + 1)
    assert refused.value.kind == "not_found"


async def test_click_to_call_rings_the_agent_then_the_customer_from_the_business_number(
    world: World,
) -> None:
    await world.add_queue("support")
    await world.add_agent("avi", "1001", "support")
    world.sim.agent("PJSIP/1001", answer_after=0.1)
    customer = world.sim.agent(OUTSIDE_PHONE, answer_after=0.1)
    await world.start_ledgerline()
    await world.login("avi")

    call_id = await control.click_to_call(
        world.flow, world.tenant_id, world.agents["avi"], OUTSIDE, None
    )

    assert world.state_of("avi") is AgentState.ON_CALL
    await world.until(lambda: len(customer.channel_ids) == 1, "customer dialled after the agent")
    leg = world.sim.model.channels[customer.channel_ids[0]]
    assert leg.caller.number == "+97235550100"
    avi_leg = world.flow.state.calls[call_id].agent_channel
    await world.until(
        lambda: _bridge_of(world, leg.id) == _bridge_of(world, avi_leg) is not None, "bridged"
    )

    await control.hang_up(world.flow, call_id, world.tenant_id)
    await world.until(lambda: world.state_of("avi") is AgentState.AVAILABLE, "free again")
