"""Admin changes to the roster apply to a running engine without losing calls or states."""

import json

from pbx.acd.agents import AgentState, Membership
from pbx.acd.calls import InboundCall
from pbx.acd.commands import StartWrapUp, StopRinging
from pbx.acd.engine import Engine
from pbx.acd.queues import QueueConfig
from tests.acd.support import T0, agent, at, engine_with, of_type, rung


def test_a_new_membership_brings_a_waiting_call_to_the_agent_at_once() -> None:
    engine = engine_with(QueueConfig("sales"), QueueConfig("billing"), agents=(agent("dana"),))
    engine.enqueue(InboundCall("c1"), "billing", T0)

    commands = engine.update_agent("dana", "PJSIP/2001", {}, {"billing": Membership()}, at(5))

    assert rung(commands) == {"c1": ("dana",)}
    assert commands[0].endpoints == ("PJSIP/2001",)


def test_removing_a_ringing_agent_offers_the_call_to_someone_else() -> None:
    engine = engine_with(
        QueueConfig("sales"), agents=(agent("dana", order=0), agent("eli", order=1))
    )
    engine.queues["sales"].config = QueueConfig("sales", strategy="linear")
    assert rung(engine.enqueue(InboundCall("c1"), "sales", T0)) == {"c1": ("dana",)}

    commands = engine.remove_agent("dana", at(3))

    assert of_type(commands, StopRinging) == [StopRinging("c1", ("dana",))]
    assert rung(commands) == {"c1": ("eli",)}
    assert "dana" not in engine.agents


def test_an_agent_removed_mid_call_finishes_it_then_leaves_the_roster() -> None:
    engine = engine_with(QueueConfig("sales", wrapup_s=30), agents=(agent("dana"),))
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.answered("c1", "dana", at(2))

    engine.remove_agent("dana", at(10))
    assert engine.agents["dana"].state is AgentState.ON_CALL
    engine.enqueue(InboundCall("c2"), "sales", at(11))  # no new call for a retiring agent
    restored = Engine.from_dict(json.loads(json.dumps(engine.to_dict())))

    assert of_type(restored.caller_hung_up("c1", at(60)), StartWrapUp) == []
    assert "dana" not in restored.agents
    assert [e.call_id for e in restored.queues["sales"].waiting] == ["c2"]


def test_a_queue_is_removed_only_once_nobody_waits_in_it() -> None:
    engine = engine_with(QueueConfig("sales"))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    assert engine.remove_queue("sales") is False
    engine.caller_hung_up("c1", at(5))
    assert engine.remove_queue("sales") is True
    assert engine.queues == {}


def test_a_call_ends_normally_after_its_queue_was_removed() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana"),))
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.answered("c1", "dana", at(2))
    assert engine.remove_queue("sales") is True

    engine.caller_hung_up("c1", at(40))

    assert engine.agents["dana"].state is AgentState.AVAILABLE


def test_a_lost_offer_frees_the_agent_without_a_pause_and_rings_again() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana"),))
    engine.enqueue(InboundCall("c1"), "sales", T0)

    commands = engine.offer_lost("dana", at(2))

    assert of_type(commands, StopRinging) == [StopRinging("c1", ("dana",))]
    assert rung(commands) == {"c1": ("dana",)}  # not the agent's fault: offered again
    assert engine.agents["dana"].pause_reason is None


def test_a_transfer_releases_the_agent_and_the_call_can_queue_again() -> None:
    engine = engine_with(QueueConfig("sales", wrapup_s=10), QueueConfig("billing"),
                         agents=(agent("dana"), agent("eli", "billing")))  # fmt: skip
    engine.enqueue(InboundCall("c1"), "sales", T0)
    engine.answered("c1", "dana", at(2))

    released = engine.release("c1", at(30))
    requeued = engine.enqueue(InboundCall("c1"), "billing", at(30))

    assert of_type(released, StartWrapUp)[0].agent_id == "dana"
    assert rung(requeued) == {"c1": ("eli",)}


def test_click_to_call_makes_the_agent_busy_until_the_call_ends() -> None:
    engine = engine_with(QueueConfig("sales"), agents=(agent("dana"),))
    engine.pause_agent("dana", "lunch", T0)

    engine.start_outbound("o1", "dana", at(1))
    assert engine.agents["dana"].state is AgentState.ON_CALL
    assert engine.enqueue(InboundCall("c1"), "sales", at(2)) == []  # not offered while busy

    assert rung(engine.caller_hung_up("o1", at(60))) == {"c1": ("dana",)}


def test_a_call_queued_again_keeps_its_place_by_arrival() -> None:
    engine = engine_with(QueueConfig("sales"))
    engine.enqueue(InboundCall("later"), "sales", at(10))

    engine.enqueue(InboundCall("earlier", arrived_at=at(5)), "sales", at(20))

    assert [e.call_id for e in engine.queues["sales"].waiting] == ["earlier", "later"]
