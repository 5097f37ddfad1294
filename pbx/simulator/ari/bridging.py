"""Stasis bridges: create, add and remove channels, music, destroy.

Events as captured: ChannelEnteredBridge per channel, then the bridge's BRIDGEPEER (and
BRIDGEPVTCALLID towards a SIP peer) on each member, then connected-line updates between
the two parties. No BridgeCreated reaches the app that created the bridge: no app is
subscribed to a bridge before one of its channels enters it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pbx.simulator.ari import media, recording, render
from pbx.simulator.ari.state import AriError, Bridge, Channel

if TYPE_CHECKING:
    from pbx.simulator.ari.model import Asterisk

BRIDGE_TYPES = frozenset(
    {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"}
)


def create(ast: Asterisk, bridge_id: str | None, name: str, types: str | None) -> Bridge:
    if bridge_id and bridge_id in ast.bridges:
        raise AriError(409, f"Bridge with id '{bridge_id}' already exists")
    requested = frozenset(part.strip() for part in (types or "mixing").split(",") if part.strip())
    if not requested <= BRIDGE_TYPES:
        # stasis_app_bridge_create refuses an unknown type; ARI reports it as a 500
        raise AriError(500, "Unable to create bridge")
    bridge = Bridge(
        id=bridge_id or ast.new_uuid(),
        name=name,
        types=requested or frozenset({"mixing"}),
        created=ast.clock(),
    )
    ast.bridges[bridge.id] = bridge
    return bridge


def find(ast: Asterisk, bridge_id: str) -> Bridge:
    found = ast.bridges.get(bridge_id)
    if found is None:
        raise AriError(404, "Bridge not found")
    return found


def channels_for(ast: Asterisk, ids: Sequence[str]) -> list[Channel]:
    """resource_bridges.c `control_list_create`: 400 unknown, 422 not in Stasis."""
    found: list[Channel] = []
    for channel_id in ids:
        if not channel_id:
            continue
        channel = ast.channels.get(channel_id)
        if channel is None:
            raise AriError(400, "Channel not found")
        if not channel.in_stasis:
            raise AriError(422, "Channel not in Stasis application")
        found.append(channel)
    if not found:
        raise AriError(400, "Missing parameter channel")
    return found


def add(
    ast: Asterisk,
    bridge: Bridge,
    channels: Sequence[Channel],
    *,
    mute: bool = False,
    absorb_dtmf: bool = False,
    inhibit_connected_line: bool = False,
) -> None:
    recording.split_all(ast)
    entered: list[Channel] = []
    for channel in channels:
        if channel.bridge_id == bridge.id:
            continue
        if channel.bridge_id:  # Stasis moves a channel from its old bridge to this one
            leave(ast, channel)
        bridge.channels.append(channel.id)
        channel.bridge_id = bridge.id
        channel.bridge_muted, channel.absorb_dtmf = mute, absorb_dtmf
        if channel.stasis_app:
            bridge.subscribers[channel.stasis_app] = 1
        ast.emit(
            "ChannelEnteredBridge",
            {"bridge": render.bridge(bridge), "channel": render.channel(channel)},
            channels=[channel],
            bridges=[bridge],
        )
        entered.append(channel)
    if entered:
        _set_bridge_peers(ast, bridge)
        if not inhibit_connected_line:
            _update_connected_lines(ast, bridge, entered)


def _members(ast: Asterisk, bridge: Bridge) -> list[Channel]:
    return [ast.channels[i] for i in bridge.channels if i in ast.channels]


def _set_bridge_peers(ast: Asterisk, bridge: Bridge) -> None:
    members = _members(ast, bridge)
    if len(members) < 2:
        return
    for member in members:
        others = [other for other in members if other is not member]
        ast.set_variable(member, "BRIDGEPEER", ",".join(other.name for other in others))
        if len(others) == 1 and others[0].protocol_id:
            ast.set_variable(member, "BRIDGEPVTCALLID", others[0].protocol_id)


def _update_connected_lines(ast: Asterisk, bridge: Bridge, entered: list[Channel]) -> None:
    """Two parties learn each other's identity, newcomer first (as captured)."""
    members = _members(ast, bridge)
    if len(members) != 2:
        return
    ordered = sorted(members, key=lambda member: member not in entered)
    for member in ordered:
        other = members[1] if member is members[0] else members[0]
        if (member.connected.name, member.connected.number) == (
            other.caller.name,
            other.caller.number,
        ):
            continue
        member.connected.name, member.connected.number = other.caller.name, other.caller.number
        ast.channel_event("ChannelConnectedLine", member)
        _pass_identity_through_local(ast, member)


def _pass_identity_through_local(ast: Asterisk, half: Channel) -> None:
    """A Local `;1`'s connected party becomes the caller its `;2` sees (ChannelCallerId)."""
    peer = ast.peer(half)
    if half.tech != "Local" or not half.name.endswith(";1") or peer is None:
        return
    peer.caller.name, peer.caller.number = half.connected.name, half.connected.number
    ast.channel_event(
        "ChannelCallerId",
        peer,
        caller_presentation=0,
        caller_presentation_txt="Presentation Allowed, Not Screened",
    )


def leave(ast: Asterisk, channel: Channel) -> None:
    bridge = ast.bridges.get(channel.bridge_id or "")
    channel.bridge_id = None
    if bridge is None:
        return
    recording.split_all(ast)
    bridge.channels.remove(channel.id)
    if "BRIDGEPEER" in channel.variables:
        ast.set_variable(channel, "BRIDGEPEER", "")
    if channel.variables.get("BRIDGEPVTCALLID"):
        ast.set_variable(channel, "BRIDGEPVTCALLID", "")
    ast.emit(
        "ChannelLeftBridge",
        {"bridge": render.bridge(bridge), "channel": render.channel(channel)},
        channels=[channel],
        bridges=[bridge],
    )


def remove(ast: Asterisk, bridge: Bridge, channels: Sequence[Channel]) -> None:
    if any(channel.bridge_id != bridge.id for channel in channels):
        raise AriError(422, "Channel not in this bridge")
    for channel in channels:
        leave(ast, channel)


def destroy(ast: Asterisk, bridge: Bridge) -> None:
    for channel in _members(ast, bridge):
        leave(ast, channel)
    recording.finish_for_target(ast, f"bridge:{bridge.id}")
    for playback in [p for p in ast.playbacks.values() if p.target_uri == f"bridge:{bridge.id}"]:
        media.finish_playback(ast, playback)
    del ast.bridges[bridge.id]
    ast.emit("BridgeDestroyed", {"bridge": render.bridge(bridge)}, bridges=[bridge])


def start_moh(ast: Asterisk, bridge: Bridge, moh_class: str | None) -> None:
    recording.split_all(ast)
    bridge.moh_class = moh_class or "default"
    for member in _members(ast, bridge):
        member.heard.append(f"moh:{bridge.moh_class}")


def stop_moh(ast: Asterisk, bridge: Bridge) -> None:
    if bridge.moh_class is None:
        raise AriError(409, "Bridge isn't playing music")
    recording.split_all(ast)
    bridge.moh_class = None
