"""The calling window on the customer's wall clock, across both DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from billing_bridge.calling_window import CallingWindow, allows, next_allowed

JERUSALEM, VILNIUS = ZoneInfo("Asia/Jerusalem"), ZoneInfo("Europe/Vilnius")


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("clock", "allowed"),
    [((7, 59, 59), False), ((8, 0, 0), True), ((20, 59, 59), True), ((21, 0, 0), False)],
)
def test_the_window_includes_its_start_and_not_its_end(
    clock: tuple[int, int, int], allowed: bool
) -> None:
    assert allows(local(JERUSALEM, 2026, 6, 1, *clock), JERUSALEM) is allowed


def test_a_moment_inside_the_window_is_its_own_next_lawful_moment() -> None:
    at = local(VILNIUS, 2026, 6, 1, 12, 30)

    assert next_allowed(at, VILNIUS) == at


def test_early_morning_waits_for_the_start_the_same_day() -> None:
    at = local(JERUSALEM, 2026, 6, 1, 6, 15)

    assert next_allowed(at, JERUSALEM) == local(JERUSALEM, 2026, 6, 1, 8, 0)


@pytest.mark.parametrize(
    ("zone", "evening", "next_start_utc"),
    [
        # Israel moves to summer time at 02:00 on Friday 27 March 2026: 08:00 is 05:00 UTC
        (JERUSALEM, (2026, 3, 26, 21, 30), datetime(2026, 3, 27, 5, 0, tzinfo=UTC)),
        # and back at 02:00 on 25 October: 08:00 is 06:00 UTC again
        (JERUSALEM, (2026, 10, 24, 22, 0), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),
        # Lithuania at 03:00 on 29 March and 04:00 on 25 October
        (VILNIUS, (2026, 3, 28, 22, 0), datetime(2026, 3, 29, 5, 0, tzinfo=UTC)),
        (VILNIUS, (2026, 10, 24, 21, 0), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),
    ],
)
def test_after_the_end_the_next_start_is_read_on_the_local_clock_across_a_dst_change(
    zone: ZoneInfo, evening: tuple[int, ...], next_start_utc: datetime
) -> None:
    found = next_allowed(local(zone, *evening), zone)

    assert found == next_start_utc
    assert found.astimezone(zone).time() == time(8, 0)


def test_a_start_inside_the_spring_forward_gap_is_the_first_moment_after_it() -> None:
    window = CallingWindow(time(2, 30), time(21))
    at = local(JERUSALEM, 2026, 3, 27, 1, 0)  # 02:00 to 03:00 does not exist that night

    found = next_allowed(at, JERUSALEM, window)

    assert found > at and allows(found, JERUSALEM, window)
    assert found.astimezone(JERUSALEM).time() == time(3, 30)


def test_the_same_instant_is_lawful_in_one_zone_and_not_in_another() -> None:
    at = datetime(2026, 6, 1, 5, 30, tzinfo=UTC)  # 08:30 in Jerusalem and in Vilnius
    london = ZoneInfo("Europe/London")  # 06:30

    assert allows(at, JERUSALEM) and allows(at, VILNIUS)
    assert not allows(at, london)
    assert next_allowed(at, london) == datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="ends after it starts"):
        CallingWindow(time(21), time(8))


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        allows(datetime(2026, 6, 1, 12, 0), JERUSALEM)
