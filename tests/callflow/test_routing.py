"""Opening hours and inbound routing (pure)."""

from datetime import UTC, datetime

import pytest

from billing_bridge.identification.model import PRIORITY_COLLECTIONS, PRIORITY_VIP
from pbx.callflow.hours import HoursError, OpeningHours
from pbx.callflow.routing import Caller, ClosedKind, Destination, DestinationKind, Route, route_call

# Sunday to Thursday 08:00-18:00 and a Friday morning, Israel time; Passover closed.
ISRAEL = OpeningHours.parse(
    "Asia/Jerusalem",
    [{"days": ["sunday", 0, 1, 2, 3], "open": "08:00", "close": "18:00"},
     {"days": [4], "open": "08:00", "close": "13:00"}],
    ["2026-04-02"],
)  # fmt: skip
NIGHTS = OpeningHours.parse("Europe/Vilnius", [{"days": [4], "open": "22:00", "close": "06:00"}])


@pytest.mark.parametrize(
    ("utc", "is_open"),
    [
        ("2026-11-22T06:00", True),  # Sunday 08:00 in Jerusalem (UTC+2)
        ("2026-11-22T05:59", False),
        ("2026-11-22T15:59", True),
        ("2026-11-22T16:00", False),  # 18:00: closed
        ("2026-11-27T10:30", True),  # Friday 12:30
        ("2026-11-27T11:00", False),  # Friday 13:00
        ("2026-11-28T09:00", False),  # Saturday
        ("2026-04-02T09:00", False),  # a closed date (a Thursday)
        ("2026-07-05T05:00", True),  # summer time (UTC+3): Sunday 08:00
    ],
)
def test_opening_hours_are_read_in_the_business_time_zone(utc: str, is_open: bool) -> None:
    assert ISRAEL.is_open(datetime.fromisoformat(utc).replace(tzinfo=UTC)) is is_open


@pytest.mark.parametrize(
    ("utc", "is_open"),
    [
        ("2026-11-27T20:00", True),  # Friday 22:00 in Vilnius (UTC+2)
        ("2026-11-28T03:59", True),  # Saturday 05:59: the same window, past midnight
        ("2026-11-28T04:00", False),
        ("2026-11-26T21:00", False),  # Thursday night: no window
    ],
)
def test_a_window_that_closes_before_it_opens_runs_past_midnight(utc: str, is_open: bool) -> None:
    assert NIGHTS.is_open(datetime.fromisoformat(utc).replace(tzinfo=UTC)) is is_open


@pytest.mark.parametrize(
    ("timezone", "weekly", "closed", "names"),
    [
        ("Mars/Olympus", [], [], "timezone"),
        ("UTC", [{"days": [], "open": "08:00", "close": "09:00"}], [], "weekly[0].days"),
        ("UTC", [{"days": ["funday"], "open": "08:00", "close": "09:00"}], [], "weekly[0].days"),
        ("UTC", [{"days": [1], "open": "8am", "close": "09:00"}], [], "weekly[0].open"),
        ("UTC", [{"days": [1], "open": "08:00"}], [], "weekly[0].close"),
        ("UTC", [], ["31/12/2026"], "closed_dates[0]"),
    ],
)
def test_bad_opening_hours_are_refused_naming_the_field(timezone, weekly, closed, names) -> None:
    with pytest.raises(HoursError, match=names.replace("[", r"\[").replace("]", r"\]")):
        OpeningHours.parse(timezone, weekly, closed)


ROUTE = Route(1, 1, "+97235550100", "1:support", collections_queue="1:collections", hours=ISRAEL,
              closed_kind=ClosedKind.VOICEMAIL, closed_target="2000")  # fmt: skip
OPEN = datetime(2026, 11, 22, 9, tzinfo=UTC)
CLOSED = datetime(2026, 11, 28, 9, tzinfo=UTC)


def test_an_open_line_queues_at_the_callers_priority() -> None:
    assert route_call(ROUTE, Caller(PRIORITY_VIP), OPEN) == Destination(
        DestinationKind.QUEUE, "1:support", PRIORITY_VIP
    )


def test_a_caller_in_arrears_goes_to_collections() -> None:
    caller = Caller(PRIORITY_COLLECTIONS, in_arrears=True)
    assert route_call(ROUTE, caller, OPEN).target == "1:collections"


def test_a_closed_line_goes_to_its_out_of_hours_target() -> None:
    assert route_call(ROUTE, Caller(), CLOSED) == Destination(DestinationKind.VOICEMAIL, "2000")
    to_queue = Route(1, 1, "+1", "1:support", hours=ISRAEL, closed_kind=ClosedKind.QUEUE,
                     closed_target="1:night")  # fmt: skip
    assert route_call(to_queue, Caller(PRIORITY_VIP), CLOSED) == Destination(
        DestinationKind.QUEUE, "1:night", PRIORITY_VIP
    )
    hang_up = Route(1, 1, "+1", "1:support", hours=ISRAEL)
    assert route_call(hang_up, Caller(), CLOSED).kind is DestinationKind.CLOSED
