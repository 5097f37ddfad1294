from collections.abc import Callable
from datetime import timedelta

import pytest

from pbx.acd.agents import RING_NO_ANSWER, Agent, AgentState
from pbx.acd.errors import InvalidTransition
from tests.acd.support import T0, agent, at

S = AgentState


def test_a_new_agent_is_logged_out_until_they_log_in() -> None:
    dana = Agent("dana", "PJSIP/1001")
    assert dana.state is S.LOGGED_OUT

    dana.log_in(T0)

    assert dana.state is S.AVAILABLE
    assert dana.state_since == T0


def test_an_offered_call_rings_the_agent_and_answering_puts_them_on_it() -> None:
    dana = agent("dana")

    dana.offer("call-1", at(1))
    assert (dana.state, dana.call_id) == (S.RINGING, "call-1")

    dana.answer("call-1", at(3))
    assert (dana.state, dana.call_id) == (S.ON_CALL, "call-1")


def test_an_agent_cannot_answer_a_call_that_is_not_ringing_them() -> None:
    dana = agent("dana")
    dana.offer("call-1", T0)

    with pytest.raises(InvalidTransition, match="ringing for call-1, not call-2"):
        dana.answer("call-2", at(1))
    assert dana.state is S.RINGING


def test_ring_no_answer_pauses_the_agent_with_that_reason() -> None:
    dana = agent("dana")
    dana.offer("call-1", T0)

    dana.ring_no_answer(at(15))

    assert (dana.state, dana.pause_reason, dana.call_id) == (S.PAUSED, RING_NO_ANSWER, None)


def test_a_call_ending_starts_wrap_up_that_lasts_the_wrapup_seconds() -> None:
    dana = agent("dana")
    dana.offer("call-1", T0)
    dana.answer("call-1", at(2))

    until = dana.end_call(at(60), wrapup_s=30)

    assert until == at(90)
    assert (dana.state, dana.wrap_up_until, dana.last_call_ended_at) == (S.WRAP_UP, at(90), at(60))
    assert not dana.wrap_up_due(at(89))
    assert dana.wrap_up_due(at(90))
    dana.end_wrap_up(at(90))
    assert dana.state is S.AVAILABLE


def test_a_call_ending_without_wrapup_makes_the_agent_available_at_once() -> None:
    dana = agent("dana")
    dana.offer("call-1", T0)
    dana.answer("call-1", at(2))

    assert dana.end_call(at(60), wrapup_s=0) is None
    assert dana.state is S.AVAILABLE


def test_calls_taken_counts_todays_calls_and_starts_again_the_next_day() -> None:
    dana = agent("dana")
    for day in (0, 0, 1):
        when = T0 + timedelta(days=day)
        dana.offer("c", when)
        dana.answer("c", when)
        dana.end_call(when, wrapup_s=0)

    assert dana.calls_today(T0 + timedelta(days=1)) == 1
    assert dana.calls_today(T0 + timedelta(days=2)) == 0


def test_pausing_a_paused_agent_changes_the_reason_and_unpausing_clears_it() -> None:
    dana = agent("dana")
    dana.pause("coffee", T0)
    dana.pause("lunch", at(1))
    assert dana.pause_reason == "lunch"

    dana.unpause(at(2))
    assert (dana.state, dana.pause_reason) == (S.AVAILABLE, None)


def _offer(a: Agent) -> None:
    a.offer("call-9", T0)


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (S.LOGGED_OUT, _offer),
        (S.PAUSED, _offer),
        (S.WRAP_UP, _offer),
        (S.ON_CALL, lambda a: a.log_out(T0)),
        (S.RINGING, lambda a: a.log_out(T0)),
        (S.ON_CALL, lambda a: a.pause("lunch", T0)),
        (S.AVAILABLE, lambda a: a.answer("call-9", T0)),
        (S.AVAILABLE, lambda a: a.end_call(T0, 0)),
        (S.AVAILABLE, lambda a: a.unpause(T0)),
        (S.AVAILABLE, lambda a: a.log_in(T0)),
        (S.PAUSED, lambda a: a.ring_no_answer(T0)),
        (S.AVAILABLE, lambda a: a.end_wrap_up(T0)),
    ],
)
def test_a_transition_the_state_does_not_allow_is_refused_and_changes_nothing(
    state: AgentState, action: Callable[[Agent], object]
) -> None:
    dana = agent("dana", state=state)
    before = dana.to_dict()

    with pytest.raises(InvalidTransition) as refused:
        action(dana)

    assert refused.value.state == state
    assert dana.to_dict() == before


def test_skills_are_met_only_at_or_above_the_required_level() -> None:
    dana = agent("dana", skills={"hebrew": 2, "collections": 1})

    assert dana.has_skills({})
    assert dana.has_skills({"hebrew": 2, "collections": 0})
    assert not dana.has_skills({"hebrew": 3})
    assert not dana.has_skills({"arabic": 0})


def test_an_agent_mid_call_round_trips_through_a_dict() -> None:
    dana = agent("dana", "sales", "collections", penalty=2, order=3, skills={"hebrew": 2})
    dana.endpoint = "Local/+972501234567@ledgerline-outbound"
    dana.offer("call-1", T0)
    dana.answer("call-1", at(1))
    dana.end_call(at(50), wrapup_s=10)

    assert Agent.from_dict(dana.to_dict()) == dana
