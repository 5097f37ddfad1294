"""Which agent(s) to ring for a queue's call: eligibility, penalty tiers, then the strategy.

1. Eligible: a member of the queue, available (so not ringing for another call, not on a call,
   not in wrap-up, not paused, logged in) and holding the queue's required skills.
2. Not yet tried for this call in the current round, so a retry moves on to the next agent;
   once everyone eligible has been tried, a new round starts from all of them.
3. Lowest penalty tier only: higher penalties are rung only when no lower-penalty agent is
   eligible, as app_queue does.
4. The queue's strategy picks within that tier; ties go by member order (`Membership.order`,
   then agent id) so every choice is deterministic. The tier is not sorted unless the strategy
   needs the order (ringall, random): with hundreds of agents free, this runs for every call.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime

from pbx.acd.agents import Agent, AgentState
from pbx.acd.queues import Queue, Strategy

# Never-called agents rank as having waited longest since their last call.
_NEVER = datetime.min.replace(tzinfo=UTC)

Pick = Callable[[list[Agent], Queue, random.Random, datetime], list[Agent]]


def member_key(agent: Agent, queue: str) -> tuple[int, str]:
    return (agent.memberships[queue].order, agent.agent_id)


def choose_agents(
    queue: Queue,
    agents: Collection[Agent],
    *,
    tried: Iterable[str],
    rng: random.Random,
    now: datetime,
) -> list[Agent]:
    """The agents to ring now for this queue's call; empty when nobody can take it."""
    already = set(tried)
    tier = _lowest_tier(queue, agents, already)
    if not tier and already:
        tier = _lowest_tier(queue, agents, set())  # everyone eligible was tried: a new round
    if not tier:
        return []
    return _STRATEGIES[queue.config.strategy](tier, queue, rng, now)


def _lowest_tier(queue: Queue, agents: Iterable[Agent], tried: set[str]) -> list[Agent]:
    """Steps 1-3 in one pass, as this runs for every call over every free agent."""
    name, required = queue.name, queue.config.required_skills
    available = AgentState.AVAILABLE
    tier: list[Agent] = []
    lowest = 0
    for agent in agents:
        membership = agent.memberships.get(name)
        if (
            membership is None
            or agent.state is not available
            or agent.agent_id in tried
            or (required and not agent.has_skills(required))
        ):
            continue
        penalty = membership.penalty
        if not tier or penalty < lowest:
            tier, lowest = [agent], penalty
        elif penalty == lowest:
            tier.append(agent)
    return tier


def _in_member_order(tier: list[Agent], queue: Queue) -> list[Agent]:
    name = queue.name
    return sorted(tier, key=lambda agent: member_key(agent, name))


def _ringall(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    return _in_member_order(tier, queue)


def _leastrecent(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    # The longest idle first, then member order among equals; no key tuple per agent, as
    # the tier can be hundreds of agents long.
    longest = min(agent.last_call_ended_at or _NEVER for agent in tier)
    ties = [agent for agent in tier if (agent.last_call_ended_at or _NEVER) == longest]
    return _linear(ties, queue, rng, now)


def _fewestcalls(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    name = queue.name
    return [min(tier, key=lambda a: (a.calls_today(now), member_key(a, name)))]


def _rrmemory(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    # The first member after the one rung last in this queue, wrapping round; the memory is a
    # member key rather than a list index so members joining or leaving do not shift it.
    name = queue.name

    def key(agent: Agent) -> tuple[int, str]:
        return member_key(agent, name)

    last = queue.rr_last
    after = [agent for agent in tier if last is not None and key(agent) > last]
    return [min(after or tier, key=key)]


def _linear(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    # Always from the first member; the per-call `tried` list is what moves a retry along.
    name = queue.name
    return [min(tier, key=lambda agent: member_key(agent, name))]


def _random(tier: list[Agent], queue: Queue, rng: random.Random, now: datetime) -> list[Agent]:
    return [rng.choice(_in_member_order(tier, queue))]


_STRATEGIES: dict[Strategy, Pick] = {
    Strategy.RINGALL: _ringall,
    Strategy.LEASTRECENT: _leastrecent,
    Strategy.FEWESTCALLS: _fewestcalls,
    Strategy.RRMEMORY: _rrmemory,
    Strategy.LINEAR: _linear,
    Strategy.RANDOM: _random,
}
