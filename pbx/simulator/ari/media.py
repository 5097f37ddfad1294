"""What a channel hears and sends: DTMF, playbacks, music on hold, silence, hold, mute.

Playback states and events follow res_stasis_playback: `queued` in the 201 reply,
PlaybackStarted (`playing`), PlaybackContinuing between media of a list, PlaybackFinished
(`done`; stopped or canceled before it started is `done` on the wire too, as
`state_to_string` has it). A `sound:` whose file the channel's language lacks (`sounds.py`)
fails at once as `playback_final_update` fails it: PlaybackFinished `failed` and the warning
"Playback failed for sound:..."; a list goes on with its next item, which starts afresh
(PlaybackStarted), so a list whose middle item failed still ends `done`. Playing to a
channel ends its own music on hold, as the spec says, without resuming it. MOH, silence
and mute produce no events (none were captured); hold produces ChannelHold /
ChannelUnhold. DTMF is ChannelDtmfReceived on the channel that receives it; what a channel
is sent goes to its far end, which for a Local half is the other half (captured).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pbx.simulator.ari import recording, render
from pbx.simulator.ari.sounds import media_exists
from pbx.simulator.ari.state import AriError, Channel, Playback

if TYPE_CHECKING:
    from pbx.simulator.ari.model import Asterisk

DIRECTIONS = {"both": {"in", "out"}, "in": {"in"}, "out": {"out"}}
CONTROL_OPERATIONS = frozenset({"restart", "pause", "unpause", "reverse", "forward"})


def directions(direction: str | None) -> set[str]:
    """ARI's mute `direction` (resource_channels.c checks)."""
    if not direction:
        raise AriError(400, "Direction is required")
    if direction not in DIRECTIONS:
        raise AriError(400, "Invalid direction specified")
    return DIRECTIONS[direction]


def mute(ast: Asterisk, channel: Channel, direction: str | None, on: bool) -> None:
    chosen = directions(direction)
    recording.split_all(ast)
    if on:
        channel.muted |= chosen
    else:
        channel.muted -= chosen


def hold(ast: Asterisk, channel: Channel, on: bool) -> None:
    recording.split_all(ast)
    channel.held = on
    ast.channel_event("ChannelHold" if on else "ChannelUnhold", channel)


def start_moh(ast: Asterisk, channel: Channel, moh_class: str | None) -> None:
    recording.split_all(ast)
    channel.moh_class = moh_class or "default"
    channel.heard.append(f"moh:{channel.moh_class}")


def stop_moh(ast: Asterisk, channel: Channel) -> None:
    recording.split_all(ast)
    channel.moh_class = None


def set_silence(ast: Asterisk, channel: Channel, on: bool) -> None:
    channel.silence = on


def play(
    ast: Asterisk,
    target_uri: str,
    media: Sequence[str],
    *,
    language: str,
    playback_id: str | None,
    offsetms: int,
    skipms: int,
) -> Playback:
    if skipms < 0:
        raise AriError(400, "skipms cannot be negative")
    if offsetms < 0:
        raise AriError(400, "offsetms cannot be negative")
    if playback_id and playback_id in ast.playbacks:
        raise AriError(500, "Failed to queue media for playback")
    playback = Playback(
        id=playback_id or ast.new_uuid(),
        media=list(media),
        target_uri=target_uri,
        language=language,
    )
    ast.playbacks[playback.id] = playback
    for listener in _listeners(ast, target_uri):
        listener.heard.extend(media)
    return playback


def _listeners(ast: Asterisk, target_uri: str) -> list[Channel]:
    kind, _, target_id = target_uri.partition(":")
    if kind == "channel":
        return [ast.channels[target_id]] if target_id in ast.channels else []
    bridge = ast.bridges.get(target_id)
    return [ast.channels[i] for i in bridge.channels if i in ast.channels] if bridge else []


def find_playback(ast: Asterisk, playback_id: str) -> Playback:
    found = ast.playbacks.get(playback_id)
    if found is None:
        raise AriError(404, "Playback not found")
    return found


def start_playback(ast: Asterisk, playback: Playback) -> None:
    if playback.state != "queued" or ast.playbacks.get(playback.id) is not playback:
        return
    recording.split_all(ast)
    playback.state = "playing"
    for listener in _listeners(ast, playback.target_uri):
        if playback.target_uri.startswith("channel:"):
            # channels.startMoh: "/play on a channel playing MOH ... will suspend MOH
            # without resuming automatically" (api-docs/channels.json)
            listener.moh_class = None
    _publish(ast, playback, "PlaybackStarted")
    _fail_missing(ast, playback)


def next_media(ast: Asterisk, playback: Playback) -> bool:
    """One media item ended: continue with the next (True) or finish (False)."""
    if ast.playbacks.get(playback.id) is not playback:
        return False
    if playback.index + 1 < len(playback.media):
        playback.index += 1
        _publish(ast, playback, "PlaybackContinuing")
        _fail_missing(ast, playback)
        return ast.playbacks.get(playback.id) is playback
    finish_playback(ast, playback)
    return False


def _fail_missing(ast: Asterisk, playback: Playback) -> None:
    """Items whose file is missing fail as they start, up to one that is found or the end."""
    while not media_exists(ast.sounds, playback.media[playback.index], playback.language):
        uri = playback.media[playback.index]
        ast.warnings.append(f"{playback.target_id}: Playback failed for {uri}")
        playback.state = "failed"
        _publish(ast, playback, "PlaybackFinished")
        if playback.index + 1 >= len(playback.media):
            ast.playbacks.pop(playback.id, None)
            return
        playback.index += 1
        playback.state = "playing"
        _publish(ast, playback, "PlaybackStarted")


def finish_playback(ast: Asterisk, playback: Playback, *, hung_up: bool = False) -> None:
    """Stopped (`done` on the wire), or cut off by its channel's hangup: the stream ends in
    error then, and `playback_final_update` reports it `failed` ("Playback failed for")."""
    if ast.playbacks.pop(playback.id, None) is None:
        return
    recording.split_all(ast)
    if playback.state == "queued":
        playback.state = "canceled"
    elif hung_up:
        playback.state = "failed"
        uri = playback.media[playback.index]
        ast.warnings.append(f"{playback.target_id}: Playback failed for {uri}")
    else:
        playback.state = "done"
    _publish(ast, playback, "PlaybackFinished")


def control(ast: Asterisk, playback: Playback, operation: str | None) -> None:
    if operation not in CONTROL_OPERATIONS:
        raise AriError(400, "Invalid operation parameter")
    if playback.state not in ("playing", "paused"):
        raise AriError(409, "Playback not in a valid state")
    if operation == "pause":
        playback.state = "paused"
    elif operation == "unpause":
        playback.state = "playing"


def stop_for_channel(ast: Asterisk, channel: Channel) -> None:
    """A channel going away ends what plays to it and what records it."""
    for playback in [p for p in ast.playbacks.values() if p.target_id == channel.id]:
        finish_playback(ast, playback, hung_up=True)
    recording.finish_for_target(ast, f"channel:{channel.id}")


def dtmf_received(
    ast: Asterisk, channel: Channel, digit: str, duration_ms: int, hops: int = 0
) -> None:
    """A digit arrives from the channel's far end; a bridge passes it to the others."""
    if channel.gone:
        return
    ast.channel_event("ChannelDtmfReceived", channel, digit=digit, duration_ms=duration_ms)
    recording.dtmf_pressed(ast, channel.id, channel.bridge_id, digit)
    bridge = ast.bridges.get(channel.bridge_id or "")
    if bridge is None or bridge.holding or channel.absorb_dtmf or hops > 3:
        return
    for other_id in list(bridge.channels):
        other = ast.channels.get(other_id)
        if other is not None and other is not channel:
            send_dtmf(ast, other, digit, duration_ms, hops + 1)


def send_dtmf(ast: Asterisk, channel: Channel, digit: str, duration_ms: int, hops: int = 0) -> None:
    """The channel sends a digit to its far end (a Local half's far end is the other)."""
    if channel.gone:
        return
    channel.digits_sent.append(digit)
    peer = ast.peer(channel)
    if peer is not None:
        dtmf_received(ast, peer, digit, duration_ms, hops)


def _publish(ast: Asterisk, playback: Playback, type_: str) -> None:
    kind, _, target_id = playback.target_uri.partition(":")
    ast.emit(
        type_,
        {"playback": render.playback(playback)},
        channels=[ast.channels.get(target_id)] if kind == "channel" else (),
        bridges=[ast.bridges.get(target_id)] if kind == "bridge" else (),
    )
