import json
from collections.abc import Callable

import pytest

from billing_bridge.identification.model import PRIORITY_COLLECTIONS, PRIORITY_VIP
from pbx.acd.agents import RING_NO_ANSWER, AgentState
from pbx.acd.commands import (
    Announce,
    CallAbandoned,
    Command,
    Connect,
    DialCallback,
    EndWrapUp,
    Overflow,
    PauseAgent,
    RingAgents,
    StartWrapUp,
    StopRinging,
)
from pbx.acd.engine import Engine, InboundCall
from pbx.acd.errors import AcdError, InvalidTransition, UnknownCall, UnknownQueue
from pbx.acd.queues import EntryKind, OverflowKind, QueueConfig, Strategy
from tests.acd.support import T0, agent, at, engine_with, of_type, rung

S = AgentState
CALLER = "+97231234567"


def ring(call_id: str, *agent_ids: str, queue: str = "sales", timeout: int = 15) -> RingAgents:
    endpoints = tuple(f"PJSIP/{agent_id}" for agent_id in agent_ids)
    return RingAgents(call_id, queue, agent_ids, endpoints, timeout)


def linear(*, retry_s: int = 0, autopause: bool = True) -> QueueConfig:
    return QueueConfig("sales", strategy=Strategy.LINEAR, retry_s=retry_s, autopause=autopause)


def waiting_ids(engine: Engine, queue: str = "sales") -> list[str]:
    return [entry.call_id for entry in engine.queues[queue].waiting]


# -- ringing and answering -------------------------------------------------------------


def test_a_call_rings_an_available_agent_and_is_connected_when_they_answer() -> None:
    engine = engine_with(QueueConfig("sales", ring_timeout_s=20), agents=(agent("dana"),))

    assert engine.enqueue(InboundCall("c1"), "sales", T0) == [ring("c1", "dana", timeout=20)]
    assert engine.answered("c1", "dana", at(4)) == [Connect("c1", "dana")]
    assert engine.agents["dana"].state is S.ON_CALL
    assert waiting_ids(engine) == []


def test_a_waiting_call_rings_the_first_agent_to_become_available() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana", state=S.LOGGED_OUT),))

    assert engine.enqueue(InboundCall("c1"), "sales", T0) == []
    assert engine.agent_available("dana", at(30)) == [ring("c1", "dana")]


def test_ring_no_answer_pauses_the_agent_and_rings_the_next() -> None:
    engine = engine_with(linear(), agents=(agent("a"), agent("b")))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.tick(at(14)) == []
    assert engine.tick(at(15)) == [
        StopRinging("c1", ("a",)),
        PauseAgent("a", RING_NO_ANSWER),
        ring("c1", "b"),
    ]
    assert (engine.agents["a"].state, engine.agents["a"].pause_reason) == (S.PAUSED, RING_NO_ANSWER)


def test_a_ring_whose_answer_has_arrived_does_not_time_out_and_the_answer_connects() -> None:
    engine = engine_with(linear(), agents=(agent("a"), agent("b")))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    # The answer arrived in time and waits its turn past the deadline: the answer wins.
    assert engine.tick(at(15), answering={("c1", "a")}) == []
    assert engine.agents["a"].state is S.RINGING
    assert engine.answered("c1", "a", at(16)) == [Connect("c1", "a")]
    assert engine.agents["a"].state is S.ON_CALL


def test_an_answer_waiting_for_another_call_or_agent_does_not_hold_a_ring_back() -> None:
    engine = engine_with(linear(), agents=(agent("a"), agent("b")))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.tick(at(15), answering={("c2", "a"), ("c1", "b")}) == [
        StopRinging("c1", ("a",)),
        PauseAgent("a", RING_NO_ANSWER),
        ring("c1", "b"),
    ]


def test_after_a_ring_timeout_the_call_waits_the_retry_seconds_before_ringing_again() -> None:
    engine = engine_with(linear(retry_s=5), agents=(agent("a"), agent("b")))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert rung(engine.tick(at(15))) == {}
    assert engine.tick(at(19)) == []
    assert engine.tick(at(20)) == [ring("c1", "b")]


def test_without_autopause_a_ring_timeout_leaves_the_agent_available_and_moves_round() -> None:
    engine = engine_with(linear(autopause=False), agents=(agent("a"), agent("b")))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.tick(at(15)) == [StopRinging("c1", ("a",)), ring("c1", "b")]
    assert engine.agents["a"].state is S.AVAILABLE
    # Everyone has been tried: a new round starts from the first member again.
    assert rung(engine.tick(at(30))) == {"c1": ("a",)}


def test_ringall_stops_the_others_when_one_answers() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("a"), agent("b"), agent("c")))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.answered("c1", "b", at(3)) == [StopRinging("c1", ("a", "c")), Connect("c1", "b")]
    assert [engine.agents[x].state for x in "abc"] == [S.AVAILABLE, S.ON_CALL, S.AVAILABLE]


def test_an_agent_declining_counts_as_ring_no_answer_and_the_next_is_rung() -> None:
    engine = engine_with(linear(), agents=(agent("a"), agent("b")))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.agent_hung_up("a", at(2)) == [PauseAgent("a", RING_NO_ANSWER), ring("c1", "b")]


def test_one_agent_declining_a_ringall_call_leaves_the_others_ringing() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("a"), agent("b")))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.agent_hung_up("a", at(2)) == [PauseAgent("a", RING_NO_ANSWER)]
    assert engine.queues["sales"].waiting[0].ringing == ["b"]


def test_pausing_a_ringing_agent_stops_their_ringing_and_rings_someone_else() -> None:
    engine = engine_with(linear(), agents=(agent("a"), agent("b")))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.pause_agent("a", "lunch", at(2)) == [StopRinging("c1", ("a",)), ring("c1", "b")]
    assert engine.agents["a"].pause_reason == "lunch"


def test_an_agent_cannot_log_out_in_the_middle_of_a_call() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("a"),))
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.answered("c1", "a", at(1))

    with pytest.raises(InvalidTransition):
        engine.log_out("a", at(2))


# -- wrap-up ---------------------------------------------------------------------------


def test_wrap_up_follows_the_call_and_then_the_agent_takes_the_next_caller() -> None:
    engine = engine_with(QueueConfig("sales", wrapup_s=30), agents=(agent("dana"),))
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.answered("c1", "dana", at(1))
    assert engine.enqueue(InboundCall("c2"), "sales", at(5)) == []

    assert engine.caller_hung_up("c1", at(61)) == [StartWrapUp("dana", at(91))]
    assert engine.tick(at(90)) == []
    assert engine.tick(at(91)) == [EndWrapUp("dana"), ring("c2", "dana")]
    # Talk time 60 s plus 30 s of wrap-up is what the next estimate will use.
    assert engine.queues["sales"].recent_handle_s == [90]
    assert engine.agents["dana"].calls_today(at(91)) == 1


def test_an_agent_ready_before_wrap_up_ends_is_rung_at_once() -> None:
    engine = engine_with(QueueConfig("sales", wrapup_s=30), agents=(agent("dana"),))
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.answered("c1", "dana", at(1))
    engine.enqueue(InboundCall("c2"), "sales", at(5))
    engine.agent_hung_up("dana", at(20))

    assert engine.agent_available("dana", at(25)) == [ring("c2", "dana")]


# -- priorities ------------------------------------------------------------------------


def test_a_vip_is_served_before_earlier_callers_and_equal_priorities_are_first_come() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana", state=S.LOGGED_OUT),))
    for n, (call_id, priority) in enumerate(
        [("n1", 0), ("n2", 0), ("owing", PRIORITY_COLLECTIONS), ("vip", PRIORITY_VIP)]
    ):
        engine.enqueue(InboundCall(call_id, priority), "sales", at(n))

    served = []
    commands = engine.agent_available("dana", at(10))
    for n in range(4):
        (call_id,) = rung(commands)
        served.append(call_id)
        engine.answered(call_id, "dana", at(20 + n * 10))
        commands = engine.agent_hung_up("dana", at(25 + n * 10))

    assert served == ["vip", "owing", "n1", "n2"]


def test_an_agent_in_two_queues_goes_to_the_caller_who_should_be_served_first() -> None:
    engine = engine_with(
        QueueConfig("sales"),
        QueueConfig("support"),
        agents=(agent("dana", "sales", "support", state=S.LOGGED_OUT),),
    )
    engine.enqueue(InboundCall("support-early"), "support", T0)
    engine.enqueue(InboundCall("sales-later"), "sales", at(5))
    engine.enqueue(InboundCall("sales-vip", PRIORITY_VIP), "sales", at(9))

    first = engine.agent_available("dana", at(10))
    engine.answered("sales-vip", "dana", at(11))
    second = engine.agent_hung_up("dana", at(20))

    assert rung(first) == {"sales-vip": ("dana",)}
    assert second == [ring("support-early", "dana", queue="support")]


# -- overflow --------------------------------------------------------------------------


def test_max_wait_overflows_to_another_queue_and_rings_an_agent_there() -> None:
    engine = engine_with(
        QueueConfig(
            "sales", max_wait_s=60, overflow_kind=OverflowKind.QUEUE, overflow_target="team"
        ),
        QueueConfig("team"),
        agents=(agent("a", "sales", state=S.PAUSED), agent("t", "team")),
    )
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.tick(at(59)) == []
    assert engine.tick(at(60)) == [
        Overflow("c1", OverflowKind.QUEUE, "team"),
        ring("c1", "t", queue="team"),
    ]
    assert waiting_ids(engine, "sales") == []


def test_an_overflowed_caller_keeps_their_arrival_order_but_a_fresh_max_wait() -> None:
    engine = engine_with(
        QueueConfig(
            "sales", max_wait_s=60, overflow_kind=OverflowKind.QUEUE, overflow_target="team"
        ),
        QueueConfig("team", max_wait_s=60, overflow_kind=OverflowKind.VOICEMAIL),
    )
    engine.enqueue(InboundCall("from-sales"), "sales", T0)
    engine.enqueue(InboundCall("team-caller"), "team", at(10))

    engine.tick(at(60))

    assert waiting_ids(engine, "team") == ["from-sales", "team-caller"]
    assert engine.queues["team"].waiting[0].queued_at == at(60)
    # team-caller reaches team's limit at 70; the overflowed caller only at 120.
    assert of_type(engine.tick(at(70)), Overflow) == [Overflow("team-caller", "voicemail", "")]
    assert waiting_ids(engine, "team") == ["from-sales"]


def test_an_overflow_to_a_queue_that_does_not_exist_keeps_the_caller_waiting() -> None:
    engine = engine_with(
        QueueConfig(
            "sales", max_wait_s=60, overflow_kind=OverflowKind.QUEUE, overflow_target="gone"
        )
    )
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.tick(at(90)) == []
    assert waiting_ids(engine) == ["c1"]


def test_max_wait_overflows_to_voicemail_and_the_call_leaves_the_acd() -> None:
    engine = engine_with(
        QueueConfig(
            "sales", max_wait_s=60, overflow_kind=OverflowKind.VOICEMAIL, overflow_target="box-1"
        )
    )
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.tick(at(60)) == [Overflow("c1", OverflowKind.VOICEMAIL, "box-1")]
    assert waiting_ids(engine) == []
    # The voicemail's own hangup later is no abandonment.
    assert engine.caller_hung_up("c1", at(120)) == []


def callback_queue() -> QueueConfig:
    return QueueConfig(
        "sales", max_wait_s=60, overflow_kind=OverflowKind.CALLBACK, overflow_target="sales-cb"
    )


def test_a_callback_keeps_the_callers_place_and_rings_the_agent_before_the_customer() -> None:
    engine = engine_with(callback_queue(), agents=(agent("dana", state=S.LOGGED_OUT),))
    engine.enqueue(InboundCall("c1", caller_number=CALLER), "sales", T0)
    engine.enqueue(InboundCall("c2", caller_number="+97239999999"), "sales", at(30))

    assert engine.tick(at(60)) == [Overflow("c1", OverflowKind.CALLBACK, "sales-cb")]
    assert waiting_ids(engine) == ["c1", "c2"]
    assert engine.queues["sales"].waiting[0].kind is EntryKind.CALLBACK

    assert engine.agent_available("dana", at(70)) == [
        RingAgents("c1", "sales", ("dana",), ("PJSIP/dana",), 15, callback_number=CALLER)
    ]
    assert engine.answered("c1", "dana", at(72)) == [DialCallback("c1", "dana", CALLER)]
    assert waiting_ids(engine) == ["c2"]


def test_a_callback_request_outlives_the_callers_hangup_until_it_is_cancelled() -> None:
    engine = engine_with(callback_queue(), agents=(agent("dana", state=S.LOGGED_OUT),))
    engine.enqueue(InboundCall("c1", caller_number=CALLER), "sales", T0)
    engine.tick(at(60))

    assert engine.caller_hung_up("c1", at(61)) == []
    assert waiting_ids(engine) == ["c1"]

    engine.agent_available("dana", at(70))
    assert engine.cancel_callback("c1", at(71)) == [StopRinging("c1", ("dana",))]
    assert waiting_ids(engine) == []
    assert engine.agents["dana"].state is S.AVAILABLE
    assert engine.queues["sales"].abandoned == []


def test_a_caller_with_a_withheld_number_keeps_waiting_instead_of_a_callback() -> None:
    engine = engine_with(callback_queue())
    engine.enqueue(InboundCall("c1", caller_number=None), "sales", T0)

    assert engine.tick(at(60)) == []
    assert engine.queues["sales"].waiting[0].kind is EntryKind.CALLER


def test_max_wait_never_takes_a_call_away_from_a_ringing_agent() -> None:
    config = QueueConfig(
        "sales", ring_timeout_s=30, max_wait_s=20, overflow_kind=OverflowKind.VOICEMAIL
    )
    engine = engine_with(config, agents=(agent("dana"),))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.tick(at(20)) == []
    assert engine.tick(at(30)) == [
        StopRinging("c1", ("dana",)),
        PauseAgent("dana", RING_NO_ANSWER),
        Overflow("c1", OverflowKind.VOICEMAIL, ""),
    ]


# -- abandoned calls -------------------------------------------------------------------


def test_a_caller_hanging_up_while_queued_is_recorded_as_abandoned_with_their_wait() -> None:
    engine = engine_with(QueueConfig("sales"))
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.enqueue(InboundCall("c2"), "sales", at(5))

    assert engine.caller_hung_up("c2", at(45)) == [CallAbandoned("c2", "sales", 40, 2)]
    assert waiting_ids(engine) == ["c1"]
    assert [(a.call_id, a.waited_s) for a in engine.queues["sales"].abandoned] == [("c2", 40)]


def test_a_caller_hanging_up_while_agents_ring_stops_the_ringing_and_frees_them() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("a"), agent("b")))
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.enqueue(InboundCall("c2"), "sales", at(1))

    assert engine.caller_hung_up("c1", at(3)) == [
        StopRinging("c1", ("a", "b")),
        CallAbandoned("c1", "sales", 3, 1),
        ring("c2", "a", "b"),
    ]


# -- announcements ---------------------------------------------------------------------


def test_waiting_callers_hear_their_position_and_estimated_wait_every_interval() -> None:
    config = QueueConfig("sales", announce_position_every_s=30, default_handle_s=120)
    engine = engine_with(config, agents=(agent("a"), agent("b")))
    for n, call_id in enumerate(["busy-1", "busy-2"]):
        engine.enqueue(InboundCall(call_id), "sales", T0)
        engine.answered(call_id, "ab"[n], at(1))
    engine.enqueue(InboundCall("c3"), "sales", at(2))
    engine.enqueue(InboundCall("c4"), "sales", at(12))

    assert engine.tick(at(31)) == []
    # Two staffed agents, 120 s mean handling: position p waits about p * 60 s.
    assert engine.tick(at(32)) == [Announce("c3", 1, 60)]
    assert engine.tick(at(42)) == [Announce("c4", 2, 120)]
    assert engine.tick(at(62)) == [Announce("c3", 1, 60)]


def test_the_estimated_wait_is_unknown_when_nobody_is_staffed() -> None:
    config = QueueConfig("sales", announce_position_every_s=30)
    engine = engine_with(config, agents=(agent("a", state=S.PAUSED),))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.tick(at(30)) == [Announce("c1", 1, None)]


# -- stale events and bad input ----------------------------------------------------------


def test_a_hangup_for_a_call_that_is_already_gone_is_ignored() -> None:
    assert engine_with(QueueConfig("sales")).caller_hung_up("nobody", T0) == []


def test_an_answer_from_an_agent_the_call_no_longer_rings_is_refused() -> None:
    engine = engine_with(linear(), agents=(agent("a"), agent("b")))
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.tick(at(15))

    with pytest.raises(UnknownCall):
        engine.answered("c1", "a", at(16))
    assert engine.queues["sales"].waiting[0].ringing == ["b"]


def test_the_same_call_cannot_be_queued_twice_nor_in_an_unknown_queue() -> None:
    engine = engine_with(QueueConfig("sales"))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    with pytest.raises(AcdError, match="already"):
        engine.enqueue(InboundCall("c1"), "sales", at(1))
    with pytest.raises(UnknownQueue):
        engine.enqueue(InboundCall("c2"), "nowhere", at(1))


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        engine_with(QueueConfig("sales")).tick(T0.replace(tzinfo=None))


def test_an_admin_change_to_a_queue_applies_to_callers_already_waiting() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("a", state=S.LOGGED_OUT),))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    engine.configure_queue(QueueConfig("sales", ring_timeout_s=40))

    assert engine.agent_available("a", at(5)) == [ring("c1", "a", timeout=40)]


# -- restarts --------------------------------------------------------------------------

Event = Callable[[Engine], list[Command]]


def answer_first(call_id: str, seconds: int) -> Event:
    """Answer with the first agent ringing for the call, or just let time pass."""

    def event(engine: Engine) -> list[Command]:
        for queue in engine.queues.values():
            entry = queue.get(call_id)
            if entry is not None and entry.ringing:
                return engine.answered(call_id, entry.ringing[0], at(seconds))
        return engine.tick(at(seconds))

    return event


def ready_all(state: AgentState, seconds: int) -> Event:
    def event(engine: Engine) -> list[Command]:
        ids = sorted(i for i, a in engine.agents.items() if a.state is state)
        return [command for i in ids for command in engine.agent_available(i, at(seconds))]

    return event


def end_all_calls(seconds: int) -> Event:
    def event(engine: Engine) -> list[Command]:
        ids = sorted(i for i, a in engine.agents.items() if a.state is S.ON_CALL)
        return [command for i in ids for command in engine.agent_hung_up(i, at(seconds))]

    return event


def busy_engine() -> Engine:
    sales = QueueConfig(
        "sales",
        strategy=Strategy.RANDOM,
        wrapup_s=10,
        max_wait_s=100,
        overflow_kind=OverflowKind.CALLBACK,
        announce_position_every_s=30,
    )
    collections = QueueConfig(
        "collections",
        strategy=Strategy.RRMEMORY,
        required_skills={"collections": 1},
        max_wait_s=60,
        overflow_kind=OverflowKind.QUEUE,
        overflow_target="sales",
    )
    skilled = {"collections": 2}
    return engine_with(
        sales,
        collections,
        agents=(
            agent("a", "sales", state=S.LOGGED_OUT),
            agent("b", "sales", "collections", skills=skilled, state=S.LOGGED_OUT),
            agent("c", "sales", penalty=1, state=S.LOGGED_OUT),
            agent("d", "collections", skills=skilled, state=S.LOGGED_OUT),
        ),
        seed=2025,
    )


SCENARIO: list[Event] = [
    lambda e: e.agent_available("a", at(0)),
    lambda e: e.agent_available("b", at(0)),
    lambda e: e.enqueue(InboundCall("n1", 0, "+97231111111"), "sales", at(1)),
    lambda e: e.enqueue(InboundCall("v1", PRIORITY_VIP, "+97232222222"), "sales", at(2)),
    lambda e: e.enqueue(InboundCall("o1", PRIORITY_COLLECTIONS), "collections", at(3)),
    lambda e: e.enqueue(InboundCall("n2", 0, "+97233333333"), "sales", at(4)),
    lambda e: e.enqueue(InboundCall("n3"), "sales", at(5)),
    answer_first("n1", 6),
    lambda e: e.tick(at(20)),
    answer_first("v1", 21),
    lambda e: e.agent_available("c", at(25)),
    lambda e: e.caller_hung_up("n1", at(40)),
    lambda e: e.tick(at(45)),
    ready_all(S.PAUSED, 50),
    lambda e: e.tick(at(60)),
    lambda e: e.enqueue(InboundCall("n4", 0, "+97234444444"), "sales", at(61)),
    lambda e: e.tick(at(75)),
    answer_first("n2", 80),
    lambda e: e.agent_available("d", at(85)),
    lambda e: e.tick(at(110)),
    answer_first("n4", 111),
    lambda e: e.caller_hung_up("n3", at(115)),
    lambda e: e.tick(at(130)),
    end_all_calls(140),
    lambda e: e.tick(at(160)),
    ready_all(S.PAUSED, 170),
    answer_first("o1", 171),
    answer_first("v1", 172),
    lambda e: e.tick(at(200)),
]


def run(engine: Engine, events: list[Event]) -> list[Command]:
    return [command for event in events for command in event(engine)]


def restarted(engine: Engine) -> Engine:
    return Engine.from_dict(json.loads(json.dumps(engine.to_dict())))


@pytest.mark.parametrize("split", range(len(SCENARIO) + 1))
def test_a_restart_at_any_point_loses_no_caller_and_carries_on_identically(split: int) -> None:
    never_stopped = busy_engine()
    run(never_stopped, SCENARIO[:split])
    expected = run(never_stopped, SCENARIO[split:])

    before = busy_engine()
    run(before, SCENARIO[:split])
    after = restarted(before)

    assert run(after, SCENARIO[split:]) == expected
    assert after.to_dict() == never_stopped.to_dict()


def test_the_restart_scenario_really_restarts_with_callers_waiting_and_agents_busy() -> None:
    engine = busy_engine()
    commands = run(engine, SCENARIO[:10])
    after = restarted(engine)

    assert sum(len(queue.waiting) for queue in after.queues.values()) >= 2
    assert after.active
    assert {type(command) for command in commands + run(after, SCENARIO[10:])} >= {
        RingAgents,
        Connect,
        StopRinging,
        PauseAgent,
        StartWrapUp,
        Overflow,
        Announce,
        CallAbandoned,
        DialCallback,
    }


def test_state_written_by_an_unknown_version_is_refused() -> None:
    state = busy_engine().to_dict() | {"version": 99}

    with pytest.raises(AcdError, match="version"):
        Engine.from_dict(state)


def test_snapshots_taken_along_the_way_always_match_the_agents_as_they_are() -> None:
    # Snapshots reuse each agent's saved form until it changes: none may go stale.
    engine = busy_engine()
    for step in SCENARIO:
        step(engine)
        saved = engine.to_dict()["agents"]
        assert saved == [a.to_dict() for a in engine.agents.values()]
    first = next(iter(engine.agents))
    engine.update_agent(first, "PJSIP/moved", {"hebrew": 5}, {}, at(300))
    assert engine.to_dict()["agents"] == [a.to_dict() for a in engine.agents.values()]
