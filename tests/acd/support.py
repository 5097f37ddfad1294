"""Builders shared by the ACD tests: a fixed clock, agents and engines in one line each."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pbx.acd.agents import Agent, AgentState, Membership
from pbx.acd.commands import Command, RingAgents
from pbx.acd.engine import Engine
from pbx.acd.queues import QueueConfig

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
T = TypeVar("T")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def agent(
    agent_id: str,
    *queues: str,
    penalty: int = 0,
    order: int = 0,
    skills: dict[str, int] | None = None,
    state: AgentState = AgentState.AVAILABLE,
) -> Agent:
    return Agent(
        agent_id,
        endpoint=f"PJSIP/{agent_id}",
        skills=dict(skills or {}),
        memberships={queue: Membership(penalty, order) for queue in (queues or ("sales",))},
        state=state,
    )


def engine_with(*configs: QueueConfig, agents: tuple[Agent, ...] = (), seed: int = 1) -> Engine:
    engine = Engine(random.Random(seed))
    for config in configs:
        engine.configure_queue(config)
    for member in agents:
        engine.add_agent(member)
    return engine


def rung(commands: list[Command]) -> dict[str, tuple[str, ...]]:
    """Which agents each RingAgents command rings, by call."""
    return {c.call_id: c.agent_ids for c in commands if isinstance(c, RingAgents)}


def of_type(commands: list[Command], kind: type[T]) -> list[T]:
    return [command for command in commands if isinstance(command, kind)]
