"""The call's recording from the desk: paused by the agent, or started and stopped where
the route and queue leave it to them."""

from __future__ import annotations

import pytest

from pbx.desk.commands import PauseRecording, StartRecording, StopRecording
from pbx.desk.errors import Conflict, Forbidden, Unavailable
from pbx.desk.ports import RecordingRules
from tests.desk.fakes import a_call, avi, dana, desk_with


async def test_an_agent_pauses_their_calls_recording_with_a_reason() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    await desk.run(PauseRecording("c-1", "caller asked"), dana)

    assert live.done == [("pause_recording", "caller asked")]


async def test_another_agent_cannot_pause_the_recording() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    with pytest.raises(Forbidden):
        await desk.run(PauseRecording("c-1"), avi)
    assert live.done == []


async def test_an_on_demand_recording_starts_with_the_routes_announcement() -> None:
    desk, live, _ = desk_with(a_call("c-1", recording=False))
    live.rules = RecordingRules("on_demand", None, "ledgerline-recorded")

    await desk.run(StartRecording("c-1"), dana)

    assert live.done == [("start_recording", "sound:ledgerline-recorded")]
    assert live.live["c-1"].recording


async def test_a_recording_that_is_not_on_demand_cannot_be_started() -> None:
    desk, live, _ = desk_with(a_call("c-1", recording=False))
    live.rules = RecordingRules("all", None, None)

    with pytest.raises(Conflict) as refused:
        await desk.run(StartRecording("c-1"), dana)

    assert "not on demand" in refused.value.message and live.done == []


async def test_a_call_being_recorded_is_not_started_again() -> None:
    desk, live, _ = desk_with(a_call("c-1", recording=True))

    with pytest.raises(Conflict):
        await desk.run(StartRecording("c-1"), dana)
    assert live.done == []


async def test_a_recording_asterisk_did_not_start_is_unavailable() -> None:
    desk, live, _ = desk_with(a_call("c-1", recording=False))
    live.recording_starts = False

    with pytest.raises(Unavailable) as refused:
        await desk.run(StartRecording("c-1"), dana)

    assert refused.value.code == "asterisk_unavailable"


async def test_stopping_a_call_that_is_not_recorded_is_a_conflict() -> None:
    desk, live, _ = desk_with(a_call("c-1", recording=False))

    with pytest.raises(Conflict):
        await desk.run(StopRecording("c-1"), dana)
    assert live.done == []
