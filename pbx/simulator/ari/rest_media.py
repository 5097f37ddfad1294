"""/playbacks, /sounds and /recordings: resource_playbacks.c, resource_sounds.c and
resource_recordings.c."""

from __future__ import annotations

from aiohttp import web

from pbx.simulator.ari import media, recording, render
from pbx.simulator.ari.rest import Call, Registry, Reply, no_content, ok

routes = Registry()


@routes.route("GET", "/playbacks/{playbackId}")
async def get_playback(call: Call) -> Reply:
    return ok(render.playback(media.find_playback(call.sim.model, call.path("playbackId"))))


@routes.route("DELETE", "/playbacks/{playbackId}")
async def stop_playback(call: Call) -> Reply:
    playback = media.find_playback(call.sim.model, call.path("playbackId"))
    media.finish_playback(call.sim.model, playback)
    return no_content()


@routes.route("POST", "/playbacks/{playbackId}/control", "operation")
async def control_playback(call: Call) -> Reply:
    playback = media.find_playback(call.sim.model, call.path("playbackId"))
    media.control(call.sim.model, playback, call.query.get("operation"))
    return no_content()


@routes.route("GET", "/sounds", "lang", "format")
async def list_sounds(call: Call) -> Reply:
    return ok(call.sim.model.sounds.listing(call.query.get("lang"), call.query.get("format")))


@routes.route("GET", "/sounds/{soundId}")
async def get_sound(call: Call) -> Reply:
    return ok(call.sim.model.sounds.sound(call.path("soundId")))


@routes.route("GET", "/recordings/stored")
async def list_stored(call: Call) -> Reply:
    stored = sorted(call.sim.model.stored.values(), key=lambda item: item.name)
    return ok([render.stored_recording(item.name, item.format) for item in stored])


@routes.route("GET", "/recordings/stored/{recordingName}")
async def get_stored(call: Call) -> Reply:
    item = recording.stored(call.sim.model, call.path("recordingName"))
    return ok(render.stored_recording(item.name, item.format))


@routes.route("DELETE", "/recordings/stored/{recordingName}")
async def delete_stored(call: Call) -> Reply:
    recording.delete_stored(call.sim.model, call.path("recordingName"))
    return no_content()


@routes.route("GET", "/recordings/stored/{recordingName}/file")
async def get_stored_file(call: Call) -> web.Response:
    item = recording.stored(call.sim.model, call.path("recordingName"))
    return web.Response(body=item.data, content_type="audio/wav")


@routes.route("POST", "/recordings/stored/{recordingName}/copy", "destinationRecordingName")
async def copy_stored(call: Call) -> Reply:
    destination = call.query.required(
        "destinationRecordingName", "Missing parameter destinationRecordingName"
    )
    item = recording.copy_stored(call.sim.model, call.path("recordingName"), destination)
    return ok(render.stored_recording(item.name, item.format))


@routes.route("GET", "/recordings/live/{recordingName}")
async def get_live(call: Call) -> Reply:
    return ok(render.live_recording(recording.find(call.sim.model, call.path("recordingName"))))


@routes.route("DELETE", "/recordings/live/{recordingName}")
async def cancel_live(call: Call) -> Reply:
    recording.cancel(call.sim.model, call.path("recordingName"))
    return no_content()


@routes.route("POST", "/recordings/live/{recordingName}/stop")
async def stop_live(call: Call) -> Reply:
    recording.stop(call.sim.model, call.path("recordingName"))
    return no_content()


@routes.route("POST", "/recordings/live/{recordingName}/pause")
async def pause_live(call: Call) -> Reply:
    recording.pause(call.sim.model, call.path("recordingName"))
    return no_content()


@routes.route("DELETE", "/recordings/live/{recordingName}/pause")
async def unpause_live(call: Call) -> Reply:
    recording.unpause(call.sim.model, call.path("recordingName"))
    return no_content()


@routes.route("POST", "/recordings/live/{recordingName}/mute")
async def mute_live(call: Call) -> Reply:
    recording.set_muted(call.sim.model, call.path("recordingName"), True)
    return no_content()


@routes.route("DELETE", "/recordings/live/{recordingName}/mute")
async def unmute_live(call: Call) -> Reply:
    recording.set_muted(call.sim.model, call.path("recordingName"), False)
    return no_content()
