"""The pure rules of promises and plans: caps, instalments that add up, dates, lateness."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from billing_bridge.collections import rules
from billing_bridge.collections.errors import Invalid

TODAY = date(2026, 3, 10)
CAPS = rules.Caps(max_days=30, min_share_pct=20)


@pytest.mark.parametrize(("total", "count", "amounts"), [
    (10_001, 3, [3334, 3334, 3333]),
    (10_000, 3, [3334, 3333, 3333]),
    (9_999, 3, [3333, 3333, 3333]),
    (7, 4, [2, 2, 2, 1]),
    (5, 5, [1, 1, 1, 1, 1]),
    (2**62 + 1, 2, [2**61 + 1, 2**61]),
])  # fmt: skip
def test_instalments_add_up_exactly_with_the_remainder_on_the_first(
    total: int, count: int, amounts: list[int]
) -> None:
    assert rules.split(total, count) == amounts
    assert sum(rules.split(total, count)) == total


def test_every_split_of_odd_amounts_adds_up_and_differs_by_at_most_one() -> None:
    for total in range(2, 400, 7):
        for count in range(2, min(total, 37)):
            amounts = rules.split(total, count)
            assert sum(amounts) == total and len(amounts) == count
            assert max(amounts) - min(amounts) <= 1 and amounts == sorted(amounts, reverse=True)


def test_a_split_into_more_instalments_than_minor_units_is_refused() -> None:
    with pytest.raises(Invalid) as refused:
        rules.split(3, 4)
    assert refused.value.field == "instalment_count"


def test_monthly_dates_count_from_the_first_and_keep_to_the_end_of_short_months() -> None:
    assert rules.due_dates(date(2027, 1, 31), 4, "monthly") == [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]
    assert rules.due_dates(date(2026, 12, 15), 2, "monthly") == [
        date(2026, 12, 15), date(2027, 1, 15)]
    assert rules.due_dates(TODAY, 3, "fortnightly") == [
        TODAY, date(2026, 3, 24), date(2026, 4, 7)]
    assert rules.due_dates(TODAY, 2, "weekly") == [TODAY, date(2026, 3, 17)]


def test_a_promise_below_the_share_of_the_overdue_is_refused_naming_the_amount() -> None:
    with pytest.raises(Invalid) as refused:
        rules.check_promise(1_999, TODAY, today=TODAY, overdue_minor=9_999, owed_minor=9_999,
                            caps=CAPS)  # fmt: skip
    assert refused.value.field == "amount_minor" and "2000" in refused.value.message
    rules.check_promise(2_000, TODAY, today=TODAY, overdue_minor=9_999, owed_minor=9_999,
                        caps=CAPS)  # fmt: skip  (20% of 9,999 is 1,999.8: rounded up)


def test_a_promise_beyond_the_latest_date_or_in_the_past_is_refused_naming_the_date() -> None:
    for due_on in (date(2026, 4, 10), date(2026, 3, 9)):
        with pytest.raises(Invalid) as refused:
            rules.check_promise(5_000, due_on, today=TODAY, overdue_minor=5_000,
                                owed_minor=5_000, caps=CAPS)  # fmt: skip
        assert refused.value.field == "due_on"
    rules.check_promise(5_000, date(2026, 4, 9), today=TODAY, overdue_minor=5_000,
                        owed_minor=5_000, caps=CAPS)  # fmt: skip


def test_a_promise_of_more_than_the_account_owes_is_refused() -> None:
    with pytest.raises(Invalid):
        rules.check_promise(5_001, TODAY, today=TODAY, overdue_minor=5_000, owed_minor=5_000,
                            caps=CAPS)  # fmt: skip


def test_the_end_of_a_date_is_local_midnight_across_a_dst_change() -> None:
    vilnius = ZoneInfo("Europe/Vilnius")  # 29 March 2026: clocks go from +02:00 to +03:00
    day = date(2026, 3, 29)
    assert not rules.is_late(day, datetime(2026, 3, 29, 20, 59, tzinfo=UTC), vilnius)
    assert rules.is_late(day, datetime(2026, 3, 29, 21, 0, tzinfo=UTC), vilnius)  # 00:00 +03
    # A fixed +02:00 would still call 21:30 UTC the 29th (23:30).
    assert rules.is_late(day, datetime(2026, 3, 29, 21, 30, tzinfo=UTC), vilnius)


def test_the_promise_offered_without_an_agent_is_all_overdue_by_the_latest_date_allowed() -> None:
    amount, due_on = rules.default_promise(10_001, today=TODAY, caps=CAPS)
    assert (amount, due_on) == (10_001, date(2026, 4, 9))
    rules.check_promise(amount, due_on, today=TODAY, overdue_minor=10_001, owed_minor=10_001,
                        caps=CAPS)  # within the caps it is checked against  # fmt: skip
