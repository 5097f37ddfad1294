import random
from datetime import timedelta

import pytest

from pbx.acd.agents import Agent, AgentState
from pbx.acd.engine import Engine, InboundCall
from pbx.acd.queues import Queue, QueueConfig, Strategy
from pbx.acd.strategies import choose_agents
from tests.acd.support import T0, agent, at, engine_with, rung


def serve(engine: Engine, calls: int, queue: str = "sales") -> list[tuple[str, ...]]:
    """Put calls through one at a time (each answered and finished); who was rung for each."""
    chosen = []
    for n in range(calls):
        start = 100 * n
        call_id = f"call-{n}"
        agent_ids = rung(engine.enqueue(InboundCall(call_id), queue, at(start)))[call_id]
        chosen.append(agent_ids)
        engine.answered(call_id, agent_ids[0], at(start + 1))
        engine.caller_hung_up(call_id, at(start + 10))
    return chosen


def three(strategy: Strategy, seed: int = 1) -> Engine:
    config = QueueConfig("sales", strategy=strategy)
    return engine_with(config, agents=(agent("a"), agent("b"), agent("c")), seed=seed)


def pick(queue: Queue, agents: list[Agent], tried: tuple[str, ...] = ()) -> list[str]:
    chosen = choose_agents(queue, agents, tried=tried, rng=random.Random(0), now=T0)
    return [a.agent_id for a in chosen]


def test_ringall_rings_every_eligible_agent_for_each_call() -> None:
    assert serve(three(Strategy.RINGALL), 2) == [("a", "b", "c"), ("a", "b", "c")]


def test_leastrecent_rings_the_agent_whose_last_call_ended_longest_ago() -> None:
    # Nobody has taken a call yet, so member order breaks the first three ties.
    assert serve(three(Strategy.LEASTRECENT), 5) == [("a",), ("b",), ("c",), ("a",), ("b",)]


def test_leastrecent_prefers_an_agent_who_never_took_a_call() -> None:
    engine = three(Strategy.LEASTRECENT)
    engine.agents["a"].last_call_ended_at = at(-50)
    engine.agents["b"].last_call_ended_at = at(-500)

    assert serve(engine, 3) == [("c",), ("b",), ("a",)]


def test_fewestcalls_rings_the_agent_with_fewest_calls_taken_today() -> None:
    engine = three(Strategy.FEWESTCALLS)
    engine.agents["a"].calls_taken, engine.agents["a"].calls_taken_on = 2, T0.date()
    engine.agents["b"].calls_taken, engine.agents["b"].calls_taken_on = 1, T0.date()
    # Yesterday's calls do not count against c.
    yesterday = (T0 - timedelta(days=1)).date()
    engine.agents["c"].calls_taken, engine.agents["c"].calls_taken_on = 9, yesterday

    # c (0), then b and c tie on 1 and member order picks b, then c (1), then all tie on 2.
    assert serve(engine, 4) == [("c",), ("b",), ("c",), ("a",)]


def test_rrmemory_goes_round_the_members_remembering_who_was_rung_last() -> None:
    assert serve(three(Strategy.RRMEMORY), 4) == [("a",), ("b",), ("c",), ("a",)]


def test_rrmemory_skips_a_busy_member_and_carries_on_after_the_one_it_rang() -> None:
    engine = three(Strategy.RRMEMORY)
    engine.agents["b"].state = AgentState.PAUSED

    assert serve(engine, 3) == [("a",), ("c",), ("a",)]


def test_linear_always_starts_from_the_first_member() -> None:
    engine = engine_with(
        QueueConfig("sales", strategy=Strategy.LINEAR),
        agents=(agent("a", order=3), agent("b", order=1), agent("c", order=2)),
    )
    assert serve(engine, 3) == [("b",), ("b",), ("b",)]

    engine.agents["b"].state = AgentState.PAUSED
    assert serve(engine, 1) == [("c",)]


def test_random_draws_from_the_injected_generator_so_a_seed_repeats_the_choices() -> None:
    first = serve(three(Strategy.RANDOM, seed=42), 30)
    again = serve(three(Strategy.RANDOM, seed=42), 30)
    other = serve(three(Strategy.RANDOM, seed=7), 30)

    assert first == again
    assert first != other
    assert {ids for ids in first} == {("a",), ("b",), ("c",)}


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_higher_penalty_tier_is_rung_only_when_no_lower_penalty_agent_is_available(
    strategy: Strategy,
) -> None:
    queue = Queue(QueueConfig("sales", strategy=strategy))
    low = agent("low", penalty=0)
    high = agent("high", penalty=5)

    assert pick(queue, [high, low]) == ["low"]
    low.state = AgentState.ON_CALL
    assert pick(queue, [high, low]) == ["high"]


def test_ringall_rings_the_whole_lowest_tier_and_nobody_above_it() -> None:
    queue = Queue(QueueConfig("sales"))
    members = [agent("a", penalty=1), agent("b", penalty=1), agent("c", penalty=2)]

    assert pick(queue, members) == ["a", "b"]


def test_agents_without_the_required_skills_are_not_rung() -> None:
    queue = Queue(QueueConfig("collections", required_skills={"hebrew": 2, "collections": 0}))
    members = [
        agent("novice", "collections", skills={"hebrew": 1, "collections": 1}),
        agent("no-collections", "collections", skills={"hebrew": 3}),
        agent("expert", "collections", skills={"hebrew": 2, "collections": 0}),
    ]

    assert pick(queue, members) == ["expert"]


def test_agents_of_other_queues_or_not_available_are_not_rung() -> None:
    queue = Queue(QueueConfig("sales"))
    members = [
        agent("support-only", "support"),
        agent("ringing", state=AgentState.RINGING),
        agent("wrapping", state=AgentState.WRAP_UP),
        agent("away", state=AgentState.PAUSED),
        agent("gone", state=AgentState.LOGGED_OUT),
    ]

    assert pick(queue, members) == []


def test_a_retry_moves_on_from_agents_already_tried_and_starts_a_new_round_after_all() -> None:
    queue = Queue(QueueConfig("sales", strategy=Strategy.LINEAR))
    members = [agent("a"), agent("b", penalty=1)]

    assert pick(queue, members, tried=("a",)) == ["b"]
    assert pick(queue, members, tried=("a", "b")) == ["a"]


def test_an_agent_ringing_for_one_call_is_not_rung_for_the_next() -> None:
    engine = three(Strategy.RINGALL)
    first = engine.enqueue(InboundCall("call-1"), "sales", T0)
    second = engine.enqueue(InboundCall("call-2"), "sales", at(1))

    assert rung(first) == {"call-1": ("a", "b", "c")}
    assert rung(second) == {}
    # Once a answers the first call, b and c are free again for the second.
    assert rung(engine.answered("call-1", "a", at(2))) == {"call-2": ("b", "c")}
