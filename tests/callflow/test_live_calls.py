"""The call flow's side of the desk's port: what its machinery refuses with reaches the
desk as the desk's own errors (the HTTP layer maps those to statuses)."""

from __future__ import annotations

import pytest

from pbx.acd.errors import InvalidTransition, UnknownAgent
from pbx.ari import AriError, AriNotFound, AriUnavailable
from pbx.callflow.control import ControlError
from pbx.callflow.keypad_session import SessionError
from pbx.callflow.live_calls import refusals
from pbx.callflow.recorder import RecordingUnavailable
from pbx.desk import errors
from recordings.pauses import AlreadyPaused


@pytest.mark.parametrize(("raised", "expected", "code"), [
    (ControlError("not_found", "call not found"), errors.NotFound, "not_found"),
    (ControlError("invalid", "customer_id: no such customer"), errors.Invalid, "invalid"),
    (ControlError("conflict", "the call is on hold"), errors.Conflict, "conflict"),
    (InvalidTransition("7", "offline", "pause"), errors.Conflict, "conflict"),
    (UnknownAgent("7"), errors.NotFound, "not_found"),
    (SessionError("the caller is keying already"), errors.Conflict, "conflict"),
    (RecordingUnavailable("not recorded"), errors.Conflict, "conflict"),
    (AlreadyPaused("paused already"), errors.Conflict, "conflict"),
    (AriUnavailable("timed out"), errors.Unavailable, "asterisk_unavailable"),
    (AriNotFound("Channel not found", status=404), errors.Conflict, "conflict"),
    (AriError("refused"), errors.Conflict, "conflict"),
])  # fmt: skip
def test_the_call_flows_refusals_reach_the_desk_as_its_own_errors(
    raised: Exception, expected: type[errors.DeskError], code: str
) -> None:
    with pytest.raises(expected) as refused, refusals():
        raise raised

    assert type(refused.value) is expected and refused.value.code == code


def test_an_unknown_agent_is_named_as_the_desk_names_it() -> None:
    with pytest.raises(errors.NotFound) as refused, refusals():
        raise UnknownAgent("7")

    assert refused.value.message == "agent not found"


def test_anything_else_is_not_the_desks_to_translate() -> None:
    with pytest.raises(KeyError), refusals():
        raise KeyError("a bug stays a bug")
