"""A waiting caller's announcement (pure): place and expected wait in the caller's language,
app_queue's own sounds for a language Ledgerline has no read-out for."""

from __future__ import annotations

from pbx.callflow import prompts
from pbx.voice import saying


def test_the_place_and_the_wait_in_whole_minutes_rounded_up_in_the_callers_language() -> None:
    assert prompts.position(3, 61, "lt") == (
        saying.place_in_line(3, "lt") + saying.wait_minutes(2, "lt")
    )
    assert prompts.position(1, 5, "he") == (
        saying.place_in_line(1, "he") + saying.wait_minutes(1, "he")
    )


def test_no_estimate_no_wait_read_out() -> None:
    assert prompts.position(2, None, "en") == saying.place_in_line(2, "en")


def test_a_language_without_a_read_out_hears_app_queues_sounds() -> None:
    assert prompts.position(1, None, "fr") == ("sound:queue-youarenext",)
    assert prompts.position(3, 120, "fr") == (
        "sound:queue-thereare", "number:2", "sound:queue-callswaiting",
        "sound:queue-holdtime", "number:2", "sound:queue-minutes",
    )  # fmt: skip
