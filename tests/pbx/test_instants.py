"""An instant written as text: ISO 8601 with its offset, read as UTC; anything else refused
with the reason, so each caller refuses it in its own words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pbx.instants import NotAnInstant, parse_instant


@pytest.mark.parametrize(
    "text",
    ["2026-12-07T04:21:16+02:00", "2026-12-07T02:21:16Z", "2026-12-07T02:21:16+00:00",
     "2026-12-06T21:21:16-05:00", "2026-12-07 07:51:16+05:30"],
)  # fmt: skip
def test_an_instant_with_its_offset_is_read_as_utc(text: str) -> None:
    moment = parse_instant(text)
    assert moment == datetime(2026, 12, 7, 2, 21, 16, tzinfo=UTC)
    assert moment.tzinfo is UTC


def test_fractions_of_a_second_are_kept() -> None:
    assert parse_instant("2026-12-07T02:21:16.250000Z").microsecond == 250_000


@pytest.mark.parametrize(
    ("text", "reason"),
    [("2026-12-07T02:21:16", "zone"), ("2026-12-07", "zone"),  # no offset: never guessed
     ("", "format"), ("yesterday", "format"), ("2026-13-01T00:00:00Z", "format"),
     ("2026-12-07T25:00:00Z", "format"), ("12/07/2026", "format"),
     ("2026-12-07T02:21:16+24:00", "format"), ("\x00", "format"),
     ("٢٠٢٦-١٢-٠٧T02:21:16Z", "format"),
     # No UTC time can hold these: year 1 at +14:00 is before year 1 in UTC.
     ("0001-01-01T00:00:00+14:00", "range"), ("9999-12-31T23:59:59-14:00", "range")],
)  # fmt: skip
def test_text_that_is_no_instant_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(NotAnInstant) as refused:
        parse_instant(text)
    assert refused.value.reason == reason
    assert str(refused.value) == {
        "zone": "must include a UTC offset (e.g. Z)",
        "format": "must be an ISO 8601 date-time",
        "range": "is out of the range of dates",
    }[reason]


@pytest.mark.parametrize("value", [None, 1_765_000_000, b"2026-12-07T02:21:16Z"])
def test_a_value_that_is_not_text_is_refused(value: object) -> None:
    with pytest.raises(NotAnInstant) as refused:
        parse_instant(value)  # type: ignore[arg-type]
    assert refused.value.reason == "format"


def test_huge_text_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(NotAnInstant) as refused:
        parse_instant("2026-12-07T02:21:16." + "1" * 5_000_000 + "Z")
    assert refused.value.reason == "format"
    # The cap is the caller's: a webhook's field allows 40 characters, no more.
    assert parse_instant("2026-12-07T02:21:16.123456+05:30", max_length=40)
    with pytest.raises(NotAnInstant):
        parse_instant("2026-12-07T02:21:16.123456789012+05:30", max_length=32)


def test_the_refusal_is_a_value_error_for_callers_that_catch_those() -> None:
    assert issubclass(NotAnInstant, ValueError)
