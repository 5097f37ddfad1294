"""Repairs a restored ACD state that no longer agrees with itself or with the live calls.

A process that stopped mid-operation, or an operation that failed part-way in an older
version, can leave an agent held by a call that does not exist (`on_call` for ever, so
`agent_available` refuses). A restart must never refuse to start over that: `repair` settles
it, and says what it settled, for the log. Pure: the caller drives the engine (`tick`)
afterwards, which offers waiting calls to the agents freed here.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pbx.acd.agents import AgentState
from pbx.acd.engine import Engine
from pbx.acd.serial import require_utc


def repair(engine: Engine, live: Collection[str], now: datetime) -> list[str]:
    """Bring `engine` in line with the calls that exist (`live`, the call flow's): calls it
    holds that are not live are dropped, and an agent ringing for or on a call that does not
    exist is made available. Returns one line per repair."""
    now = require_utc(now)
    notes: list[str] = []
    for call_id, call in list(engine.active.items()):
        agent = engine.agents.get(call.agent_id)
        holds = agent is not None and agent.state is AgentState.ON_CALL and agent.call_id == call_id
        if call_id not in live or not holds:
            del engine.active[call_id]
            notes.append(f"call {call_id} of agent {call.agent_id} does not exist: dropped")
    for call_id in [c for c in engine.callbacks if c not in engine.active]:
        del engine.callbacks[call_id]  # its customer is dialled no more
    for agent_id, call in list(engine.transfers.items()):
        agent = engine.agents.get(agent_id)
        held = agent is not None and agent.call_id == call.call_id and agent.state in (
            AgentState.RINGING, AgentState.ON_CALL
        )  # fmt: skip
        if call.call_id not in live or not held:
            del engine.transfers[agent_id]
            notes.append(f"transfer of call {call.call_id} to agent {agent_id} is over: dropped")
    rung: set[tuple[str, str]] = set()
    for queue in engine.queues.values():
        for entry in list(queue.waiting):
            if entry.call_id not in live:
                queue.remove(entry.call_id)
                notes.append(f"call {entry.call_id} waiting in {queue.name} does not exist: "
                             "dropped")  # fmt: skip
                continue
            ringing = [a for a in entry.ringing if _rings(engine, a, entry.call_id)]
            if ringing != entry.ringing:
                entry.ringing = ringing
                entry.ring_deadline = entry.ring_deadline if ringing else None
            rung.update((a, entry.call_id) for a in ringing)
    for agent in engine.agents.values():
        if agent.state is AgentState.ON_CALL:
            active = engine.active.get(agent.call_id or "")
            if agent.agent_id in engine.transfers or (
                active is not None and active.agent_id == agent.agent_id
            ):
                continue
        elif agent.state is AgentState.RINGING:
            transfer = engine.transfers.get(agent.agent_id)
            if (agent.agent_id, agent.call_id) in rung or transfer is not None:
                continue
        else:
            continue
        notes.append(f"agent {agent.agent_id} was {agent.state.value} on call {agent.call_id}, "
                     "which does not exist: now available")  # fmt: skip
        agent.free(now)
        # Removed by an admin while on that call: the next roster change drops them now
        # (`apply_config`); left marked, they would be dropped after some later call.
        engine.retiring.discard(agent.agent_id)
    return notes


def _rings(engine: Engine, agent_id: str, call_id: str) -> bool:
    agent = engine.agents.get(agent_id)
    return agent is not None and agent.state is AgentState.RINGING and agent.call_id == call_id
