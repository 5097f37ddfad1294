"""What every handler gets (`Ports`) and the checks they share: whose call, whose agent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pbx.desk.commands import Actor
from pbx.desk.errors import Forbidden, NotFound
from pbx.desk.ports import AgentProfile, LiveCall, LiveCalls, Money
from pbx.desk.results import Result


@dataclass(frozen=True, slots=True)
class Ports:
    calls: LiveCalls
    money: Money


Handler = Callable[[Ports, Actor, Any], Awaitable[Result]]


def own_call(ports: Ports, actor: Actor, call_id: str) -> LiveCall:
    """The live call, if it is the actor's (a supervisor's: any in their business)."""
    call = ports.calls.call(call_id)
    if call is None or call.tenant_id != actor.tenant_id:
        raise NotFound("call not found")
    if not actor.supervisor and call.agent_user_id != actor.user_id:
        raise Forbidden("this is not your call")
    return call


def agent_of_tenant(ports: Ports, actor: Actor, agent_id: int) -> AgentProfile:
    profile = ports.calls.agent(agent_id)
    if profile is None or profile.tenant_id != actor.tenant_id:
        raise NotFound("agent not found (or it has no endpoint to ring)")
    return profile
