"""A callback whose customer does not answer waits in its queue for the next attempt."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing_bridge.calling_window import CallingWindow
from pbx.acd.agents import AgentState
from pbx.acd.callback_rule import CallbackRule
from pbx.acd.commands import CallbackFailed, CallbackRetry, DialCallback, RingAgents, StartWrapUp
from pbx.acd.engine import Engine, InboundCall
from pbx.acd.errors import UnknownCall
from pbx.acd.queues import OverflowKind, QueueConfig
from tests.acd.support import T0, agent, at, engine_with, of_type

CALLER = "+97231234567"
JERUSALEM = ZoneInfo("Asia/Jerusalem")  # T0, 09:00 UTC, is 11:00 there


def callback_queue(rule: CallbackRule | None = None) -> QueueConfig:
    return QueueConfig(
        "sales", max_wait_s=60, overflow_kind=OverflowKind.CALLBACK, overflow_target="sales",
        wrapup_s=5, callback_rule=rule or CallbackRule(attempts=2, spacing_s=600),
    )  # fmt: skip


def dialling(rule: CallbackRule | None = None) -> Engine:
    """dana has answered c1's callback request: its customer is being dialled."""
    engine = engine_with(callback_queue(rule), agents=(agent("dana", state=AgentState.LOGGED_OUT),))
    engine.enqueue(InboundCall("c1", caller_number=CALLER), "sales", T0)
    engine.tick(at(60))
    engine.caller_hung_up("c1", at(61))
    engine.agent_available("dana", at(70))
    assert engine.answered("c1", "dana", at(72)) == [DialCallback("c1", "dana", CALLER, 1)]
    return engine


def test_an_unanswered_customer_puts_the_request_back_until_the_spacing_has_passed() -> None:
    engine = dialling()

    commands = engine.callback_not_answered("c1", JERUSALEM, at(100))

    assert commands[0] == CallbackRetry("c1", 2, at(700))
    assert of_type(commands, StartWrapUp)  # the agent's part of it ended
    assert [e.call_id for e in engine.queues["sales"].waiting] == ["c1"]
    engine.agent_available("dana", at(110))  # free early: still nothing to ring
    assert engine.tick(at(699)) == []
    assert of_type(engine.tick(at(700)), RingAgents) == [
        RingAgents("c1", "sales", ("dana",), ("PJSIP/dana",), 15, callback_number=CALLER)
    ]
    assert engine.answered("c1", "dana", at(702)) == [DialCallback("c1", "dana", CALLER, 2)]


def test_the_last_unanswered_attempt_ends_the_request() -> None:
    engine = dialling()
    engine.callback_not_answered("c1", JERUSALEM, at(100))
    engine.agent_available("dana", at(110))
    engine.tick(at(700))
    engine.answered("c1", "dana", at(702))

    commands = engine.callback_not_answered("c1", JERUSALEM, at(730))

    assert commands[0] == CallbackFailed("c1", 2)
    assert engine.queues["sales"].waiting == [] and engine.callbacks == {}


def test_a_retry_that_would_fall_after_the_window_waits_for_the_customers_morning() -> None:
    engine = dialling(
        CallbackRule(attempts=3, spacing_s=600, window=CallingWindow(time(8), time(11, 5)))
    )

    commands = engine.callback_not_answered("c1", JERUSALEM, at(100))  # 11:01:40 there

    assert commands[0] == CallbackRetry("c1", 2, datetime(2025, 3, 4, 6, 0, tzinfo=UTC))


def test_a_waiting_retry_can_be_cancelled_like_any_callback_request() -> None:
    engine = dialling()
    engine.callback_not_answered("c1", JERUSALEM, at(100))

    engine.cancel_callback("c1", at(200))

    assert engine.queues["sales"].waiting == []


def test_a_call_not_being_dialled_as_a_callback_is_refused() -> None:
    engine = dialling()
    engine.callback_not_answered("c1", JERUSALEM, at(100))

    with pytest.raises(UnknownCall):
        engine.callback_not_answered("c1", JERUSALEM, at(101))


def test_the_attempts_and_the_callback_being_dialled_survive_a_restart() -> None:
    engine = dialling()

    restored = Engine.from_dict(engine.to_dict())

    assert restored.callbacks["c1"].attempts == 1
    commands = restored.callback_not_answered("c1", JERUSALEM, at(100))
    assert commands[0] == CallbackRetry("c1", 2, T0 + timedelta(seconds=700))
    again = Engine.from_dict(restored.to_dict())
    assert again.queues["sales"].waiting[0].retry_at == at(700)
    assert again.queues["sales"].config.callback_rule == CallbackRule(attempts=2, spacing_s=600)
