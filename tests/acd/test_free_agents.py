"""The free-agent index picks exactly whom `choose_agents` picks, through random shifts of
states, call ends, penalties, member order, skills, tried agents and strategy."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from pbx.acd.agents import Agent, AgentState, Membership
from pbx.acd.engine import Engine, InboundCall
from pbx.acd.free_agents import FreeAgents
from pbx.acd.queues import Queue, QueueConfig, Strategy
from pbx.acd.strategies import choose_agents
from tests.acd.support import T0

QUEUES = ("sales", "support")


class Roster:
    """Agents wired to an index as the engine wires them (filed when available)."""

    def __init__(self, rng: random.Random, size: int) -> None:
        self.rng = rng
        self.index = FreeAgents()
        self.agents: dict[str, Agent] = {}
        self.now = T0
        for n in range(size):
            agent = Agent(f"a{n:02d}", f"PJSIP/{n}", skills={"he": rng.randint(0, 3)})
            agent.memberships = self._memberships()
            agent.on_change = self._changed
            self.agents[agent.agent_id] = agent
            agent.log_in(self.now)

    def _memberships(self) -> dict[str, Membership]:
        chosen = [q for q in QUEUES if self.rng.random() < 0.8]
        return {q: Membership(self.rng.randint(0, 2), self.rng.randint(0, 5)) for q in chosen}

    def _changed(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        if agent.state is AgentState.AVAILABLE:
            self.index.file(agent)

    def available(self) -> list[Agent]:
        return [a for a in self.agents.values() if a.state is AgentState.AVAILABLE]

    def shake(self) -> None:
        """One random thing happens to one agent, as calls and admins make it happen."""
        self.now += timedelta(seconds=self.rng.randint(0, 3))  # ends may share a second
        agent = self.rng.choice(list(self.agents.values()))
        state, roll = agent.state, self.rng.random()
        if state is AgentState.AVAILABLE and roll < 0.5:
            agent.offer("call", self.now)
        elif state is AgentState.AVAILABLE and roll < 0.6:
            agent.pause("lunch", self.now)
        elif state is AgentState.AVAILABLE and roll < 0.75:
            agent.memberships = self._memberships()  # an admin's change, as `update_agent`
            self.index.file(agent)
        elif state is AgentState.RINGING:
            if roll < 0.3:
                agent.withdraw_offer(self.now)
            else:
                agent.answer("call", self.now)
        elif state is AgentState.ON_CALL:
            agent.end_call(self.now, wrapup_s=0 if roll < 0.7 else 5)
        elif state is AgentState.WRAP_UP:
            agent.end_wrap_up(self.now)
        elif state is AgentState.PAUSED:
            agent.unpause(self.now)


@pytest.mark.parametrize("seed", range(12))
def test_the_index_picks_whom_a_pass_over_every_free_agent_picks(seed: int) -> None:
    rng = random.Random(seed)
    roster = Roster(rng, size=40)
    strategies = (Strategy.LEASTRECENT, Strategy.LINEAR)
    queues = {name: Queue(QueueConfig(name, strategy=strategies[0])) for name in QUEUES}
    for step in range(1500):
        roster.shake()
        if step % 300 == 299:  # an admin switches a queue's strategy or required skills
            name = rng.choice(QUEUES)
            skills = {"he": rng.randint(1, 3)} if rng.random() < 0.5 else {}
            config = QueueConfig(name, strategy=rng.choice(strategies), required_skills=skills)
            queues[name] = Queue(config)
        queue = queues[rng.choice(QUEUES)]
        available = roster.available()
        tried = set(rng.sample([a.agent_id for a in available], min(len(available), 3)))

        expected = choose_agents(queue, available, tried=tried, rng=rng, now=roster.now)
        found = roster.index.pick(queue, roster.agents, available, tried)
        if found is None and tried:
            found = roster.index.pick(queue, roster.agents, available, set())

        assert ([found] if found else []) == expected, (seed, step)


def test_an_index_that_grew_stale_entries_is_built_anew_and_still_picks_right() -> None:
    rng = random.Random(7)
    roster = Roster(rng, size=5)
    queue = Queue(QueueConfig("sales", strategy=Strategy.LEASTRECENT))
    roster.index.pick(queue, roster.agents, roster.available(), set())  # built
    for _ in range(2000):  # filed again and again while nobody takes a call
        for agent in roster.available():
            roster.index.file(agent)

    available = roster.available()
    expected = choose_agents(queue, available, tried=(), rng=rng, now=roster.now)
    assert [roster.index.pick(queue, roster.agents, available, set())] == expected
    assert len(roster.index._heaps.get("sales", [])) <= 2 * len(roster.index._stamps) + 64


def test_a_removed_queue_and_agent_leave_nothing_behind_in_the_index() -> None:
    engine = Engine(random.Random(1))
    engine.configure_queue(QueueConfig("sales", strategy=Strategy.LEASTRECENT))
    for name in ("a", "b"):
        engine.add_agent(Agent(name, f"PJSIP/{name}", memberships={"sales": Membership()}))
        engine.agent_available(name, T0)
    engine.enqueue(InboundCall("c-1"), "sales", T0)  # builds the queue's heap
    engine.caller_hung_up("c-1", T0)

    engine.remove_agent("b", T0)
    assert all(agent != "b" for _, agent in engine._free._stamps)
    engine.remove_queue("sales")
    assert "sales" not in engine._free._heaps and not engine._free._stamps
