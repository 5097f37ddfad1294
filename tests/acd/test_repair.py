"""A restored ACD state that disagrees with the live calls is repaired, never refused."""

from pbx.acd.agents import AgentState
from pbx.acd.calls import ActiveCall
from pbx.acd.engine import Engine, InboundCall
from pbx.acd.queues import QueueConfig
from pbx.acd.repair import repair
from tests.acd.support import T0, agent, at, engine_with, rung

S = AgentState


def test_an_agent_on_a_call_that_does_not_exist_is_made_available_and_the_repair_said() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana"),))
    engine.start_outbound("ghost", "dana", T0)

    notes = repair(engine, live=set(), now=at(5))

    assert engine.agents["dana"].state is S.AVAILABLE and engine.active == {}
    assert any("dana" in note and "now available" in note for note in notes)
    assert engine.agent_available("dana", at(6)) == []  # what `ledgerline demo` asks


def test_an_agent_on_call_with_no_call_in_the_acd_at_all_is_made_available() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana", state=S.ON_CALL),))
    engine.agents["dana"].call_id = "gone"

    notes = repair(engine, live={"gone"}, now=at(5))

    assert engine.agents["dana"].state is S.AVAILABLE and len(notes) == 1


def test_a_ringing_agent_whose_call_is_not_waiting_is_freed_and_offered_the_next_caller() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana"),))
    engine.enqueue(InboundCall("c1"), "sales", T0)  # rings dana
    engine.queues["sales"].remove("c1")  # ... but the call vanished from the queue
    engine.enqueue(InboundCall("c2"), "sales", at(1))

    repair(engine, live={"c2"}, now=at(2))

    assert rung(engine.tick(at(2))) == {"c2": ("dana",)}


def test_calls_the_flow_no_longer_has_are_dropped_and_live_ones_kept() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana"), agent("erez")))
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.answered("c1", "dana", at(1))
    engine.enqueue(InboundCall("c2"), "sales", at(2))  # rings erez
    engine.active["c9"] = ActiveCall("c9", "sales", "nobody", T0)

    notes = repair(engine, live={"c1", "c2"}, now=at(3))

    assert list(engine.active) == ["c1"] and engine.agents["dana"].state is S.ON_CALL
    assert engine.agents["erez"].state is S.RINGING
    assert [e.call_id for e in engine.queues["sales"].waiting] == ["c2"]
    assert len(notes) == 1


def test_a_consistent_state_with_a_transfer_in_progress_needs_no_repair() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana"), agent("erez")))
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.answered("c1", "dana", at(1))
    engine.offer_transfer("c1", "erez", "sales", at(2))
    engine.transfer_answered("erez", at(3))
    before = engine.to_dict()

    assert repair(engine, live={"c1"}, now=at(4)) == []
    assert engine.to_dict() == before
    assert Engine.from_dict(before).transfers.keys() == {"erez"}


def test_an_agent_removed_while_on_a_call_that_does_not_exist_is_not_left_marked_to_retire(
) -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana"),))
    engine.start_outbound("ghost", "dana", T0)
    engine.remove_agent("dana", at(1))  # kept until the call ends: marked to retire

    repair(engine, live=set(), now=at(2))

    assert engine.retiring == set() and engine.agents["dana"].state is S.AVAILABLE
