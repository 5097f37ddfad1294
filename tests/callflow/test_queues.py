"""Queue behaviour through the simulator: strategies, ring-no-answer, abandon, overflow,
callback requests."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from pbx.acd.agents import RING_NO_ANSWER, AgentState
from pbx.ari import AriError
from pbx.callflow.app import CallFlow
from pbx.db.models import Tenant
from pbx.voice import saying
from tests.callflow.world import Clock, World

CALLERS = ("0502345678", "0523456789", "0544567890")


async def _centre(world: World, strategy: str, **queue: object) -> None:
    # The default ring timeout (15 s) unless a test lets a ring run out: a 1 s one was seen
    # running out on a loaded machine (a stall before the answer was handled), pausing the
    # agent and failing tests that never meant a ring to time out.
    await world.add_queue("support", strategy=strategy, **queue)
    for name, extension in (("avi", "1001"), ("bella", "1002"), ("chen", "1003")):
        await world.add_agent(name, extension, "support")
    await world.add_route("support")


async def _answered_by(world: World, call) -> str:
    await world.until(lambda: world.connected_to(call) is not None, "call connected")
    agent_id = world.connected_to(call)
    return next(name for name, ident in world.agents.items() if ident == agent_id)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        # avi answered the first call and is free again when the second arrives
        ("linear", ["avi", "avi"]),  # always from the top of the list
        ("rrmemory", ["avi", "bella"]),  # carries on after the last one rung
        ("leastrecent", ["avi", "bella"]),  # bella has been idle longest
        ("fewestcalls", ["avi", "bella"]),  # bella has taken none today
    ],
)
async def test_each_strategy_picks_the_agent_it_promises(
    world: World, strategy: str, expected: list[str]
) -> None:
    await _centre(world, strategy)
    for extension in ("1001", "1002", "1003"):
        world.sim.agent(f"PJSIP/{extension}", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi", "bella", "chen")

    served = []
    for caller in CALLERS[:2]:
        call = await world.call(caller)
        served.append(await _answered_by(world, call))
        await call.hangup()
        await world.until(lambda: all(
            world.state_of(n) is AgentState.AVAILABLE for n in ("avi", "bella", "chen")
        ), "everyone free")  # fmt: skip

    assert served == expected


async def test_ringall_rings_everyone_and_the_first_to_answer_takes_the_call(world: World) -> None:
    await _centre(world, "ringall")
    world.sim.agent("PJSIP/1001", answer_after=0.6)
    world.sim.agent("PJSIP/1002", answer_after=0.1)
    world.sim.agent("PJSIP/1003", answer_after=0.6)
    await world.start_ledgerline()
    await world.login("avi", "bella", "chen")

    call = await world.call()

    assert await _answered_by(world, call) == "bella"
    await world.until(lambda: world.state_of("avi") is AgentState.AVAILABLE, "others released")
    legs = [
        world.sim.model.channels.get(c)
        for e in ("1001", "1003")
        for c in world.sim.agents[f"PJSIP/{e}"].channel_ids
    ]
    assert all(leg is None or leg.gone for leg in legs)


async def test_random_connects_the_caller_to_one_of_the_members(world: World) -> None:
    await _centre(world, "random")
    for extension in ("1001", "1002", "1003"):
        world.sim.agent(f"PJSIP/{extension}", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi", "bella", "chen")

    assert await _answered_by(world, await world.call()) in {"avi", "bella", "chen"}


async def test_ring_no_answer_pauses_the_agent_and_rings_the_next(world: World) -> None:
    await _centre(world, "linear", ring_timeout_seconds=1)  # avi's ring runs out
    world.sim.agent("PJSIP/1001", answer_after=None)  # away from the desk
    world.sim.agent("PJSIP/1002", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi", "bella")

    call = await world.call()

    assert await _answered_by(world, call) == "bella"
    avi = world.flow.state.engine.agents[world.agents["avi"]]
    assert (avi.state, avi.pause_reason) == (AgentState.PAUSED, RING_NO_ANSWER)


async def test_an_answer_waiting_its_turn_wins_over_the_ring_timeout(world: World) -> None:
    """The agent answered in time, but the call's lane was busy when the ring's deadline
    passed: the ticker leaves that ring alone, and the agent takes the call."""
    await world.add_queue("support", strategy="linear", ring_timeout_seconds=15)
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=None)  # answered below, by the test
    clock = Clock()
    flow = await world.start_ledgerline(clock=clock)
    await world.login("avi")
    call = await world.call()
    phone = world.sim.agents["PJSIP/1001"]
    await world.until(lambda: bool(phone.channel_ids), "avi's phone ringing")
    avi = world.agents["avi"]

    async with flow.lanes.call(call.channel_id):  # the call's lane busy with other work
        world.sim.model.far_end_answered(world.sim.model.channels[phone.channel_ids[0]])
        await world.until(lambda: (call.channel_id, avi) in flow.answering, "answer arrived")
        clock.ahead = timedelta(seconds=60)  # far past the ring's deadline
        await flow.tick()
        assert world.state_of("avi") is AgentState.RINGING  # not timed out, not paused

    await world.until(lambda: world.connected_to(call) == avi, "avi takes the call")
    assert world.state_of("avi") is AgentState.ON_CALL
    # The answer is let go once its handling has run to the end, which goes on after the
    # parties are bridged: wait for that, not for the moment the bridge is seen.
    await world.until(lambda: flow.answering == set(), "the answer handled")


async def test_a_rejected_call_goes_to_the_next_agent(world: World) -> None:
    await _centre(world, "linear")
    world.sim.agent("PJSIP/1001", reject=True)
    world.sim.agent("PJSIP/1002", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi", "bella")

    assert await _answered_by(world, await world.call()) == "bella"
    assert world.state_of("avi") is AgentState.PAUSED


async def test_a_caller_who_hangs_up_in_the_queue_is_logged_as_abandoned(world: World) -> None:
    await _centre(world, "linear")
    await world.start_ledgerline()  # nobody logged in

    call = await world.call()
    await world.until(lambda: world.phase_of(call) == "queued", "queued")
    assert "moh:ledgerline" in call.heard
    await call.hangup()

    row = await world.record_when(call, lambda r: r.ended_at is not None, "abandon logged")
    assert row.outcome == "abandoned" and row.wait_seconds is not None and row.answered_at is None
    assert world.flow.state.engine.queues[f"{world.tenant_id}:support"].waiting == []
    # The abandon is logged as the call ends; its bridges go in the same step, before the
    # call leaves the state.
    await world.until(lambda: world.phase_of(call) is None, "call let go")
    assert world.sim.model.bridges == {}


async def test_a_call_waiting_too_long_overflows_to_another_queue(world: World) -> None:
    await world.add_queue("overflow")
    await _centre(
        world, "linear", max_wait_seconds=1, overflow_kind="queue", overflow_target="overflow"
    )
    await world.add_agent("dov", "2001", "overflow")
    world.sim.agent("PJSIP/2001", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("dov")  # nobody in support

    call = await world.call()

    assert await _answered_by(world, call) == "dov"
    row = await world.record(call)
    assert row.queue_id == world.queues["overflow"]
    assert (row.overflow, row.overflow_from_queue_id) == ("queue", world.queues["support"])


async def test_overflow_to_voicemail_leaves_stasis_for_the_voicemail_context(world: World) -> None:
    await _centre(
        world, "linear", max_wait_seconds=1, overflow_kind="voicemail", overflow_target="2000"
    )
    await world.start_ledgerline()

    call = await world.call()

    row = await world.record_when(call, lambda r: r.outcome is not None, "voicemail logged")
    assert row.outcome == "voicemail" and row.wait_seconds >= 1 and row.overflow == "voicemail"
    await world.until(lambda: call.channel.context == "ledgerline-voicemail", "in voicemail")
    assert call.channel.exten == "2000"


async def test_a_callback_request_keeps_its_place_and_is_served_when_an_agent_frees_up(
    world: World,
) -> None:
    await _centre(
        world, "linear", max_wait_seconds=1, overflow_kind="callback", overflow_target="support"
    )
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    customer_phone = world.sim.agent("PJSIP/+972502345678@pstn-trunk", answer_after=0.1)
    await world.start_ledgerline()

    call = await world.call()
    await world.until(lambda: call.state == "Hungup", "caller told and let go")
    assert "sound:ledgerline-callback-requested" in call.heard
    row = await world.record(call)
    assert row.outcome == "callback" and row.overflow == "callback"

    await world.login("avi")  # an agent frees up: the agent rings first, then the customer

    await world.until(lambda: len(customer_phone.channel_ids) == 1, "customer dialled")
    await world.until(lambda: world.talk_bridge_size(call) == 2, "agent and customer bridged")
    customer_leg = world.sim.model.channels[customer_phone.channel_ids[0]]
    assert customer_leg.caller.number == "+97235550100"  # the business's number
    assert world.state_of("avi") is AgentState.ON_CALL


async def test_a_waiting_caller_hears_their_place_and_the_expected_wait(world: World) -> None:
    await world.add_queue("support", announce_every_seconds=1)
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi")
    await world.flow.pause_agent(world.agents["avi"], "training")  # staffed? no: paused

    first = await world.call("0502345678")
    second = await world.call("0523456789")

    # Each caller's announcement runs in that caller's own lane: the two come due in one
    # tick but play in no promised order, so each is waited for.
    await world.until(lambda: _heard(first, saying.place_in_line(1, "en")), "first is first")
    await world.until(lambda: _heard(second, saying.place_in_line(2, "en")), "second is second")
    wait = saying.wait_minutes(1, "en")[0]  # "the expected wait is about"
    assert wait not in second.heard  # nobody staffed: no honest estimate


async def test_a_waiting_caller_hears_their_place_in_the_business_language(
    world: World,
) -> None:
    async with world.database.system_session() as session, session.begin():
        await session.execute(update(Tenant).values(language="he"))
    await world.add_queue("support", announce_every_seconds=1)
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    await world.start_ledgerline()

    call = await world.call()

    # "מיקומך בתור הוא אחת": the place is a label, said in the feminine
    await world.until(lambda: _heard(call, saying.place_in_line(1, "he")), "announced in he")
    assert saying.place_in_line(1, "he") != saying.place_in_line(1, "en")


def _heard(call: Any, media: tuple[str, ...]) -> bool:
    """Whether `media` was played to the caller in that order, one after the other."""
    heard, size = list(call.heard), len(media)
    return any(tuple(heard[i : i + size]) == media for i in range(len(heard) - size + 1))


async def test_a_waiting_callers_music_comes_back_after_each_announcement_and_stops_for_the_agent(
    world: World,
) -> None:
    await world.add_queue("support", announce_every_seconds=1)
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()

    call = await world.call()
    await world.until(lambda: _heard(call, saying.place_in_line(1, "en")), "announced")
    caller = world.sim.model.channels[call.channel_id]
    await world.until(lambda: call.heard[-1] == "moh:ledgerline", "music again after it")
    assert caller.moh_class == "ledgerline" and not caller.bridge_id  # own music, no bridge

    await world.login("avi")
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    assert caller.moh_class is None  # stopped before the agent joined


async def test_wrap_up_keeps_the_agent_from_the_next_call_until_it_ends(world: World) -> None:
    await world.add_queue("support", wrapup_seconds=1)
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    phone = world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("avi")
    first = await world.call("0502345678")
    await world.until(lambda: world.connected_to(first) is not None, "first connected")

    hung_up = time.time()  # the simulator's clock; the wrap-up starts after this
    await first.hangup()
    second = await world.call("0523456789")

    await world.until(lambda: world.connected_to(second) is not None, "next call after wrap-up")
    # When avi's phone was rung again, from the simulator's own record of the leg, rather
    # than from desk events: those tell each agent's latest state, and on a busy machine a
    # one-second wrap-up can begin and end between two of them.
    assert len(phone.channel_ids) == 2
    rung_again = world.sim.model.channels[phone.channel_ids[1]].created
    assert rung_again - hung_up >= 1.0  # nothing was offered to avi before the wrap-up ended


class Bursts(list[tuple[str, int]]):
    """The desk events the call flow hands over (its `notify`), each with the number of the
    burst it came in: the events handed over between two turns of the event loop, which
    the publisher appends to the desks' bus together."""

    def __init__(self) -> None:
        super().__init__()
        self.burst, self._open = 0, False

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        if not self._open:
            self._open = True
            asyncio.get_running_loop().call_soon(self._close)
        self.append((kind, self.burst))

    def _close(self) -> None:
        self._open, self.burst = False, self.burst + 1

    def burst_of(self, kind: str) -> int:
        return next(burst for k, burst in self if k == kind)


async def test_a_caller_queued_and_rung_at_once_is_announced_queued_then_offered_together(
    world: World,
) -> None:
    await _centre(world, "linear")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    bursts = Bursts()
    await world.start_ledgerline(notify=bursts)
    await world.login("avi")

    call = await world.call()
    await world.until(lambda: any(k == "call.offered" for k, _ in bursts), "the pop")

    kinds = [k for k, _ in bursts if k.startswith("call.")]
    assert kinds[:2] == ["call.queued", "call.offered"]
    assert bursts.burst_of("call.queued") == bursts.burst_of("call.offered")
    await call.hangup()


async def test_a_caller_queued_with_nobody_to_ring_is_announced_queued(world: World) -> None:
    await _centre(world, "linear")
    bursts = Bursts()
    await world.start_ledgerline(notify=bursts)

    call = await world.call()
    await world.until(lambda: any(k == "call.queued" for k, _ in bursts), "queued")

    assert not any(k == "call.offered" for k, _ in bursts)
    await call.hangup()


async def _two_agents(world: World, strategy: str) -> CallFlow:
    """avi (rung first) and bella, who answers; the default ring timeout (none runs out)."""
    await world.add_queue("support", strategy=strategy)
    for name, extension in (("avi", "1001"), ("bella", "1002")):
        await world.add_agent(name, extension, "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=None)
    world.sim.agent("PJSIP/1002", answer_after=0.05)
    flow = await world.start_ledgerline()
    await world.login("avi", "bella")
    return flow


def _originate_failing(flow: CallFlow, endpoint: str, error: Exception) -> None:
    originate = flow.executor.client.originate

    async def failing(to: str, **options: Any) -> Any:
        if to == endpoint:
            raise error
        return await originate(to, **options)

    flow.executor.client.originate = failing  # type: ignore[method-assign]


async def test_a_failed_log_write_after_a_failed_ring_still_rings_the_next_agent(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """avi cannot be rung (Asterisk refuses); the offer's call-log write then fails (the
    database away): the ring of bella that avi's failure led to still goes out."""
    flow = await _two_agents(world, "linear")
    _originate_failing(flow, "PJSIP/1001", AriError("no such endpoint", status=400))
    update = flow.call_log.update

    async def database_away(tenant_id: int, record_id: int, **fields: Any) -> None:
        if "offered_at" in fields:
            raise RuntimeError("database away")
        await update(tenant_id, record_id, **fields)

    flow.call_log.update = database_away  # type: ignore[method-assign]

    call = await world.call()

    await world.until(lambda: world.connected_to(call) == world.agents["bella"], "bella's")
    assert any("offered_at not logged" in r.message for r in caplog.records)


async def test_a_ring_failing_with_an_error_not_asterisks_still_rings_the_others(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Ring-all: ringing avi raises an error that is not Asterisk's; bella is rung all the
    same, and avi is not left counted as ringing with no phone ringing."""
    flow = await _two_agents(world, "ringall")
    _originate_failing(flow, "PJSIP/1001", RuntimeError("a bug"))

    call = await world.call()

    await world.until(lambda: world.connected_to(call) == world.agents["bella"], "bella's")
    assert world.state_of("avi") is not AgentState.RINGING
    assert flow.state.calls[call.channel_id].ringing == {}
    assert any("cannot ring agent" in r.message and "a bug" in r.message
               for r in caplog.records)  # fmt: skip
