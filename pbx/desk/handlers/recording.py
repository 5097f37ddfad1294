"""The call's recording: paused and resumed by the agent (audited with the recording), or
started and stopped where the call's route and queue leave recording to the agent."""

from __future__ import annotations

from pbx.desk.commands import Actor, PauseRecording, ResumeRecording, StartRecording, StopRecording
from pbx.desk.errors import Conflict, Unavailable
from pbx.desk.handlers.common import Ports, own_call
from pbx.desk.ports import RecordingRules
from recordings.policy import announcement, may_record_on_demand


async def pause_recording(ports: Ports, actor: Actor, command: PauseRecording) -> None:
    own_call(ports, actor, command.call_id)
    await ports.calls.pause_recording(command.call_id, command.reason or "agent", actor)


async def resume_recording(ports: Ports, actor: Actor, command: ResumeRecording) -> None:
    own_call(ports, actor, command.call_id)
    await ports.calls.resume_recording(command.call_id, actor)


async def start_recording(ports: Ports, actor: Actor, command: StartRecording) -> None:
    call = own_call(ports, actor, command.call_id)
    rules = _on_demand(ports, command.call_id)
    if call.recording:
        raise Conflict("the call is being recorded already")
    if not await ports.calls.start_recording(call.call_id, announcement(rules.announcement)):
        raise Unavailable("recording could not be started")


async def stop_recording(ports: Ports, actor: Actor, command: StopRecording) -> None:
    call = own_call(ports, actor, command.call_id)
    _on_demand(ports, command.call_id)
    if not call.recording:
        raise Conflict("the call is not being recorded")
    await ports.calls.stop_recording(call.call_id)


def _on_demand(ports: Ports, call_id: str) -> RecordingRules:
    rules = ports.calls.recording_rules(call_id)
    if not may_record_on_demand(rules.route_policy, rules.queue_policy):
        raise Conflict("this call's recording is not on demand")
    return rules
