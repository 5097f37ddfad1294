"""In-call control through the simulator: hold, transfers, hang-up and click-to-call."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from pbx.acd.agents import AgentState
from pbx.ari import AriConflict, AriNotFound
from pbx.callflow import control, outbound
from pbx.callflow.control import ControlError
from pbx.callflow.live_calls import local_desk
from pbx.db.models import Call, Tenant
from pbx.desk.commands import Actor, CancelTransfer
from pbx.desk.errors import Conflict
from tests.callflow.world import World
from tests.factories import make_customer, make_tenant

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
    async with world.database.system_session() as session, session.begin():
        await session.execute(update(Tenant).values(language="lt"))
    await world.start_ledgerline()
    await world.login("avi")

    call_id = await outbound.click_to_call(
        world.flow, world.tenant_id, world.agents["avi"], OUTSIDE, None
    )

    assert world.state_of("avi") is AgentState.ON_CALL
    live = world.flow.state.calls[call_id]  # what its keypad prompts are named and said in
    assert (live.tenant_slug, live.language) == ("ofek", "lt")
    await world.until(lambda: len(customer.channel_ids) == 1, "customer dialled after the agent")
    leg = world.sim.model.channels[customer.channel_ids[0]]
    assert leg.caller.number == "+97235550100"
    avi_leg = world.flow.state.calls[call_id].agent_channel
    await world.until(
        lambda: _bridge_of(world, leg.id) == _bridge_of(world, avi_leg) is not None, "bridged"
    )

    await control.hang_up(world.flow, call_id, world.tenant_id)
    await world.until(lambda: world.state_of("avi") is AgentState.AVAILABLE, "free again")


# --- ids checked first; nothing left behind by an action that fails part-way ---------------


async def _avi_only(world: World) -> None:
    await world.add_queue("support")
    await world.add_agent("avi", "1001", "support")
    await world.start_ledgerline()
    await world.login("avi")


async def _outbound_rows(world: World) -> list[Call]:
    async with world.database.tenant_session(world.tenant_id) as session:
        return list(await session.scalars(select(Call).where(Call.direction == "outbound")))


async def test_click_to_call_for_a_customer_of_another_business_or_none_changes_nothing(
    world: World,
) -> None:
    await _avi_only(world)
    other = await make_tenant(world.database, "saule", "LT", "EUR", ["+37052000000"])
    theirs = await make_customer(world.database, other, "S-1", "Ona", ["+37061234567"])
    customer = world.sim.agent(OUTSIDE_PHONE, answer_after=0.1)

    for customer_id in (theirs, 424242, 2**63):
        with pytest.raises(ControlError) as refused:
            await outbound.click_to_call(
                world.flow, world.tenant_id, world.agents["avi"], OUTSIDE, customer_id
            )
        assert refused.value.kind == "invalid" and "customer_id" in str(refused.value)

    assert world.state_of("avi") is AgentState.AVAILABLE
    assert world.flow.state.calls == {} and world.flow.state.engine.active == {}
    assert await _outbound_rows(world) == [] and customer.channel_ids == []


async def test_click_to_call_whose_call_log_write_fails_leaves_the_agent_free_and_no_call(
    world: World,
) -> None:
    await _avi_only(world)
    world.sim.agent("PJSIP/1001", answer_after=0.05)

    async def database_down(*args: object, **kwargs: object) -> int:
        raise OperationalError("INSERT INTO calls", {}, OSError("connection lost"))

    world.flow.call_log.open = database_down  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        await outbound.click_to_call(
            world.flow, world.tenant_id, world.agents["avi"], OUTSIDE, None
        )

    assert world.state_of("avi") is AgentState.AVAILABLE
    assert world.flow.state.calls == {} and world.flow.state.engine.active == {}
    await world.login("avi")  # the state an agent can leave, not a wedge


async def test_click_to_call_whose_agent_phone_cannot_be_rung_frees_the_agent_counting_nothing(
    world: World,
) -> None:
    await _avi_only(world)  # PJSIP/1001 is not registered: Asterisk refuses to dial it
    await world.flow.pause_agent(world.agents["avi"], "admin")

    with pytest.raises(ControlError) as refused:
        await outbound.click_to_call(
            world.flow, world.tenant_id, world.agents["avi"], OUTSIDE, None
        )

    assert refused.value.kind == "conflict"
    avi = world.flow.state.engine.agents[world.agents["avi"]]
    assert avi.state is AgentState.AVAILABLE and avi.calls_taken == 0
    assert world.flow.state.calls == {} and world.flow.state.engine.active == {}
    [row] = await _outbound_rows(world)
    assert row.outcome == "failed" and row.ended_at is not None


# --- a transfer to an agent: busy in the ACD exactly like an offered call -------------------


@pytest.fixture
async def avi_talking_bella_free(world: World):
    """avi and bella both in support (no wrap-up); a caller connected to avi."""
    await world.add_queue("support", strategy="linear", wrapup_seconds=0)
    await world.add_agent("avi", "1001", "support")
    await world.add_agent("bella", "1002", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    world.sim.agent("PJSIP/1002", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi")
    call = await world.call()
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
    await world.login("bella")
    return call


async def test_a_blind_transfer_to_an_agent_makes_them_busy_until_the_call_ends(
    world: World, avi_talking_bella_free
) -> None:
    call, bella = avi_talking_bella_free, world.agents["bella"]

    await control.transfer_to(world.flow, call.channel_id, world.tenant_id, "PJSIP/1002",
                              "blind", bella)  # fmt: skip

    assert world.state_of("bella") is AgentState.RINGING  # from the moment she is dialled
    await world.until(lambda: world.connected_to(call) == bella, "bella has the caller")
    assert world.state_of("bella") is AgentState.ON_CALL
    assert world.flow.state.engine.active[call.channel_id].agent_id == bella
    assert world.state_of("avi") is AgentState.AVAILABLE

    await control.hold(world.flow, call.channel_id, world.tenant_id)  # her call now
    await call.hangup()
    await world.until(lambda: world.flow.state.calls == {}, "the call over")
    assert world.state_of("bella") is AgentState.AVAILABLE
    assert world.flow.state.engine.transfers == {} and world.flow.state.engine.active == {}


async def test_an_agent_consulted_for_a_transfer_is_not_offered_a_waiting_caller(
    world: World, avi_talking_bella_free
) -> None:
    first, bella = avi_talking_bella_free, world.agents["bella"]
    await control.transfer_to(world.flow, first.channel_id, world.tenant_id, "PJSIP/1002",
                              "attended", bella)  # fmt: skip
    await world.until(lambda: world.state_of("bella") is AgentState.ON_CALL, "consulting")

    second = await world.call("0523456789")
    await world.until(lambda: world.phase_of(second) == "queued", "second caller queued")

    assert world.flow.state.calls[second.channel_id].ringing == {}
    await control.complete_transfer(world.flow, first.channel_id, world.tenant_id)
    assert world.connected_to(first) == bella
    await world.until(lambda: world.connected_to(second) == world.agents["avi"], "avi, freed")
    assert world.state_of("bella") is AgentState.ON_CALL


async def test_a_transfer_to_an_agent_who_is_not_available_is_refused_and_changes_nothing(
    world: World, avi_talking_bella_free
) -> None:
    call, bella = avi_talking_bella_free, world.agents["bella"]
    await world.flow.pause_agent(bella, "lunch")

    for target in (bella, world.agents["avi"]):  # paused; on this very call
        with pytest.raises(ControlError) as refused:
            await control.transfer_to(world.flow, call.channel_id, world.tenant_id,
                                      "PJSIP/1002", "blind", target)  # fmt: skip
        assert refused.value.kind == "conflict"

    assert world.state_of("bella") is AgentState.PAUSED
    live = world.flow.state.calls[call.channel_id]
    assert not live.on_hold and live.transfer is None and live.third_agent is None
    assert world.connected_to(call) == world.agents["avi"]


async def test_a_cancelled_transfer_to_an_agent_frees_them_and_avi_keeps_the_caller(
    world: World, avi_talking_bella_free
) -> None:
    call, bella = avi_talking_bella_free, world.agents["bella"]
    await control.transfer_to(world.flow, call.channel_id, world.tenant_id, "PJSIP/1002",
                              "attended", bella)  # fmt: skip
    await world.until(lambda: world.state_of("bella") is AgentState.ON_CALL, "consulting")

    await control.cancel_transfer(world.flow, call.channel_id, world.tenant_id)

    assert world.state_of("bella") is AgentState.AVAILABLE
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "back with avi")


async def test_a_transfer_the_agent_does_not_answer_frees_them_and_requeues_the_caller(
    world: World, avi_talking_bella_free
) -> None:
    call, bella = avi_talking_bella_free, world.agents["bella"]
    world.sim.agent("PJSIP/1002", reject=True)

    await control.transfer_to(world.flow, call.channel_id, world.tenant_id, "PJSIP/1002",
                              "blind", bella)  # fmt: skip

    await world.until(lambda: world.flow.state.calls[call.channel_id].third_agent is None,
                      "the transfer leg gone")  # fmt: skip
    assert world.flow.state.engine.transfers == {}
    assert world.state_of("bella") in (AgentState.AVAILABLE, AgentState.RINGING)
    await world.until(lambda: world.connected_to(call) is not None, "the caller served again")


async def test_pausing_an_agent_rung_for_a_transfer_stops_their_phone(
    world: World, avi_talking_bella_free
) -> None:
    call, bella = avi_talking_bella_free, world.agents["bella"]
    phone = world.sim.agent("PJSIP/1002", answer_after=30)
    await control.transfer_to(world.flow, call.channel_id, world.tenant_id, "PJSIP/1002",
                              "attended", bella)  # fmt: skip

    await world.flow.pause_agent(bella, "lunch")

    assert world.state_of("bella") is AgentState.PAUSED
    await world.until(lambda: world.sim.model.channels.get(phone.channel_ids[0]) is None,
                      "her phone stopped ringing")  # fmt: skip
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "back with avi")


# --- Asterisk refusing a step -----------------------------------------------------------------


async def test_a_hold_asterisk_refuses_half_way_leaves_the_caller_with_the_agent(
    world: World, talking
) -> None:
    call, client = talking, world.flow.client
    real_moh = client.bridge_start_moh

    async def moh_refused(*args: object, **kwargs: object) -> None:
        raise AriConflict("music on hold class unavailable", status=409)

    client.bridge_start_moh = moh_refused  # type: ignore[method-assign]
    with pytest.raises(ControlError) as refused:
        await control.hold(world.flow, call.channel_id, world.tenant_id)

    assert refused.value.kind == "conflict"
    live = world.flow.state.calls[call.channel_id]
    assert not live.on_hold and live.holding_bridge is None
    assert world.connected_to(call) == world.agents["avi"]
    assert len(world.sim.model.bridges) == 1  # the holding bridge went
    client.bridge_start_moh = real_moh  # type: ignore[method-assign]
    await control.hold(world.flow, call.channel_id, world.tenant_id)  # and a retry works
    assert world.flow.state.calls[call.channel_id].on_hold


async def test_a_desk_action_asterisk_refuses_is_a_conflict_not_a_crash(
    world: World, talking
) -> None:
    outside = world.sim.agent(OUTSIDE_PHONE, answer_after=0.1)
    await control.transfer_to(
        world.flow, talking.channel_id, world.tenant_id, OUTSIDE_PHONE, "attended"
    )
    await world.until(lambda: world.flow.state.calls[talking.channel_id].consult_bridge
                      is not None and len(outside.channel_ids) == 1, "consulting")  # fmt: skip

    async def gone(*args: object, **kwargs: object) -> None:
        raise AriNotFound("Channel not found", status=404)

    world.flow.client.add_channel = gone  # type: ignore[method-assign]
    actor = Actor(int(world.agents["avi"]), world.tenant_id, supervisor=False)
    with pytest.raises(Conflict) as refused:
        await local_desk(world.flow).run(CancelTransfer(talking.channel_id), actor)

    assert refused.value.code == "conflict"
