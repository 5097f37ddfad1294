"""Agents' states, click-to-call and the live queues on the desk."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pbx.desk.commands import AgentStateOf, AgentStates, ClickToCall, QueueStats, SetAgentState
from pbx.desk.errors import NotFound
from pbx.desk.ports import AgentProfile, QueueSnapshot
from pbx.desk.results import CallStarted, QueueStat
from tests.desk.fakes import AVI, DANA, NOW, OTHER_BUSINESS, SAM, dana, desk_with, sam


async def test_an_agent_who_pauses_is_answered_with_their_new_state() -> None:
    desk, _, _ = desk_with()

    state = await desk.run(SetAgentState(DANA, "paused", "lunch"), dana)

    assert (state.state, state.pause_reason) == ("paused", "lunch")  # type: ignore[union-attr]


async def test_an_agent_never_logged_in_is_logged_out() -> None:
    desk, _, _ = desk_with()

    state = await desk.run(AgentStateOf(AVI), sam)

    assert state.state == "logged_out"  # type: ignore[union-attr]


async def test_an_agent_of_another_business_is_not_found() -> None:
    desk, live, _ = desk_with()
    live.profiles[99] = AgentProfile(99, OTHER_BUSINESS)

    with pytest.raises(NotFound):
        await desk.run(SetAgentState(99, "available"), sam)
    assert 99 not in live.states


async def test_the_supervisor_sees_every_agent_of_their_business_in_order() -> None:
    desk, live, _ = desk_with()
    live.profiles[99] = AgentProfile(99, OTHER_BUSINESS)

    listed = await desk.run(AgentStates(), sam)

    assert [s.agent_id for s in listed.items] == [DANA, AVI, SAM]  # type: ignore[union-attr]


async def test_click_to_call_answers_with_the_new_calls_id() -> None:
    desk, live, _ = desk_with()

    started = await desk.run(ClickToCall(DANA, "+972501112222"), dana)

    assert started == CallStarted("out-1") and live.done == [("click_to_call", "+972501112222")]


async def test_queue_stats_count_the_waiting_the_longest_wait_and_agents_by_state() -> None:
    desk, live, _ = desk_with()
    live.snapshots = [
        QueueSnapshot(2, "support", (NOW - timedelta(seconds=90), NOW - timedelta(seconds=5)),
                      ("available", "on_call", "available")),
        QueueSnapshot(1, "billing", (), ()),
    ]  # fmt: skip

    stats = await desk.run(QueueStats(), sam)

    assert stats.items == (  # type: ignore[union-attr]
        QueueStat(1, "billing", 0, 0, {}),
        QueueStat(2, "support", 2, 90, {"available": 2, "on_call": 1}),
    )
