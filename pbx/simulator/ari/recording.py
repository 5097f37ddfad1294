"""Live and stored recordings, with res_stasis_recording's states and checks.

Time is kept as (seconds, audible) segments so that the stored file has exactly what
Asterisk writes: paused time cut out, recording-mute time kept as silence (captures README).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx.simulator.ari import render, wav
from pbx.simulator.ari.state import AriError, LiveRecording, StoredRecording

if TYPE_CHECKING:
    from pbx.simulator.ari.model import Asterisk

FORMATS = frozenset({"wav"})
TERMINATE_ON = frozenset({"none", "any", "*", "#"})
IF_EXISTS = frozenset({"fail", "overwrite", "append"})
IN_SESSION = frozenset({"recording", "paused"})


def start(
    ast: Asterisk,
    target_uri: str,
    name: str,
    format_: str,
    *,
    if_exists: str,
    terminate_on: str,
    max_duration: int,
    max_silence: int,
) -> LiveRecording:
    """Checks in the order resource_channels.c / resource_bridges.c make them."""
    if max_duration < 0:
        raise AriError(400, "max_duration_seconds cannot be negative")
    if max_silence < 0:
        raise AriError(400, "max_silence_seconds cannot be negative")
    if terminate_on not in TERMINATE_ON:
        raise AriError(400, "terminateOn invalid")
    if if_exists not in IF_EXISTS:
        raise AriError(400, "ifExists invalid")
    if format_ not in FORMATS:
        raise AriError(422, "specified format is unknown on this system")
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise AriError(400, "Recording name invalid")
    if name in ast.recordings or (if_exists == "fail" and name in ast.stored):
        raise AriError(409, f"Recording '{name}' already exists and can not be overwritten")
    live = LiveRecording(
        name=name,
        format=format_,
        target_uri=target_uri,
        if_exists=if_exists,
        terminate_on=terminate_on,
        max_duration=max_duration,
    )
    ast.recordings[name] = live
    return live


def begin(ast: Asterisk, live: LiveRecording) -> None:
    """The recorder is attached: RecordingStarted, time starts to count."""
    if live.state != "queued" or ast.recordings.get(live.name) is not live:
        return
    live.state = "recording"
    live.segment_start = ast.clock()
    _publish(ast, live, "RecordingStarted")


def find(ast: Asterisk, name: str) -> LiveRecording:
    live = ast.recordings.get(name)
    if live is None:
        raise AriError(404, "Recording not found")
    return live


def _in_session(ast: Asterisk, name: str) -> LiveRecording:
    live = find(ast, name)
    if live.state not in IN_SESSION:
        raise AriError(409, "Recording not in session")
    return live


def pause(ast: Asterisk, name: str) -> None:
    live = _in_session(ast, name)
    _close_segment(ast, live)
    live.state, live.segment_start = "paused", None


def unpause(ast: Asterisk, name: str) -> None:
    live = _in_session(ast, name)
    if live.state == "paused":
        live.state, live.segment_start = "recording", ast.clock()


def set_muted(ast: Asterisk, name: str, muted: bool) -> None:
    live = _in_session(ast, name)
    _close_segment(ast, live)
    live.muted = muted


def stop(ast: Asterisk, name: str) -> None:
    finish(ast, find(ast, name), "done")


def cancel(ast: Asterisk, name: str) -> None:
    finish(ast, find(ast, name), "canceled")


def finish(ast: Asterisk, live: LiveRecording, state: str) -> None:
    """Stop for good: `done` keeps the file, `canceled` deletes it."""
    if ast.recordings.get(live.name) is not live:
        return
    _close_segment(ast, live)
    del ast.recordings[live.name]
    live.state = state
    if state == "done":
        live.duration = round(sum(seconds for seconds, _ in live.segments))
        _store(ast, live)
    _publish(ast, live, "RecordingFinished")


def finish_for_target(ast: Asterisk, target_uri: str) -> None:
    """The recorded channel hung up or the bridge went away: the recording ends, kept."""
    for live in [r for r in ast.recordings.values() if r.target_uri == target_uri]:
        finish(ast, live, "done")


def dtmf_pressed(ast: Asterisk, channel_id: str, bridge_id: str | None, digit: str) -> None:
    """`terminateOn`: a digit heard on the recorded channel (or bridge) stops it."""
    targets = {f"channel:{channel_id}", f"bridge:{bridge_id}" if bridge_id else ""}
    for live in [r for r in ast.recordings.values() if r.target_uri in targets]:
        if live.state in IN_SESSION and live.terminate_on in ("any", digit):
            finish(ast, live, "done")


def split_all(ast: Asterisk) -> None:
    """Something that changes what a recorder hears is about to happen: close segments."""
    for live in ast.recordings.values():
        _close_segment(ast, live)


def _close_segment(ast: Asterisk, live: LiveRecording) -> None:
    if live.state != "recording" or live.segment_start is None:
        return
    now = ast.clock()
    live.segments.append((now - live.segment_start, _audible(ast, live)))
    live.segment_start = now


def _audible(ast: Asterisk, live: LiveRecording) -> bool:
    if live.muted:
        return False
    kind, _, target_id = live.target_uri.partition(":")
    if kind == "channel":
        channel = ast.channels.get(target_id)
        return channel is not None and channel.talks and "in" not in channel.muted
    bridge = ast.bridges.get(target_id)
    if bridge is None:
        return False
    if bridge.moh_class or any(p.target_uri == live.target_uri for p in ast.playbacks.values()):
        return True
    members = [ast.channels[i] for i in bridge.channels if i in ast.channels]
    return any(m.talks and "in" not in m.muted and not m.bridge_muted for m in members)


def _store(ast: Asterisk, live: LiveRecording) -> None:
    previous = ast.stored.get(live.name)
    prefix = wav.frames_of(previous.data) if previous and live.if_exists == "append" else b""
    data = wav.render(live.segments, prefix)
    ast.stored[live.name] = StoredRecording(live.name, live.format, data)


def _publish(ast: Asterisk, live: LiveRecording, type_: str) -> None:
    kind, _, target_id = live.target_uri.partition(":")
    channel = ast.channels.get(target_id) if kind == "channel" else None
    bridge = ast.bridges.get(target_id) if kind == "bridge" else None
    ast.emit(
        type_, {"recording": render.live_recording(live)}, channels=[channel], bridges=[bridge]
    )


# --- stored recordings -------------------------------------------------------------------


def stored(ast: Asterisk, name: str) -> StoredRecording:
    found = ast.stored.get(name)
    if found is None:
        raise AriError(404, "Recording not found")
    return found


def delete_stored(ast: Asterisk, name: str) -> None:
    stored(ast, name)
    del ast.stored[name]


def copy_stored(ast: Asterisk, name: str, destination: str) -> StoredRecording:
    source = stored(ast, name)
    if destination in ast.stored:
        raise AriError(409, "A recording with the same name already exists on the system")
    copy = StoredRecording(destination, source.format, source.data)
    ast.stored[destination] = copy
    return copy
