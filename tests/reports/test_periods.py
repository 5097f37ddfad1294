"""Quarter hours and the intervals of the business's clock they roll up into."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pbx.reports.periods import (
    BadFilter,
    Interval,
    bucket_of,
    interval_of,
    parse_band_edge,
    parse_day,
    parse_ids,
    parse_numbers,
    percentile_bound,
    period,
    within,
)

VILNIUS, KATHMANDU = ZoneInfo("Europe/Vilnius"), ZoneInfo("Asia/Kathmandu")


def _hours_of(day: date, zone: ZoneInfo) -> list[datetime]:
    span = period(zone, day, day, Interval.HOUR)
    lo, hi = span.buckets
    return sorted({interval_of(b, Interval.HOUR, zone) for b in range(lo, hi)})


def test_the_night_the_clocks_go_back_has_25_hours_and_two_three_oclocks() -> None:
    hours = _hours_of(date(2026, 10, 25), VILNIUS)

    assert len(hours) == 25
    local = [h.astimezone(VILNIUS) for h in hours]
    threes = [h for h in local if h.hour == 3]
    assert [h.utcoffset() for h in threes] == [timedelta(hours=3), timedelta(hours=2)]


def test_the_night_the_clocks_go_forward_has_23_hours_and_no_three_oclock() -> None:
    hours = _hours_of(date(2026, 3, 29), VILNIUS)

    assert len(hours) == 23
    assert 3 not in {h.astimezone(VILNIUS).hour for h in hours}


def test_an_hour_of_a_zone_a_quarter_off_the_hour_is_its_own_four_quarter_hours() -> None:
    local_ten = datetime(2026, 5, 4, 10, 0, tzinfo=KATHMANDU)  # +05:45
    quarters = [bucket_of(local_ten + timedelta(minutes=15 * i)) for i in range(5)]

    starts = [interval_of(b, Interval.HOUR, KATHMANDU).astimezone(KATHMANDU) for b in quarters]

    assert [s.strftime("%H:%M") for s in starts] == ["10:00"] * 4 + ["11:00"]


def test_a_week_starts_on_monday_at_local_midnight() -> None:
    sunday_night = datetime(2026, 5, 10, 23, 30, tzinfo=VILNIUS)

    start = interval_of(bucket_of(sunday_night), Interval.WEEK, VILNIUS)

    assert start == datetime(2026, 5, 4, 0, 0, tzinfo=VILNIUS).astimezone(UTC)


def test_the_p90_bound_is_its_bands_upper_edge_or_the_longest_wait() -> None:
    counts = [0] * 14
    counts[0], counts[3] = 8, 2  # eight waits up to 5 s, two in 16..20 s

    assert percentile_bound(counts, 0.9, longest=18) == 18
    assert percentile_bound(counts, 0.8, longest=18) == 5
    assert percentile_bound([0] * 14, 0.9, longest=0) is None
    assert within(counts, 15) == 8 and within(counts, 20) == 10


@pytest.mark.parametrize(("text", "parse"), [
    ("1,x", parse_ids), ("0", parse_ids), ("-1", parse_ids), ("1,,2", parse_ids),
    ("9" * 20, parse_ids), (",".join(["1"] * 101), parse_ids), ("١", parse_ids),
    ("972", parse_numbers), ("+0123", parse_numbers), ("+1 555", parse_numbers),
    ("21", parse_band_edge), ("020", parse_band_edge), ("2026-02-30", parse_day),
    ("2026-2-3", parse_day), ("1999-12-31", parse_day),
])  # fmt: skip
def test_a_filter_that_is_not_valid_is_refused_naming_it(text: str, parse: object) -> None:
    with pytest.raises(BadFilter) as refused:
        parse(text, "field")  # type: ignore[operator]
    assert refused.value.field == "field"


def test_a_period_longer_than_allowed_or_backwards_is_refused() -> None:
    with pytest.raises(BadFilter):
        period(VILNIUS, date(2026, 1, 2), date(2026, 1, 1), Interval.DAY)
    with pytest.raises(BadFilter):
        period(VILNIUS, date(2026, 1, 1), date(2026, 3, 15), Interval.QUARTER)
    assert period(VILNIUS, date(2026, 1, 1), date(2026, 12, 31), Interval.HOUR).last.year == 2026
