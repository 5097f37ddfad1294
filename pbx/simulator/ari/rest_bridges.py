"""/bridges: the checks and replies of res/ari/resource_bridges.c."""

from __future__ import annotations

from pbx.simulator.ari import bridging, media, render, scripts
from pbx.simulator.ari.rest import Call, Registry, Reply, created, no_content, ok
from pbx.simulator.ari.rest_channels import RECORD, start_recording
from pbx.simulator.ari.state import AriError, Bridge

routes = Registry()
PLAY = ("media", "announcer_format", "lang", "offsetms", "skipms")


@routes.route("GET", "/bridges")
async def list_bridges(call: Call) -> Reply:
    return ok([render.bridge(bridge) for bridge in call.sim.model.bridges.values()])


@routes.route("POST", "/bridges", "type", "bridgeId", "name")
async def create(call: Call) -> Reply:
    query = call.query
    bridge = bridging.create(
        call.sim.model, query.get("bridgeId"), query.get("name") or "", query.get("type")
    )
    return ok(render.bridge(bridge))


@routes.route("GET", "/bridges/{bridgeId}")
async def get_bridge(call: Call) -> Reply:
    return ok(render.bridge(_bridge(call)))


@routes.route("POST", "/bridges/{bridgeId}", "type", "name")
async def create_with_id(call: Call) -> Reply:
    query = call.query
    bridge = bridging.create(
        call.sim.model, call.path("bridgeId"), query.get("name") or "", query.get("type")
    )
    return ok(render.bridge(bridge))


@routes.route("DELETE", "/bridges/{bridgeId}")
async def destroy(call: Call) -> Reply:
    bridging.destroy(call.sim.model, _bridge(call))
    return no_content()


def _bridge(call: Call) -> Bridge:
    return bridging.find(call.sim.model, call.path("bridgeId"))


@routes.route(
    "POST", "/bridges/{bridgeId}/addChannel", "channel", "role", "absorbDTMF", "mute",
    "inhibitConnectedLineUpdates",
)  # fmt: skip
async def add_channel(call: Call) -> Reply:
    bridge, query = _bridge(call), call.query
    channels = bridging.channels_for(call.sim.model, query.many("channel"))
    query.get("role")  # roles only matter to holding-bridge announcers: nothing to simulate
    bridging.add(
        call.sim.model,
        bridge,
        channels,
        mute=query.boolean("mute"),
        absorb_dtmf=query.boolean("absorbDTMF"),
        inhibit_connected_line=query.boolean("inhibitConnectedLineUpdates"),
    )
    return no_content()


@routes.route("POST", "/bridges/{bridgeId}/removeChannel", "channel")
async def remove_channel(call: Call) -> Reply:
    bridge = _bridge(call)
    channels = bridging.channels_for(call.sim.model, call.query.many("channel"))
    bridging.remove(call.sim.model, bridge, channels)
    return no_content()


@routes.route("POST", "/bridges/{bridgeId}/moh", "mohClass")
async def start_moh(call: Call) -> Reply:
    bridging.start_moh(call.sim.model, _bridge(call), call.query.get("mohClass"))
    return no_content()


@routes.route("DELETE", "/bridges/{bridgeId}/moh")
async def stop_moh(call: Call) -> Reply:
    bridging.stop_moh(call.sim.model, _bridge(call))
    return no_content()


def _play(call: Call, playback_id: str | None) -> Reply:
    bridge, query = _bridge(call), call.query
    media_uris = query.many("media")
    if not media_uris:
        raise AriError(400, "Missing required parameter media")
    if query.get("announcer_format") not in (None, "", "slin", "ulaw", "alaw"):
        raise AriError(422, "The format specified is unknown on this system")
    playback = media.play(
        call.sim.model,
        f"bridge:{bridge.id}",
        media_uris,
        language=query.get("lang") or "en",
        playback_id=playback_id,
        offsetms=query.integer("offsetms", 0),
        skipms=query.integer("skipms", 3000),
    )
    reply = created(render.playback(playback))
    call.sim.spawn(scripts.run_playback(call.sim, playback))
    return reply


@routes.route("POST", "/bridges/{bridgeId}/play", *PLAY, "playbackId")
async def play(call: Call) -> Reply:
    return _play(call, call.query.get("playbackId"))


@routes.route("POST", "/bridges/{bridgeId}/play/{playbackId}", *PLAY)
async def play_with_id(call: Call) -> Reply:
    return _play(call, call.path("playbackId"))


@routes.route("POST", "/bridges/{bridgeId}/record", *RECORD, "recorder_format")
async def record(call: Call) -> Reply:
    bridge = _bridge(call)
    if call.query.get("recorder_format") not in (None, "", "slin", "ulaw", "alaw"):
        raise AriError(422, "The format specified is unknown on this system")
    # the Recorder channel answers and, like any Answer(), waits for media first
    return start_recording(call, f"bridge:{bridge.id}", call.sim.timing.media_wait)
