"""Which call a channel belongs to: found as channels join, and nobody's once let go."""

from __future__ import annotations

import json
import random

from pbx.acd.agents import Agent, AgentState, Membership
from pbx.acd.engine import Engine, InboundCall
from pbx.acd.queues import QueueConfig, Strategy
from pbx.callflow.calls import FlowCall
from pbx.callflow.state import FlowState
from tests.acd.support import T0


def a_call(call_id: str) -> FlowCall:
    return FlowCall(call_id, tenant_id=1, record_id=1, caller_channel=call_id)


def test_each_leg_of_a_call_is_found_with_its_role() -> None:
    state = FlowState.empty()
    call = a_call("caller-1")
    state.add(call)
    call.ringing["leg-a"] = "7"
    state.note("leg-a", call)

    assert state.leg("caller-1").role == "caller"  # type: ignore[union-attr]
    ringing = state.leg("leg-a")
    assert ringing is not None and (ringing.role, ringing.agent_id) == ("ringing", "7")

    del call.ringing["leg-a"]  # answered: the same channel is now the agent's
    call.agent_id, call.agent_channel = "7", "leg-a"
    agent = state.leg("leg-a")
    assert agent is not None and (agent.role, agent.call) == ("agent", call)


def test_a_state_made_from_saved_calls_knows_their_channels_and_new_ones_are_nobodys() -> None:
    call = a_call("caller-1")
    call.third_channel = "transfer-leg"  # as a saved state has it
    state = FlowState(Engine(random.Random(1)), {call.call_id: call})

    found = state.leg("transfer-leg")
    assert found is not None and found.role == "third"
    assert state.leg("a-new-caller") is None


def test_forgetting_the_channels_of_ended_calls_keeps_every_live_calls_channels() -> None:
    state = FlowState.empty()
    live = a_call("live")
    live.ringing["ringing-leg"] = "7"
    state.add(live)
    for n in range(1200):  # calls come and go until the index is trimmed
        gone = a_call(f"gone-{n}")
        state.add(gone)
        state.drop(gone.call_id)

    assert state.leg("ringing-leg") is not None and state.leg("live") is not None
    assert state.leg("gone-1") is None and len(state._seen) < 1200


def test_a_channel_its_call_let_go_or_an_ended_calls_channel_is_nobodys() -> None:
    state = FlowState.empty()
    first, second = a_call("caller-1"), a_call("caller-2")
    state.add(first)
    state.add(second)
    first.agent_channel = "agent-leg"
    state.note("agent-leg", first)

    first.agent_channel = None  # the agent hung up
    assert state.leg("agent-leg") is None
    state.drop("caller-2")
    assert state.leg("caller-2") is None
    assert state.leg("never-seen") is None


def test_a_restored_state_finds_its_calls_channels() -> None:
    saved = FlowState.empty()
    call = a_call("caller-1")
    call.agent_channel = "agent-leg"
    saved.add(call)
    live = FlowState.empty()
    live.add(a_call("gone"))

    live.restore(FlowState.from_dict(saved.to_dict()))

    assert live.leg("agent-leg") is not None and live.leg("gone") is None


def test_the_saved_json_is_the_state_as_it_is_now_after_agents_change_between_saves() -> None:
    engine = Engine(random.Random(3))
    engine.configure_queue(QueueConfig("sales", strategy=Strategy.LEASTRECENT))
    for n in range(3):
        engine.add_agent(Agent(f"a{n}", f"PJSIP/{n}", memberships={"sales": Membership()}))
    state = FlowState(engine)
    state.add(a_call("caller-1"))
    first = json.loads(state.to_json())
    assert first == state.to_dict()

    engine.agent_available("a1", T0)  # one agent changes; the others' saved JSON is reused
    engine.enqueue(InboundCall("caller-1"), "sales", T0)
    second = json.loads(state.to_json())

    assert second == state.to_dict() != first
    restored = FlowState.from_dict(second)
    assert restored.engine.agents["a1"].state is AgentState.RINGING
    assert restored.to_dict() == state.to_dict()
