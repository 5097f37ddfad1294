"""What the call flow is configured with (routes, queues, agents) and how a new version of
it is applied to a running ACD (pure).

The ACD knows queues by a key that is unique across tenants (`queue_key`) and agents by
their user id as a string, so one engine can serve every business on an Asterisk node.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pbx.acd.agents import Agent, Membership
from pbx.acd.commands import Command
from pbx.acd.engine import Engine
from pbx.acd.queues import QueueConfig
from pbx.callflow.routing import Route


def queue_key(tenant_id: int, name: str) -> str:
    return f"{tenant_id}:{name}"


def agent_key(user_id: int) -> str:
    return str(user_id)


@dataclass(frozen=True, slots=True)
class QueueSettings:
    tenant_id: int
    queue_id: int
    name: str
    acd: QueueConfig  # acd.name is the queue key
    music_class: str = "default"
    recording_policy: str | None = None  # None: as the call's inbound route says


@dataclass(frozen=True, slots=True)
class AgentProfile:
    tenant_id: int
    user_id: int
    name: str
    endpoint: str
    skills: Mapping[str, int] = field(default_factory=dict)
    memberships: Mapping[str, Membership] = field(default_factory=dict)  # by queue key

    @property
    def agent_id(self) -> str:
        return agent_key(self.user_id)


@dataclass(frozen=True, slots=True)
class TenantLine:
    """A business as the call flow sees it: how it presents itself on outgoing calls."""

    tenant_id: int
    caller_id: str  # E.164, the business's first DID
    timezone: str = "UTC"  # the business's (a customer's own, where their number tells it)


@dataclass(frozen=True)
class FlowConfig:
    routes: Mapping[str, Route] = field(default_factory=dict)  # by DID (E.164)
    queues: Mapping[str, QueueSettings] = field(default_factory=dict)  # by queue key
    agents: Mapping[str, AgentProfile] = field(default_factory=dict)  # by agent id
    tenants: Mapping[int, TenantLine] = field(default_factory=dict)

    def queue_by_id(self, queue_id: int) -> QueueSettings | None:
        return next((q for q in self.queues.values() if q.queue_id == queue_id), None)

    def music_for(self, queue: str | None) -> str | None:
        """The music a queue's callers hear (None: Asterisk's default class)."""
        settings = self.queues.get(queue or "")
        return settings.music_class if settings else None


@dataclass
class CurrentConfig:
    """The configuration the call flow runs now, replaced whole when an admin changes it;
    the call flow and its executor read it through this one holder."""

    value: FlowConfig = field(default_factory=FlowConfig)

    def __call__(self) -> FlowConfig:
        return self.value


def apply_config(
    engine: Engine,
    config: FlowConfig,
    now: datetime,
    answering: Container[tuple[str, str]] = frozenset(),
) -> list[Command]:
    """Bring the engine's queues and roster in line with `config`; waiting callers, agent
    states and calls in progress carry on (`answering`: as `Engine.tick` takes it)."""
    commands: list[Command] = []
    for settings in config.queues.values():
        engine.configure_queue(settings.acd)
    for agent_id in [a for a in engine.agents if a not in config.agents]:
        commands += engine.remove_agent(agent_id, now)
    for profile in config.agents.values():
        if profile.agent_id in engine.agents:
            commands += engine.update_agent(
                profile.agent_id, profile.endpoint, profile.skills, profile.memberships, now
            )
        else:
            engine.add_agent(
                Agent(
                    profile.agent_id,
                    profile.endpoint,
                    skills=dict(profile.skills),
                    memberships=dict(profile.memberships),
                )
            )
    for key in [k for k in engine.queues if k not in config.queues]:
        engine.remove_queue(key)  # kept until its last caller is served
    return commands + engine.tick(now, answering)
