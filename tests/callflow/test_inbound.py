"""Inbound calls through the simulator: identified, logged, queued and connected."""

from __future__ import annotations

import asyncio

import pytest

from pbx.acd.agents import AgentState
from pbx.callflow import admission
from pbx.simulator.ari.dialplan import Step
from tests.callflow.world import World
from tests.factories import make_customer


async def test_a_known_caller_is_identified_queued_and_connected_to_an_agent(world: World) -> None:
    await make_customer(
        world.database, world.tenant_id, "C-1", "דנה כהן", ["+972502345678"],
        accounts=[{"currency": "ILS", "balance_minor": 12_500, "status": "active"}],
    )  # fmt: skip
    await world.add_queue("support")
    await world.add_agent("dana", "1001", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.1)
    await world.start_ledgerline()
    await world.login("dana")

    call = await world.call("050-234-5678")

    await world.until(lambda: world.connected_to(call) == world.agents["dana"], "caller bridged")
    assert call.state == "Up"
    assert world.state_of("dana") is AgentState.ON_CALL
    # The answer is logged just after the bridging Asterisk reports.
    row = await world.record_when(call, lambda r: r.answered_at is not None, "answer logged")
    assert (row.match, row.caller_number, row.dialed_number) == (
        "unique",
        "+972502345678",
        "+97235550100",
    )
    assert row.customer_id is not None and row.agent_id == int(world.agents["dana"])
    assert row.queued_at and row.offered_at and row.answered_at and row.outcome is None

    await call.hangup()
    row = await world.record_when(call, lambda r: r.ended_at is not None, "call logged as ended")
    assert row.outcome == "answered" and row.talk_seconds is not None
    await world.until(lambda: world.state_of("dana") is AgentState.AVAILABLE, "agent free again")
    assert world.sim.model.bridges == {}
    assert all(ch.gone for ch in world.sim.model.channels.values())


async def test_a_call_whose_work_is_stalled_does_not_hold_up_the_next(world: World) -> None:
    await world.add_queue("support")
    await world.add_agent("avi", "1001", "support")
    await world.add_agent("bella", "1002", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    world.sim.agent("PJSIP/1002", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi", "bella")
    first = await world.call("0502345678")
    await world.until(lambda: world.connected_to(first) is not None, "first call connected")

    # Something of the first call's is slow (a round trip to a busy Asterisk, say): its
    # hangup waits behind it, in its own lane only.
    release, holding = asyncio.Event(), asyncio.Event()

    async def slow_work() -> None:
        async with world.flow.lanes.call(first.channel_id):
            holding.set()
            await release.wait()

    stall = asyncio.create_task(slow_work())
    await holding.wait()
    await first.hangup()
    second = await world.call("0523456789")

    await world.until(lambda: world.connected_to(second) is not None, "second call connected")
    assert world.phase_of(first) == "connected"  # its hangup is still waiting its turn
    release.set()
    await stall
    await world.until(lambda: world.phase_of(first) is None, "first call settled")
    row = await world.record_when(first, lambda r: r.ended_at is not None, "first call ended")
    assert row.outcome == "answered"


# --- admission failing on an error that is not Asterisk's ----------------------------


async def _broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError("database unavailable")


def _broken_now(*args: object, **kwargs: object) -> None:
    raise RuntimeError("desks' bus unavailable")


def _fallback_after_stasis(world: World) -> None:
    """As extensions.conf's ledgerline-after-stasis: a caller handed back to the dialplan
    waits in app_queue's fallback queue (music, here)."""
    steps = world.sim.dialplan["from-pstn"]
    world.sim.dialplan["from-pstn"] = (*steps, Step("MusicOnHold", "fallback"))


def _error_logged(caplog: pytest.LogCaptureFixture, channel_id: str, says: str) -> bool:
    return any(
        r.levelname == "ERROR" and channel_id in r.getMessage() and says in r.getMessage()
        for r in caplog.records
    )


async def test_a_caller_whose_admission_fails_goes_to_the_dialplans_fallback_logged_as_failed(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await world.add_queue("support")
    await world.add_route("support")
    _fallback_after_stasis(world)
    await world.start_ledgerline()
    monkeypatch.setattr(admission.callbacks, "cancel_for_caller", _broken)  # after the row

    call = await world.call()

    await world.until(lambda: not call.channel.in_stasis, "the caller left Stasis")
    assert not call.channel.gone and call.channel.app_name == "MusicOnHold"  # the fallback
    assert world.flow.state.calls == {}
    row = await world.record_when(call, lambda r: r.ended_at is not None, "call logged ended")
    assert row.outcome == "failed" and row.queued_at is None
    assert _error_logged(caplog, call.channel_id, "handed back to the dialplan's fallback")


async def test_a_caller_whose_row_cannot_be_written_goes_to_the_dialplans_fallback(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await world.add_queue("support")
    await world.add_route("support")
    _fallback_after_stasis(world)
    flow = await world.start_ledgerline()
    monkeypatch.setattr(flow.call_log, "open", _broken)

    call = await world.call()

    await world.until(lambda: not call.channel.in_stasis, "the caller left Stasis")
    assert not call.channel.gone and call.channel.app_name == "MusicOnHold"
    assert flow.state.calls == {} and await world._row(call) is None
    assert _error_logged(caplog, call.channel_id, "RuntimeError")


async def test_a_caller_queued_before_admission_fails_stays_queued_and_is_served(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await world.add_queue("support")
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    flow = await world.start_ledgerline()
    announced = flow.executor.announced_with_next
    monkeypatch.setattr(flow.executor, "announced_with_next", _broken_now)  # once queued

    call = await world.call()

    await world.until(lambda: _error_logged(caplog, call.channel_id, "left queued"), "error")
    assert _error_logged(caplog, call.channel_id, "RuntimeError")
    assert world.phase_of(call) == "queued" and call.channel.in_stasis
    waiting = flow.state.engine.queues[f"{world.tenant_id}:support"].waiting
    assert [entry.call_id for entry in waiting] == [call.channel_id]
    monkeypatch.setattr(flow.executor, "announced_with_next", announced)
    await world.login("avi")
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "served")
    row = await world.record_when(call, lambda r: r.answered_at is not None, "answer logged")
    assert row.queued_at is not None
