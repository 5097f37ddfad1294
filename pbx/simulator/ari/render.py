"""How the simulated objects look on the wire: the JSON Asterisk 22 writes (see the captures).

Field sets and orders follow `ast_channel_snapshot_to_json`, `ast_bridge_snapshot_to_json`,
`stasis_app_playback_to_json` and `stasis_app_recording_to_json` as captured.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pbx.simulator.ari.state import Bridge, Channel, LiveRecording, Party, Playback

ASTERISK_VERSION = "22.10.1"


def asterisk_time(epoch: float) -> str:
    """Asterisk's `ast_json_timeval` format: `2026-11-22T13:15:12.550+0000`."""
    second = int(epoch // 1)
    micro = round((epoch - second) * 1e6)  # as datetime rounds it
    if micro == 1_000_000:
        second, micro = second + 1, 0
    return f"{_second(second)}.{micro // 1000:03d}+0000"


@functools.lru_cache(maxsize=4)
def _second(second: int) -> str:
    # Every event carries a timestamp, and a busy simulator emits hundreds in each second.
    return f"{datetime.fromtimestamp(second, UTC):%Y-%m-%dT%H:%M:%S}"


def party(value: Party) -> dict[str, str]:
    return {"name": value.name, "number": value.number}


def channel(value: Channel) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": value.id,
        "name": value.name,
        "state": value.state,
        "protocol_id": value.protocol_id,
        "caller": party(value.caller),
        "connected": party(value.connected),
        "accountcode": "",
        "dialplan": value.dialplan_location(),
        "creationtime": asterisk_time(value.created),
        "language": value.language,
    }
    if value.reported_variables:  # only variables set with report_events=true
        body["channelvars"] = {
            name: value.variables.get(name, "") for name in sorted(value.reported_variables)
        }
    return body


def bridge_technology(value: Bridge) -> str:
    if value.holding:
        return "holding_bridge"
    # Asterisk picks simple_bridge for up to two parties and upgrades to softmix beyond.
    return "simple_bridge" if len(value.channels) <= 2 else "softmix"


def bridge(value: Bridge) -> dict[str, Any]:
    return {
        "id": value.id,
        "technology": bridge_technology(value),
        "bridge_type": "holding" if value.holding else "mixing",
        "bridge_class": "stasis",
        "creator": "Stasis",
        "name": value.name,
        "channels": list(value.channels),
        "creationtime": asterisk_time(value.created),
        "video_mode": "none" if value.holding else "talker",
    }


def playback(value: Playback) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": value.id,
        "media_uri": value.media[value.index],
        "target_uri": value.target_uri,
        "language": value.language,
        # state_to_string: stopped, canceled and complete are all "done" to ARI
        "state": "done" if value.state == "canceled" else value.state,
    }
    if value.index + 1 < len(value.media):
        body["next_media_uri"] = value.media[value.index + 1]
    return body


def live_recording(value: LiveRecording) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": value.name,
        "format": value.format,
        "state": value.state,
        "target_uri": value.target_uri,
    }
    if value.duration is not None:
        body["duration"] = value.duration
    return body


def stored_recording(name: str, format_: str) -> dict[str, str]:
    return {"name": name, "format": format_}


def asterisk_info(entity_id: str, started: float, only: list[str]) -> dict[str, Any]:
    started_at = asterisk_time(started)
    sections: dict[str, Any] = {
        "build": {
            "os": "Linux",
            "kernel": "6.1.0-simulated",
            "machine": "x86_64",
            "options": "OPTIONAL_API",
            "date": "2026-11-22 13:02:56 UTC",
            "user": "root",
        },
        "system": {"version": ASTERISK_VERSION, "entity_id": entity_id},
        "config": {
            "name": "",
            "default_language": "en",
            "setid": {"user": "", "group": ""},
        },
        "status": {"startup_time": started_at, "last_reload_time": started_at},
    }
    return {key: value for key, value in sections.items() if not only or key in only}


def application(
    name: str,
    channel_ids: list[str],
    bridge_ids: list[str],
    allowed: Sequence[str] = (),
    disallowed: Sequence[str] = (),
) -> dict[str, Any]:
    return {
        "name": name,
        "channel_ids": channel_ids,
        "bridge_ids": bridge_ids,
        "endpoint_ids": [],
        "device_names": [],
        "events_allowed": [{"type": t} for t in allowed],
        "events_disallowed": [{"type": t} for t in disallowed],
    }
