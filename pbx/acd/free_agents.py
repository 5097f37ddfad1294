"""The free agents of each queue kept in the order `leastrecent` and `linear` ring them, so
a new call finds its agent without a pass over every free agent (with hundreds free, that
pass ran for every call).

One heap per queue of entries (penalty, [last call ended,] member order, agent id, stamp),
that is the strategy's order within the lowest penalty tier (`strategies.py`). Entries are
not removed when an agent stops being free; they are dropped when they reach the top and
no longer match the agent: it is not available, left the queue, or was filed again since
(its stamp). A key can only have grown since it was filed (an agent's last call ends
later; an admin's change files the agent again), so an entry that reaches the top with an
older key is filed again with the new one, and the first entry found current is the
strategy's choice.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from pbx.acd.agents import Agent, AgentState
from pbx.acd.queues import Queue, Strategy

INDEXED = frozenset({Strategy.LEASTRECENT, Strategy.LINEAR})
_NEVER = datetime.min.replace(tzinfo=UTC)  # never-called agents waited longest

Key = tuple[object, ...]
Entry = tuple[Key, int, str]  # key, stamp (unique: ties never reach the id), agent id


def _key(agent: Agent, queue: str, strategy: Strategy) -> Key | None:
    membership = agent.memberships.get(queue)
    if membership is None:
        return None
    if strategy is Strategy.LEASTRECENT:
        ended = agent.last_call_ended_at or _NEVER
        return (membership.penalty, ended, membership.order, agent.agent_id)
    return (membership.penalty, membership.order, agent.agent_id)


class FreeAgents:
    def __init__(self) -> None:
        self._heaps: dict[str, list[Entry]] = {}
        self._strategies: dict[str, Strategy] = {}  # what each heap is ordered for
        self._stamps: dict[tuple[str, str], int] = {}  # (queue, agent) -> its current entry
        self._counter = itertools.count()

    def file(self, agent: Agent) -> None:
        """The agent is available, or changed while available: file it in its queues."""
        for queue in agent.memberships:
            strategy = self._strategies.get(queue)
            if strategy is None:
                continue
            self._push(queue, strategy, agent)
            if len(self._heaps[queue]) > 2 * len(self._stamps) + 64:  # mostly stale entries
                del self._heaps[queue], self._strategies[queue]  # the next pick builds it

    def forget_queue(self, queue: str) -> None:
        self._heaps.pop(queue, None)
        self._strategies.pop(queue, None)
        self._stamps = {key: stamp for key, stamp in self._stamps.items() if key[0] != queue}

    def forget_agent(self, agent_id: str) -> None:
        """The agent left the roster: its entries go stale, its stamps go now."""
        self._stamps = {key: stamp for key, stamp in self._stamps.items() if key[1] != agent_id}

    def pick(
        self,
        queue: Queue,
        agents: Mapping[str, Agent],
        available: Iterable[Agent],
        tried: set[str],
    ) -> Agent | None:
        """The agent `leastrecent` or `linear` rings next for a call of `queue`: the first
        in order of the lowest tier among available members with the required skills not
        yet `tried`. `available` (every available agent) builds the heap when first used."""
        name, strategy = queue.name, queue.config.strategy
        if self._strategies.get(name) is not strategy:  # first use, or the queue changed
            self._rebuild(name, strategy, available)
        heap = self._heaps[name]
        required = queue.config.required_skills
        passed: list[Entry] = []
        found = None
        while heap:
            key, stamp, agent_id = heap[0]
            agent = agents.get(agent_id)
            if (
                agent is None
                or agent.state is not AgentState.AVAILABLE
                or self._stamps.get((name, agent_id)) != stamp
            ):
                heapq.heappop(heap)
                continue
            current = _key(agent, name, strategy)
            if current != key:  # filed before its last call's end was noted, or left
                heapq.heappop(heap)
                if current is not None:
                    self._push(name, strategy, agent)
                continue
            if agent_id in tried or (required and not agent.has_skills(required)):
                passed.append(heapq.heappop(heap))
                continue
            found = agent
            break
        for entry in passed:
            heapq.heappush(heap, entry)
        return found

    def _push(self, queue: str, strategy: Strategy, agent: Agent) -> None:
        key = _key(agent, queue, strategy)
        if key is None:
            return
        stamp = next(self._counter)
        self._stamps[(queue, agent.agent_id)] = stamp
        heapq.heappush(self._heaps[queue], (key, stamp, agent.agent_id))

    def _rebuild(self, queue: str, strategy: Strategy, available: Iterable[Agent]) -> None:
        self._strategies[queue] = strategy
        self._heaps[queue] = []
        for agent in available:
            self._push(queue, strategy, agent)
