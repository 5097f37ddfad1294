"""The worklist's pure rules: the score and its parts, why an account is listed, and each
compliance rule (the calling window on the customer's clock across both DST changes,
holidays, the attempts cap at its boundary, do-not-call, a dispute, a promise, a plan)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from billing_bridge.collections.errors import Invalid
from billing_bridge.worklist import rules

VILNIUS = ZoneInfo("Europe/Vilnius")
POLICY = rules.Policy()
CLEAR = rules.Facts(zone=VILNIUS, attempts_in_window=0, customer_do_not_call=False,
                    number_listed=False, dispute=False, promise=False, plan=False)  # fmt: skip
NOON = datetime(2027, 3, 16, 10, 0, tzinfo=UTC)  # 12:00 in Vilnius


def test_the_score_adds_up_its_capped_parts() -> None:
    score = rules.score(overdue_minor=123_456, days_overdue=40, days_since_contact=12,
                        broken_promises=2)  # fmt: skip
    assert (score.amount, score.days_overdue, score.no_contact, score.broken_promises) == (
        123, 80, 12, 100)
    assert score.total == 315


def test_no_part_of_the_score_grows_past_its_cap() -> None:
    score = rules.score(10**12, 10_000, 10_000, 99)
    assert score == rules.Score(rules.AMOUNT_CAP, rules.DAY_POINTS * rules.DAYS_CAP,
                                rules.CONTACT_CAP,
                                rules.BROKEN_POINTS * rules.BROKEN_CAP)  # fmt: skip


def test_a_customer_never_contacted_counts_as_quiet_since_the_account_fell_overdue() -> None:
    assert rules.score(0, 25, None, 0).no_contact == 25


def test_more_owed_for_longer_scores_higher() -> None:
    assert rules.score(200_000, 30, None, 0).total > rules.score(20_000, 30, None, 0).total
    assert rules.score(20_000, 60, None, 0).total > rules.score(20_000, 30, None, 0).total


def _signals(**changes: object) -> rules.Signals:
    return replace(rules.Signals(10, None, False, False, False, False), **changes)  # type: ignore[arg-type]


def test_an_account_overdue_n_days_with_no_contact_is_listed_and_one_spoken_to_is_not() -> None:
    assert rules.reasons(_signals(), 10) == ["overdue_no_contact"]
    assert rules.reasons(_signals(days_overdue=9), 10) == []
    assert rules.reasons(_signals(days_since_contact=3), 10) == []


def test_each_signal_gives_its_reason_in_a_fixed_order() -> None:
    found = rules.reasons(_signals(days_overdue=2, callback_pending=True, broken_recently=True,
                                   failed_recently=True, at_reminder_step=True), 10)  # fmt: skip
    assert found == ["broken_promise", "failed_collection", "reminder_step", "callback"]


def test_a_call_within_the_window_is_allowed() -> None:
    assert rules.refusal(CLEAR, POLICY, NOON) is None


@pytest.mark.parametrize(("facts", "code"), [
    (replace(CLEAR, customer_do_not_call=True), "do_not_call"),
    (replace(CLEAR, number_listed=True), "do_not_call_number"),
    (replace(CLEAR, dispute=True), "dispute"),
    (replace(CLEAR, promise=True), "promise"),
    (replace(CLEAR, plan=True), "plan"),
])  # fmt: skip
def test_each_rule_refuses_by_its_own_code(facts: rules.Facts, code: str) -> None:
    refusal = rules.refusal(facts, POLICY, NOON)
    assert refusal is not None and refusal.code == code and refusal.message


def test_the_attempts_cap_allows_the_last_attempt_and_refuses_the_next() -> None:
    assert rules.refusal(replace(CLEAR, attempts_in_window=6), POLICY, NOON) is None
    refusal = rules.refusal(replace(CLEAR, attempts_in_window=7), POLICY, NOON)
    assert refusal is not None and refusal.code == "attempts"


@pytest.mark.parametrize(("utc", "allowed"), [
    # Saturday 27 March 2027, Vilnius at +02:00: 08:00 local is 06:00 UTC.
    (datetime(2027, 3, 27, 5, 59, tzinfo=UTC), False),
    (datetime(2027, 3, 27, 6, 0, tzinfo=UTC), True),
    # Sunday 28 March, after the clocks went forward to +03:00: 08:00 local is 05:00 UTC.
    (datetime(2027, 3, 28, 5, 0, tzinfo=UTC), True),
    (datetime(2027, 3, 28, 4, 59, tzinfo=UTC), False),
    (datetime(2027, 3, 28, 17, 59, tzinfo=UTC), True),  # 20:59
    (datetime(2027, 3, 28, 18, 0, tzinfo=UTC), False),  # 21:00
    # Sunday 31 October 2027, back to +02:00: 21:00 local is 19:00 UTC again.
    (datetime(2027, 10, 31, 18, 59, tzinfo=UTC), True),
    (datetime(2027, 10, 31, 19, 0, tzinfo=UTC), False),
])  # fmt: skip
def test_the_window_is_on_the_customers_wall_clock_across_dst(utc: datetime,
                                                               allowed: bool) -> None:  # fmt: skip
    refusal = rules.refusal(CLEAR, POLICY, utc)
    assert (refusal is None) == allowed
    if not allowed:
        assert refusal is not None and refusal.code == "outside_window"


def test_the_customers_zone_decides_not_the_businesss() -> None:
    london = replace(CLEAR, zone=ZoneInfo("Europe/London"))
    early = datetime(2027, 3, 16, 7, 30, tzinfo=UTC)  # 09:30 Vilnius, 07:30 London
    assert rules.refusal(CLEAR, POLICY, early) is None
    refusal = rules.refusal(london, POLICY, early)
    assert refusal is not None and refusal.code == "outside_window"


def test_a_holiday_refuses_calls_all_day() -> None:
    policy = replace(POLICY, holidays=frozenset({date(2027, 3, 16)}))
    refusal = rules.refusal(CLEAR, policy, NOON)
    assert refusal is not None and refusal.code == "holiday"


def test_a_callback_is_within_the_window_and_in_the_future() -> None:
    rules.callback_allowed(datetime(2027, 3, 16, 15, 0, tzinfo=UTC), VILNIUS, POLICY, NOON)
    for at in (datetime(2027, 3, 16, 19, 30, tzinfo=UTC), datetime(2027, 3, 16, 9, 0, tzinfo=UTC)):
        with pytest.raises(Invalid) as refused:
            rules.callback_allowed(at, VILNIUS, POLICY, NOON)
        assert refused.value.field == "callback_at"


def test_a_window_must_open_before_it_closes() -> None:
    with pytest.raises(Invalid) as refused:
        rules.check_policy(rules.Policy(call_from="21:00", call_until="08:00"))
    assert refused.value.field == "call_until"
    with pytest.raises(Invalid):
        rules.check_policy(rules.Policy(call_from="8:00"))
