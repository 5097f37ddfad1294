"""The retry rule of a callback whose customer did not answer."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing_bridge.calling_window import CallingWindow
from pbx.acd.callback_rule import CallbackRule, next_attempt

JERUSALEM = ZoneInfo("Asia/Jerusalem")


def test_a_retry_comes_the_spacing_after_the_failed_attempt_inside_the_window() -> None:
    failed = datetime(2026, 6, 1, 10, 0, tzinfo=JERUSALEM)

    assert next_attempt(CallbackRule(), 1, failed, JERUSALEM) == failed + timedelta(minutes=10)


def test_spacing_that_pushes_past_the_window_end_waits_for_the_next_morning() -> None:
    failed = datetime(2026, 6, 1, 20, 55, tzinfo=JERUSALEM)

    found = next_attempt(CallbackRule(), 2, failed, JERUSALEM)

    assert found == datetime(2026, 6, 2, 8, 0, tzinfo=JERUSALEM)


def test_spacing_past_the_end_on_the_night_the_clocks_change_keeps_local_eight() -> None:
    failed = datetime(2026, 3, 26, 20, 30, tzinfo=JERUSALEM)  # summer time starts at 02:00
    rule = CallbackRule(spacing_s=3600)

    found = next_attempt(rule, 1, failed, JERUSALEM)

    assert found is not None and found.astimezone(JERUSALEM).time() == time(8, 0)
    assert found - failed == timedelta(hours=10, minutes=30)  # one hour short of a wall night


def test_after_the_last_attempt_there_is_no_other() -> None:
    failed = datetime(2026, 6, 1, 10, 0, tzinfo=JERUSALEM)

    assert next_attempt(CallbackRule(attempts=3), 3, failed, JERUSALEM) is None
    assert next_attempt(CallbackRule(attempts=1), 1, failed, JERUSALEM) is None


def test_a_queue_window_other_than_the_default_is_kept() -> None:
    rule = CallbackRule(window=CallingWindow(time(9), time(17)))
    failed = datetime(2026, 6, 1, 16, 55, tzinfo=JERUSALEM)

    assert next_attempt(rule, 1, failed, JERUSALEM) == datetime(2026, 6, 2, 9, tzinfo=JERUSALEM)
    assert CallbackRule.from_dict(rule.to_dict()) == rule


@pytest.mark.parametrize(("attempts", "spacing_s"), [(0, 600), (11, 600), (3, 59), (3, 10**9)])
def test_a_rule_out_of_bounds_is_refused(attempts: int, spacing_s: int) -> None:
    with pytest.raises(ValueError, match="callback"):
        CallbackRule(attempts, spacing_s)
