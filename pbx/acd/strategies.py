"""Which agent(s) to ring for a queue's call: eligibility, penalty tiers, then the strategy.

1. Eligible: a member of the queue, available (so not ringing for another call, not on a call,
   not in wrap-up, not paused, logged in) and holding the queue's required skills.
2. Not yet tried for this call in the current round, so a retry moves on to the next agent;
   once everyone eligible has been tried, a new round starts from all of them.
3. Lowest penalty tier only: higher penalties are rung only when no lower-penalty agent is
   eligible, as app_queue does.
4. The queue's strategy picks within that tier, which is sorted by member order
   (`Membership.order`, then agent id) so every choice is deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from pbx.acd.agents import Agent, AgentState
from pbx.acd.queues import Queue, Strategy

# Never-called agents rank as having waited longest since their last call.
_NEVER = datetime.min.replace(tzinfo=UTC)

Pick = Callable[[list[Agent], Queue, random.Random, datetime], list[Agent]]


def member_key(agent: Agent, queue: str) -> tuple[int, str]:
    return (agent.memberships[queue].order, agent.agent_id)


def eligible_agents(queue: Queue, agents: Iterable[Agent]) -> list[Agent]:
    required = queue.config.required_skills
    found = [
        agent
        for agent in agents
        if agent.is_member(queue.name)
        and agent.state is AgentState.AVAILABLE
        and agent.has_skills(required)
    ]
    return sorted(found, key=lambda agent: member_key(agent, queue.name))


def lowest_penalty_tier(queue: Queue, agents: Sequence[Agent]) -> list[Agent]:
    if not agents:
        return []
    lowest = min(agent.penalty(queue.name) for agent in agents)
    return [agent for agent in agents if agent.penalty(queue.name) == lowest]


def choose_agents(
    queue: Queue,
    agents: Iterable[Agent],
    *,
    tried: Iterable[str],
    rng: random.Random,
    now: datetime,
) -> list[Agent]:
    """The agents to ring now for this queue's call; empty when nobody can take it."""
    eligible = eligible_agents(queue, agents)
    already = set(tried)
    untried = [agent for agent in eligible if agent.agent_id not in already]
    tier = lowest_penalty_tier(queue, untried or eligible)
    if not tier:
        return []
    return _STRATEGIES[queue.config.strategy](tier, queue, rng, now)


def _ringall(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    return list(tier)


def _leastrecent(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    # min() keeps the first of equals, and the tier is in member order: ties go to the first.
    return [min(tier, key=lambda agent: agent.last_call_ended_at or _NEVER)]


def _fewestcalls(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    return [min(tier, key=lambda agent: agent.calls_today(now))]


def _rrmemory(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    # The first member after the one rung last in this queue, wrapping round; the memory is a
    # member key rather than a list index so members joining or leaving do not shift it.
    if queue.rr_last is not None:
        for agent in tier:
            if member_key(agent, queue.name) > queue.rr_last:
                return [agent]
    return [tier[0]]


def _linear(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    # Always from the first member; the per-call `tried` list is what moves a retry along.
    return [tier[0]]


def _random(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    return [rng.choice(tier)]


_STRATEGIES: dict[Strategy, Pick] = {
    Strategy.RINGALL: _ringall,
    Strategy.LEASTRECENT: _leastrecent,
    Strategy.FEWESTCALLS: _fewestcalls,
    Strategy.RRMEMORY: _rrmemory,
    Strategy.LINEAR: _linear,
    Strategy.RANDOM: _random,
}
