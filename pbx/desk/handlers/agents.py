"""Agents' states, click-to-call and the live queues."""

from __future__ import annotations

from pbx.desk.commands import (
    Actor,
    AgentStateOf,
    AgentStates,
    ClickToCall,
    QueueStats,
    SetAgentState,
)
from pbx.desk.handlers.common import Ports, agent_of_tenant
from pbx.desk.results import AgentStateList, AgentStateView, CallStarted, QueueStat, QueueStatList


async def agent_states(ports: Ports, actor: Actor, command: AgentStates) -> AgentStateList:
    ids = sorted(ports.calls.agents(actor.tenant_id))
    return AgentStateList(tuple(ports.calls.agent_state(ident) for ident in ids))


async def agent_state_of(ports: Ports, actor: Actor, command: AgentStateOf) -> AgentStateView:
    agent_of_tenant(ports, actor, command.agent_id)
    return ports.calls.agent_state(command.agent_id)


async def set_agent_state(ports: Ports, actor: Actor, command: SetAgentState) -> AgentStateView:
    agent_of_tenant(ports, actor, command.agent_id)
    await ports.calls.set_agent_state(command.agent_id, command.state, command.reason)
    return ports.calls.agent_state(command.agent_id)


async def click_to_call(ports: Ports, actor: Actor, command: ClickToCall) -> CallStarted:
    agent_of_tenant(ports, actor, command.agent_id)
    call_id = await ports.calls.click_to_call(
        actor.tenant_id, command.agent_id, command.number, command.customer_id
    )
    return CallStarted(call_id)


async def queue_stats(ports: Ports, actor: Actor, command: QueueStats) -> QueueStatList:
    """Each queue of the tenant: callers waiting, the longest wait, agents by state."""
    now = ports.calls.now()
    items = []
    for queue in ports.calls.queues(actor.tenant_id):
        waits = (int((now - since).total_seconds()) for since in queue.waiting_since)
        states: dict[str, int] = {}
        for state in queue.member_states:
            states[state] = states.get(state, 0) + 1
        items.append(QueueStat(queue.queue_id, queue.name, len(queue.waiting_since),
                               max(waits, default=0), states))  # fmt: skip
    return QueueStatList(tuple(sorted(items, key=lambda item: item.name)))
