"""An agent dialled directly for a transfer is busy in the ACD exactly like one offered a call;
and a call an agent placed that could not start leaves them free."""

import pytest

from pbx.acd.agents import AgentState
from pbx.acd.commands import StartWrapUp, StopRinging
from pbx.acd.engine import OUTBOUND, Engine, InboundCall
from pbx.acd.errors import InvalidTransition
from pbx.acd.queues import QueueConfig
from tests.acd.support import T0, agent, at, engine_with, rung

S = AgentState


def _talking_with_dana(wrapup_s: int = 0) -> Engine:
    """Caller c1 connected to dana in sales; erez is free in sales too."""
    engine = engine_with(QueueConfig("sales", strategy="linear", wrapup_s=wrapup_s),
                         agents=(agent("dana", order=0), agent("erez", order=1)))  # fmt: skip
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.answered("c1", "dana", at(1))
    return engine


def test_an_agent_rung_for_a_transfer_is_offered_no_queue_call_meanwhile() -> None:
    engine = _talking_with_dana()

    engine.offer_transfer("c1", "erez", "sales", at(10))

    assert engine.agents["erez"].state is S.RINGING
    assert rung(engine.enqueue(InboundCall("c2"), "sales", at(11))) == {}
    engine.transfer_answered("erez", at(12))
    assert engine.agents["erez"].state is S.ON_CALL
    assert rung(engine.tick(at(13))) == {}


def test_a_transfer_to_an_agent_who_is_not_available_is_refused() -> None:
    engine = _talking_with_dana()
    engine.pause_agent("erez", "lunch", at(5))

    with pytest.raises(InvalidTransition, match="erez cannot be offered a call while paused"):
        engine.offer_transfer("c1", "erez", "sales", at(10))
    with pytest.raises(InvalidTransition, match="dana cannot be offered a call while on_call"):
        engine.offer_transfer("c1", "dana", "sales", at(10))
    assert engine.transfers == {}


def test_a_completed_transfer_is_the_targets_call_until_it_ends_then_wrap_up() -> None:
    engine = _talking_with_dana(wrapup_s=30)
    engine.offer_transfer("c1", "erez", "sales", at(10))
    engine.transfer_answered("erez", at(12))

    engine.release("c1", at(20))  # dana hands the call on
    engine.transfer_completed("erez", at(20))

    assert engine.agents["dana"].state is S.WRAP_UP
    assert engine.agents["erez"].state is S.ON_CALL and engine.active["c1"].agent_id == "erez"
    assert StartWrapUp("erez", at(80)) in engine.caller_hung_up("c1", at(50))
    assert engine.agents["erez"].state is S.WRAP_UP and engine.transfers == {}


def test_a_transfer_target_who_never_answers_is_available_again_and_rung_for_waiting_calls(
) -> None:
    engine = _talking_with_dana()
    engine.offer_transfer("c1", "erez", "sales", at(10))
    engine.enqueue(InboundCall("c2"), "sales", at(11))

    commands = engine.transfer_ended("erez", at(40))

    assert rung(commands) == {"c2": ("erez",)}
    assert engine.transfers == {}


def test_a_consulted_target_whose_transfer_is_cancelled_wraps_up_and_dana_keeps_the_call(
) -> None:
    engine = _talking_with_dana(wrapup_s=15)
    engine.offer_transfer("c1", "erez", "sales", at(10))
    engine.transfer_answered("erez", at(12))

    assert engine.agent_hung_up("erez", at(30)) == [StartWrapUp("erez", at(45))]

    assert engine.agents["dana"].state is S.ON_CALL and engine.active["c1"].agent_id == "dana"


def test_pausing_an_agent_rung_for_a_transfer_stops_that_ringing() -> None:
    engine = _talking_with_dana()
    engine.offer_transfer("c1", "erez", "sales", at(10))

    assert engine.pause_agent("erez", "lunch", at(11)) == [StopRinging("c1", ("erez",))]

    assert engine.agents["erez"].state is S.PAUSED and engine.transfers == {}


def test_a_transfer_in_progress_survives_a_snapshot() -> None:
    engine = _talking_with_dana()
    engine.offer_transfer("c1", "erez", "sales", at(10))

    restored = Engine.from_dict(engine.to_dict())

    assert restored.transfers == engine.transfers
    restored.transfer_answered("erez", at(12))
    assert restored.agents["erez"].state is S.ON_CALL


def test_a_call_the_agent_placed_that_could_not_start_frees_them_and_counts_nothing() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana"),))
    engine.pause_agent("dana", "admin", T0)
    engine.start_outbound("o1", "dana", at(1))
    engine.enqueue(InboundCall("c1"), "sales", at(2))

    commands = engine.cancel_outbound("o1", at(3))

    assert rung(commands) == {"c1": ("dana",)}
    assert engine.agents["dana"].calls_taken == 0 and "o1" not in engine.active
    assert engine.active == {} and OUTBOUND not in engine.queues
