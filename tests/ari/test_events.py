"""The events codec: typed events from frames recorded from a real Asterisk 22, and frames
that must be skipped rather than trusted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pbx.ari.errors import MalformedEvent
from pbx.ari.events import (
    ApplicationReplaced,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelVarset,
    Dial,
    RecordingFinished,
    StasisStart,
    UnknownEvent,
    parse_event,
)
from tests.ari import captured

EVENTS = captured("events")


def first(event_type: str) -> dict[str, Any]:
    return next(event for event in EVENTS if event["type"] == event_type)


def test_stasis_start_carries_args_and_the_callers_channel_with_an_aware_creation_time() -> None:
    event = parse_event(json.dumps(first("StasisStart")))

    assert isinstance(event, StasisStart)
    assert event.args == ("caller-leg",)
    assert event.application == "callcenter"
    assert event.timestamp.tzinfo is not None
    channel = event.channel
    assert channel.caller.number == "+15551234567" and channel.caller.name == "Probe Caller"
    assert channel.dialplan.app_name == "Stasis" and channel.dialplan.priority >= 1
    assert channel.creationtime.utcoffset() is not None
    assert channel.creationtime.astimezone(UTC) == datetime(
        2026, 11, 22, 13, 15, 12, 550000, tzinfo=UTC
    )
    assert event.replace_channel is None


def test_dtmf_event_carries_the_digit_and_duration_but_its_repr_hides_the_digit() -> None:
    frame = first("ChannelDtmfReceived")

    event = parse_event(frame)

    assert isinstance(event, ChannelDtmfReceived)
    assert (event.digit, event.duration_ms) == (frame["digit"], 100)
    assert "digit" not in repr(event)


def test_hangup_and_destroy_carry_asterisks_cause() -> None:
    hangup = parse_event(first("ChannelHangupRequest"))
    destroyed = parse_event(first("ChannelDestroyed"))

    assert isinstance(hangup, ChannelHangupRequest) and hangup.soft is True
    assert isinstance(destroyed, ChannelDestroyed)
    assert isinstance(destroyed.cause, int) and destroyed.cause_txt


def test_recording_finished_carries_the_recordings_name_state_and_duration() -> None:
    event = parse_event(first("RecordingFinished"))

    assert isinstance(event, RecordingFinished)
    assert event.recording.state == "done" and event.recording.duration == 6
    assert event.recording.target_uri.startswith("bridge:")


def test_dial_keeps_the_peer_and_status_and_leaves_absent_optionals_none() -> None:
    frame = {**first("Dial"), "dialstatus": "ANSWER"}
    frame.pop("caller", None)

    event = parse_event(frame)

    assert isinstance(event, Dial) and event.dialstatus == "ANSWER"
    assert event.caller is None and event.forwarded is None and event.peer.id


def test_a_global_variable_set_has_no_channel() -> None:
    frame = {k: v for k, v in first("ChannelVarset").items() if k != "channel"}

    event = parse_event(frame)

    assert isinstance(event, ChannelVarset) and event.channel is None


def test_an_event_type_we_do_not_use_is_kept_as_unknown_with_its_type() -> None:
    event = parse_event(first("ChannelDialplan"))

    assert isinstance(event, UnknownEvent)
    assert event.type == "ChannelDialplan" and event.raw["type"] == "ChannelDialplan"


def test_a_frame_that_is_not_json_is_malformed_and_the_message_does_not_echo_it() -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_event("4111 1111 1111 1111")

    assert "4111" not in str(caught.value)


@pytest.mark.parametrize("frame", ["[]", '"StasisStart"', "{}", '{"type": 7}'])
def test_a_frame_that_is_not_an_object_with_a_type_is_malformed(frame: str) -> None:
    with pytest.raises(MalformedEvent):
        parse_event(frame)


def test_an_event_missing_a_required_field_is_malformed_naming_the_field() -> None:
    frame = first("StasisStart")
    channel = {k: v for k, v in frame["channel"].items() if k != "id"}

    with pytest.raises(MalformedEvent, match=r"StasisStart\.channel\.id: missing"):
        parse_event({**frame, "channel": channel})


def test_a_field_of_the_wrong_kind_is_malformed_without_showing_its_value() -> None:
    frame = {**first("ChannelDtmfReceived"), "duration_ms": "long"}

    with pytest.raises(MalformedEvent, match="duration_ms") as caught:
        parse_event(frame)

    assert "long" not in str(caught.value)


def test_a_time_without_utc_offset_is_malformed() -> None:
    frame = {**first("StasisEnd"), "timestamp": "2026-11-22T13:15:35.023"}

    with pytest.raises(MalformedEvent, match="timestamp"):
        parse_event(frame)


def test_every_event_in_the_captures_parses_to_a_typed_or_unknown_event() -> None:
    parsed = [parse_event(event) for event in EVENTS]

    assert len(parsed) == len(EVENTS)
    typed = {event.type for event in parsed if not isinstance(event, UnknownEvent)}
    assert {"StasisStart", "StasisEnd", "ChannelDtmfReceived", "RecordingStarted"} <= typed


def test_a_known_type_not_wanted_is_passed_over_undecoded_but_a_takeover_never_is() -> None:
    wanted = {"StasisStart"}
    assert parse_event(json.dumps(first("ChannelVarset")), wanted) is None
    # passed over without being checked: a broken frame of an unwanted type costs nothing
    assert parse_event(json.dumps({"type": "ChannelVarset"}), wanted) is None
    assert isinstance(parse_event(json.dumps(first("StasisStart")), wanted), StasisStart)
    assert isinstance(parse_event(json.dumps(first("ChannelDialplan")), wanted), UnknownEvent)
    replaced = {"type": "ApplicationReplaced", "application": "callcenter",
                "timestamp": "2026-11-22T13:15:12.550+0000"}  # fmt: skip
    assert isinstance(parse_event(json.dumps(replaced), wanted), ApplicationReplaced)


def test_a_scalar_of_another_kind_is_refused_and_a_bool_is_not_an_int() -> None:
    dtmf = first("ChannelDtmfReceived")
    assert parse_event(json.dumps(dtmf)).duration_ms == dtmf["duration_ms"]  # type: ignore[union-attr]
    for wrong in (True, "100", 1.5, [1]):
        with pytest.raises(MalformedEvent, match=r"^ChannelDtmfReceived\.duration_ms: expected"):
            parse_event(json.dumps({**dtmf, "duration_ms": wrong}))
    with pytest.raises(MalformedEvent, match=r"^ChannelDtmfReceived\.digit: expected str$"):
        parse_event(json.dumps({**dtmf, "digit": 5}))
    start = first("StasisStart")
    with pytest.raises(MalformedEvent, match=r"^StasisStart\.channel\.name: expected str$"):
        parse_event(json.dumps({**start, "channel": {**start["channel"], "name": False}}))


def test_errors_inside_lists_and_nested_objects_name_the_path() -> None:
    start = first("StasisStart")
    with pytest.raises(MalformedEvent, match=r"^StasisStart\.args\[0\]: expected str$"):
        parse_event(json.dumps({**start, "args": [5]}))
    broken = {**start, "channel": {**start["channel"], "caller": {"name": "x"}}}
    with pytest.raises(MalformedEvent, match=r"^StasisStart\.channel\.caller\.number: missing$"):
        parse_event(json.dumps(broken))
    late = {**start, "channel": {**start["channel"], "creationtime": "yesterday"}}
    with pytest.raises(MalformedEvent, match=r"^StasisStart\.channel\.creationtime: not an ISO"):
        parse_event(json.dumps(late))
