"""/channels: the checks and replies of res/ari/resource_channels.c, in its order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx.simulator.ari import dialer, dialplan, media, recording, render, scripts
from pbx.simulator.ari.rest import Call, Registry, Reply, created, no_content, ok
from pbx.simulator.ari.state import NORMAL_CLEARING, AriError, Channel

if TYPE_CHECKING:
    from pbx.simulator.ari.simulator import AsteriskSimulator

routes = Registry()

ORIGINATE = (
    "endpoint", "extension", "context", "priority", "label", "app", "appArgs", "callerId",
    "timeout", "otherChannelId", "originator", "formats",
)  # fmt: skip
HANGUP_REASONS = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 19,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}
FORMATS = frozenset({"ulaw", "alaw", "gsm", "g722", "g729", "opus", "slin", "slin16", "slin48"})
SNOOP_DIRECTIONS = frozenset({"none", "both", "out", "in"})


def _variables(call: Call) -> dict[str, tuple[str, bool]]:
    """The body's `variables`: strings, or {"value", "report_events"} objects."""
    parsed: dict[str, tuple[str, bool]] = {}
    for name, value in call.query.body_object("variables").items():
        if isinstance(value, str):
            parsed[name] = (value, False)
        elif isinstance(value, dict) and isinstance(value.get("value"), str):
            parsed[name] = (value["value"], bool(value.get("report_events", False)))
        else:
            raise AriError(400, "Only string values in the 'variables' object allowed")
    return parsed


def _originate(call: Call, channel_id: str | None) -> Reply:
    query = call.query
    endpoint = query.required("endpoint", "Endpoint must be specified")
    if query.get("originator") and query.get("formats"):
        raise AriError(400, "Originator and formats can't both be specified")
    tech, _, resource = endpoint.partition("/")
    if not tech or not resource:
        raise AriError(400, "Invalid endpoint specified")
    app, extension = query.get("app"), query.get("extension")
    if not app and not extension:
        raise AriError(400, "Application or extension must be specified")
    if query.get("originator") and query.get("originator") not in call.sim.model.channels:
        raise AriError(400, "Provided originator channel was not found")
    for name in query.many("formats"):
        if name.strip() not in FORMATS:
            raise AriError(400, f"Provided format ({name.strip()}) was not found")
    timeout = query.integer("timeout", 30)
    request = dialer.Originate(
        endpoint=endpoint,
        app=app,
        app_args=stasis_args(query.get("appArgs")),
        caller=dialer.parse_caller_id(query.get("callerId")),
        timeout=None if timeout == -1 else float(timeout if timeout > 0 else 30),
        channel_id=channel_id,
        other_channel_id=query.get("otherChannelId"),
        variables=_variables(call),
        extension=extension,
        context=query.get("context"),
        priority=query.integer("priority", 1) or 1,
    )
    return ok(render.channel(dialer.originate(call.sim, request)))


def stasis_args(app_args: str | None) -> list[str]:
    """Originate and create run Stasis(app,appArgs): the arguments split on commas, as
    Stasis() splits its data (a snoop's appArgs stay one argument)."""
    return app_args.split(",") if app_args else []


@routes.route("GET", "/channels")
async def list_channels(call: Call) -> Reply:
    return ok([render.channel(channel) for channel in call.sim.model.channels.values()])


@routes.route("POST", "/channels", *ORIGINATE, "channelId")
async def originate(call: Call) -> Reply:
    return _originate(call, call.query.get("channelId"))


@routes.route(
    "POST", "/channels/create", "endpoint", "app", "appArgs", "channelId", "otherChannelId",
    "originator", "formats",
)  # fmt: skip
async def create(call: Call) -> Reply:
    query = call.query
    if query.get("originator") and query.get("formats"):
        raise AriError(400, "Originator and formats can't both be specified")
    endpoint = query.required("endpoint", "Endpoint must be specified")
    app = query.required("app", "Application name is required")
    args = stasis_args(query.get("appArgs"))
    leg = dialer.create(call.sim, endpoint, app, args, query.get("channelId"), _variables(call))
    return ok(render.channel(leg))


@routes.route("GET", "/channels/{channelId}")
async def get_channel(call: Call) -> Reply:
    return ok(render.channel(call.sim.model.channel(call.path("channelId"))))


@routes.route("POST", "/channels/{channelId}", *ORIGINATE)
async def originate_with_id(call: Call) -> Reply:
    return _originate(call, call.path("channelId"))


@routes.route("DELETE", "/channels/{channelId}", "reason_code", "reason")
async def hangup(call: Call) -> Reply:
    channel = call.sim.model.channel(call.path("channelId"))
    code, reason = call.query.get("reason_code"), call.query.get("reason")
    if code and reason:
        raise AriError(400, "The reason and reason_code can't both be specified")
    if code:
        cause = call.query.integer("reason_code")
    elif not reason:
        cause = NORMAL_CLEARING
    elif reason in HANGUP_REASONS:
        cause = HANGUP_REASONS[reason]
    else:
        raise AriError(400, "Invalid reason for hangup provided")
    call.sim.model.hangup(channel, cause, by_ari=True)
    return no_content()


def _controllable(call: Call) -> Channel:
    return call.sim.model.controllable(call.path("channelId"))


@routes.route("POST", "/channels/{channelId}/answer")
async def answer(call: Call) -> Reply:
    call.sim.model.answer(_controllable(call))
    return no_content()


@routes.route("POST", "/channels/{channelId}/ring")
async def ring(call: Call) -> Reply:
    _controllable(call)  # indicates ringing to the far end; the channel state does not change
    return no_content()


@routes.route("DELETE", "/channels/{channelId}/ring")
async def ring_stop(call: Call) -> Reply:
    _controllable(call)
    return no_content()


@routes.route(
    "POST", "/channels/{channelId}/dtmf", "dtmf", "before", "between", "duration", "after"
)
async def send_dtmf(call: Call) -> Reply:
    channel, query = _controllable(call), call.query
    digits = query.required("dtmf", "DTMF is required")
    work = scripts.send_digits(
        call.sim,
        channel,
        digits,
        before=query.integer("before", 0),
        between=query.integer("between", 100),
        duration=query.integer("duration", 100),
        after=query.integer("after", 0),
    )
    call.sim.spawn(work)
    return no_content()


@routes.route("POST", "/channels/{channelId}/mute", "direction")
async def mute(call: Call) -> Reply:
    media.mute(call.sim.model, _controllable(call), call.query.get("direction", "both"), True)
    return no_content()


@routes.route("DELETE", "/channels/{channelId}/mute", "direction")
async def unmute(call: Call) -> Reply:
    media.mute(call.sim.model, _controllable(call), call.query.get("direction", "both"), False)
    return no_content()


@routes.route("POST", "/channels/{channelId}/hold")
async def hold(call: Call) -> Reply:
    media.hold(call.sim.model, _controllable(call), True)
    return no_content()


@routes.route("DELETE", "/channels/{channelId}/hold")
async def unhold(call: Call) -> Reply:
    media.hold(call.sim.model, _controllable(call), False)
    return no_content()


@routes.route("POST", "/channels/{channelId}/moh", "mohClass")
async def start_moh(call: Call) -> Reply:
    media.start_moh(call.sim.model, _controllable(call), call.query.get("mohClass"))
    return no_content()


@routes.route("DELETE", "/channels/{channelId}/moh")
async def stop_moh(call: Call) -> Reply:
    media.stop_moh(call.sim.model, _controllable(call))
    return no_content()


@routes.route("POST", "/channels/{channelId}/silence")
async def start_silence(call: Call) -> Reply:
    media.set_silence(call.sim.model, _controllable(call), True)
    return no_content()


@routes.route("DELETE", "/channels/{channelId}/silence")
async def stop_silence(call: Call) -> Reply:
    media.set_silence(call.sim.model, _controllable(call), False)
    return no_content()


def _play(call: Call, playback_id: str | None) -> Reply:
    channel, query = _controllable(call), call.query
    media_uris = query.many("media")
    if not media_uris:
        raise AriError(400, "Missing required parameter media")
    playback = media.play(
        call.sim.model,
        f"channel:{channel.id}",
        media_uris,
        language=query.get("lang") or channel.language,
        playback_id=playback_id,
        offsetms=query.integer("offsetms", 0),
        skipms=query.integer("skipms", 3000),
    )
    reply = created(render.playback(playback))
    call.sim.spawn(scripts.run_playback(call.sim, playback))
    return reply


@routes.route(
    "POST", "/channels/{channelId}/play", "media", "lang", "offsetms", "skipms", "playbackId"
)
async def play(call: Call) -> Reply:
    return _play(call, call.query.get("playbackId"))


@routes.route(
    "POST", "/channels/{channelId}/play/{playbackId}", "media", "lang", "offsetms", "skipms"
)
async def play_with_id(call: Call) -> Reply:
    return _play(call, call.path("playbackId"))


RECORD = ("name", "format", "maxDurationSeconds", "maxSilenceSeconds", "ifExists", "beep",
          "terminateOn")  # fmt: skip


def start_recording(call: Call, target_uri: str, delay: float) -> Reply:
    """Shared by channel and bridge recordings (the same checks in both files)."""
    query = call.query
    live = recording.start(
        call.sim.model,
        target_uri,
        query.required("name", "Recording name is required"),
        query.required("format", "Recording format is required"),
        if_exists=query.get("ifExists", "fail") or "fail",
        terminate_on=query.get("terminateOn", "none") or "none",
        max_duration=query.integer("maxDurationSeconds", 0),
        max_silence=query.integer("maxSilenceSeconds", 0),
    )
    query.boolean("beep")  # a beep is audio only: nothing to simulate
    reply = created(render.live_recording(live))
    call.sim.spawn(scripts.run_recording(call.sim, live, delay))
    return reply


@routes.route("POST", "/channels/{channelId}/record", *RECORD)
async def record(call: Call) -> Reply:
    channel = call.sim.model.stasis_channel(call.path("channelId"))
    return start_recording(call, f"channel:{channel.id}", 0.0)


@routes.route("GET", "/channels/{channelId}/variable", "variable")
async def get_variable(call: Call) -> Reply:
    name = call.query.required("variable", "Variable name is required")
    channel = call.sim.model.channels.get(call.path("channelId"))
    if channel is None:
        raise AriError(404, "Provided channel was not found")
    value = dialplan.lookup(channel, name)
    if value is None and name.endswith(")"):
        raise AriError(500, "Unable to read provided function")
    if value is None:
        raise AriError(404, "Provided variable was not found")
    return ok({"value": value})


@routes.route("POST", "/channels/{channelId}/variable", "variable", "value", "report_events")
async def set_variable(call: Call) -> Reply:
    query = call.query
    name = query.required("variable", "Variable name is required")
    channel = call.sim.model.stasis_channel(call.path("channelId"))
    report = query.boolean("report_events")
    value = query.get("value") or ""
    if name.endswith(")"):  # pbx_builtin_setvar_helper hands a function to ast_func_write
        call.sim.model.write_function(channel, name, value)
    else:
        call.sim.model.set_variable(channel, name, value, report=report)
    return no_content()


def _snoop(call: Call, snoop_id: str | None) -> Reply:
    query = call.query
    spy, whisper = query.get("spy") or "none", query.get("whisper") or "none"
    if spy not in SNOOP_DIRECTIONS:
        raise AriError(400, "Invalid direction specified for spy")
    if whisper not in SNOOP_DIRECTIONS:
        raise AriError(400, "Invalid direction specified for whisper")
    if spy == "none" and whisper == "none":
        raise AriError(400, "Direction must be specified for at least spy or whisper")
    app = query.required("app", "Application name is required")
    target = call.sim.model.channels.get(call.path("channelId"))
    if target is None:
        raise AriError(404, "Provided channel was not found")
    if snoop_id and snoop_id in call.sim.model.channels:
        raise AriError(500, "Snoop channel could not be created")
    args = [query.get("appArgs")] if query.get("appArgs") else []
    return ok(render.channel(call.sim.model.new_snoop(target, app, args, snoop_id)))


@routes.route("POST", "/channels/{channelId}/snoop", "spy", "whisper", "app", "appArgs", "snoopId")
async def snoop(call: Call) -> Reply:
    return _snoop(call, call.query.get("snoopId"))


@routes.route("POST", "/channels/{channelId}/snoop/{snoopId}", "spy", "whisper", "app", "appArgs")
async def snoop_with_id(call: Call) -> Reply:
    return _snoop(call, call.path("snoopId"))


@routes.route("POST", "/channels/{channelId}/continue", "context", "extension", "priority", "label")
async def continue_in_dialplan(call: Call) -> Reply:
    channel, query = _controllable(call), call.query
    context, extension = query.get("context"), query.get("extension")
    if context:
        channel.context, channel.exten = context, extension or "s"
        priority = query.integer("priority", 0) or 1
    else:
        channel.exten = extension or channel.exten
        priority = query.integer("priority", 0) or (1 if extension else channel.priority + 1)
    call.sim.model.leave_stasis(channel)
    call.sim.spawn(_resume(call.sim, channel, priority))
    return no_content()


async def _resume(sim: AsteriskSimulator, channel: Channel, priority: int) -> None:
    """Back in the dialplan; a context the simulated dialplan lacks hangs the call up."""
    await scripts.run_dialplan(sim, channel, start=priority)


@routes.route("POST", "/channels/{channelId}/redirect", "endpoint")
async def redirect(call: Call) -> Reply:
    channel = _controllable(call)
    endpoint = call.query.required("endpoint", "Required parameter 'endpoint' not provided.")
    tech, _, resource = endpoint.partition("/")
    if not tech or "/" not in endpoint:
        raise AriError(422, f"Endpoint parameter '{endpoint}' does not contain tech/resource")
    if not resource:
        raise AriError(422, f"No resource provided in endpoint parameter '{endpoint}'")
    if tech.lower() != channel.tech.lower():
        raise AriError(
            422,
            f"Endpoint technology '{tech}' does not match channel technology '{channel.tech}'",
        )
    # a SIP redirect (302) hands the call to the far end's new target: this leg ends
    call.sim.model.hangup(channel, NORMAL_CLEARING, by_ari=False)
    return no_content()


@routes.route("POST", "/channels/{channelId}/dial", "caller", "timeout")
async def dial(call: Call) -> Reply:
    model = call.sim.model
    leg = model.stasis_channel(call.path("channelId"))
    caller = model.channels.get(call.query.get("caller") or "")
    dialer.dial(call.sim, leg, caller, call.query.integer("timeout", 0))
    return no_content()
