"""The ARI REST client through real sockets: against the Asterisk simulator, against replays
of a real Asterisk 22's answers, and against peers of our own that misbehave."""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from pbx.ari.client import AriClient
from pbx.ari.connection import AriConnection
from pbx.ari.errors import (
    AriAuthError,
    AriBadRequest,
    AriConflict,
    AriError,
    AriNotFound,
    AriProtocolError,
    AriUnavailable,
)
from pbx.ari.events import Bridge, Channel, Event, LiveRecording, Playback, StasisStart
from pbx.simulator.ari import AsteriskSimulator
from tests.ari import captured, serve
from tests.waiting import until

DID, CALLER = "+15550100", "+15551234567"


@pytest.fixture
async def events(client: AriClient) -> AsyncIterator[list[Event]]:
    """Our app's events socket is open (Stasis() needs it); the events it received."""
    received: list[Event] = []
    connection = AriConnection(client, reconnect_initial=0.05, reconnect_max=0.2)

    async def keep(event: Event) -> None:
        received.append(event)

    connection.on_event(keep)
    await connection.start()
    await connection.wait_connected(2)
    yield received
    await connection.stop()


# --- failures ---------------------------------------------------------------------------


async def test_a_wrong_password_raises_auth_error_that_does_not_contain_the_password(
    sim: AsteriskSimulator,
) -> None:
    async with AriClient(sim.url, "ledgerline", "not-the-secret", "ledgerline") as client:
        with pytest.raises(AriAuthError) as caught:
            await client.list_channels()

    assert caught.value.status == 401
    assert (caught.value.method, caught.value.path) == ("GET", "/channels")
    assert "not-the-secret" not in str(caught.value) and "not-the-secret" not in repr(client)


async def test_a_channel_that_is_gone_raises_not_found_with_asterisks_message(
    sim: AsteriskSimulator, client: AriClient, events: list[Event]
) -> None:
    call = await sim.incoming_call(DID, CALLER)
    await call.hangup()

    with pytest.raises(AriNotFound) as caught:
        await client.hangup(call.channel_id)

    assert caught.value.status == 404 and caught.value.message == "Channel not found"
    assert caught.value.path == f"/channels/{call.channel_id}"


async def test_creating_a_bridge_with_an_id_in_use_raises_conflict(client: AriClient) -> None:
    await client.create_bridge(bridge_id="queue-sales")

    with pytest.raises(AriConflict, match="already exists"):
        await client.create_bridge(bridge_id="queue-sales")


async def test_recording_in_an_unknown_format_raises_bad_request(
    sim: AsteriskSimulator, client: AriClient, events: list[Event]
) -> None:
    bridge = await client.create_bridge()

    with pytest.raises(AriBadRequest) as caught:
        await client.record_bridge(bridge.id, "call-1", format="ogg-vorbis")

    assert caught.value.status == 422


async def test_asterisk_down_raises_unavailable_at_once(sim: AsteriskSimulator) -> None:
    await sim.stop()
    started = time.monotonic()

    async with AriClient(sim.url, "ledgerline", "secret", "ledgerline") as client:
        with pytest.raises(AriUnavailable) as caught:
            await client.asterisk_info()

    assert time.monotonic() - started < 1.0
    assert caught.value.path == "/asterisk/info" and caught.value.status is None


async def test_a_peer_that_never_answers_raises_unavailable_after_the_request_timeout() -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response()

    app = web.Application()
    app.router.add_get("/ari/channels", hang)
    async with serve(app) as url, AriClient(url, "u", "p", "a", request_timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(AriUnavailable, match="no answer in time"):
            await client.list_channels()
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, AriBadRequest),
        (401, AriAuthError),
        (404, AriNotFound),
        (409, AriConflict),
        (412, AriConflict),
        (422, AriBadRequest),
        (500, AriUnavailable),
        (503, AriUnavailable),
        (418, AriError),
    ],
)
async def test_each_error_status_raises_its_typed_error_with_asterisks_message(
    status: int, error: type[AriError]
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"message": "Channel in invalid state"}, status=status)

    app = web.Application()
    app.router.add_post("/ari/channels/{channelId}/answer", refuse)
    async with serve(app) as url, AriClient(url, "u", "p", "a") as client:
        with pytest.raises(error) as caught:
            await client.answer("1795353312.0")

    assert type(caught.value) is error
    assert (caught.value.status, caught.value.message) == (status, "Channel in invalid state")


async def test_an_answer_that_is_not_the_expected_json_raises_protocol_error() -> None:
    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="<html>proxy error</html>")

    async def wrong_shape(request: web.Request) -> web.Response:
        return web.json_response({"id": "1"})  # a Channel without its required fields

    app = web.Application()
    app.router.add_get("/ari/channels", garbage)
    app.router.add_get("/ari/channels/{channelId}", wrong_shape)
    async with serve(app) as url, AriClient(url, "u", "p", "a") as client:
        with pytest.raises(AriProtocolError, match="not JSON"):
            await client.list_channels()
        with pytest.raises(AriProtocolError, match=r"channels\.get\.name: missing"):
            await client.get_channel("1")


async def test_a_closed_client_raises_unavailable(sim: AsteriskSimulator) -> None:
    client = AriClient(sim.url, "ledgerline", "secret", "ledgerline")
    await client.asterisk_info()
    await client.close()

    with pytest.raises(AriUnavailable, match="closed"):
        await client.asterisk_info()


async def test_a_shared_http_session_is_used_and_left_open(sim: AsteriskSimulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with AriClient(sim.url, "ledgerline", "secret", "ledgerline", http=http) as client:
            assert (await client.asterisk_info()).version == "22.10.1"
        assert not http.closed


# --- calls ------------------------------------------------------------------------------


async def test_the_caller_lookup_variables_are_readable_from_the_callers_channel(
    sim: AsteriskSimulator, client: AriClient, events: list[Event]
) -> None:
    call = await sim.incoming_call(DID, CALLER, variables={"CUSTOMER_ID": "42"})

    assert await client.get_variable(call.channel_id, "CUSTOMER_ID") == "42"
    await client.set_variable(call.channel_id, "QUEUE", "collections")
    assert await client.get_variable(call.channel_id, "QUEUE") == "collections"


async def test_originate_to_an_agent_rings_then_the_answered_leg_enters_stasis_with_variables(
    sim: AsteriskSimulator, client: AriClient, events: list[Event]
) -> None:
    sim.agent("PJSIP/1001", answer_after=0.05)

    leg = await client.originate(
        "PJSIP/1001", app_args="agent-leg", caller_id="Queue <100>", variables={"CALL": "c-7"}
    )

    assert isinstance(leg, Channel) and leg.state == "Down"
    start = await until(lambda: next((e for e in events if isinstance(e, StasisStart)), None))
    assert start.channel.id == leg.id and start.args == ("agent-leg",)
    assert await client.get_variable(leg.id, "CALL") == "c-7"
    assert [c.id for c in await client.list_channels()] == [leg.id]


async def test_a_bridged_call_is_recorded_paused_resumed_stopped_and_downloaded_as_wav(
    sim: AsteriskSimulator, client: AriClient, events: list[Event]
) -> None:
    call = await sim.incoming_call(DID, CALLER)
    bridge = await client.create_bridge("mixing", name="call-1")
    await client.add_channel(bridge.id, [call.channel_id])
    assert (await client.get_bridge(bridge.id)).channels == (call.channel_id,)

    live = await client.record_bridge(bridge.id, "call-1", if_exists="overwrite", beep=False)
    assert isinstance(live, LiveRecording) and live.target_uri == f"bridge:{bridge.id}"
    await sim.settled()
    await client.pause_recording("call-1")
    assert (await client.get_live_recording("call-1")).state == "paused"
    await client.unpause_recording("call-1")
    assert (await client.get_live_recording("call-1")).state == "recording"
    await client.stop_recording("call-1")

    assert "call-1" in [stored.name for stored in await client.list_stored()]
    audio = await client.download_stored("call-1")
    with wave.open(io.BytesIO(audio)) as wav:
        assert wav.getframerate() == 8000
    await client.delete_stored("call-1")
    with pytest.raises(AriNotFound):
        await client.get_stored("call-1")


async def test_a_recording_larger_than_the_cap_is_refused(
    sim: AsteriskSimulator, client: AriClient, events: list[Event]
) -> None:
    call = await sim.incoming_call(DID, CALLER)
    bridge = await client.create_bridge()
    await client.add_channel(bridge.id, call.channel_id)
    await client.record_bridge(bridge.id, "big")
    await sim.settled()
    await asyncio.sleep(0.1)
    await client.stop_recording("big")

    with pytest.raises(AriProtocolError, match="larger than 16 bytes"):
        await client.download_stored("big", max_bytes=16)


async def test_play_hold_and_music_on_hold_reach_the_caller(
    sim: AsteriskSimulator, client: AriClient, events: list[Event]
) -> None:
    call = await sim.incoming_call(DID, CALLER)

    playback = await client.play(call.channel_id, ["sound:hello", "sound:queue"], playback_id="p1")
    await client.start_moh(call.channel_id, "default")
    await client.stop_moh(call.channel_id)

    assert isinstance(playback, Playback) and playback.id == "p1"
    await sim.settled()
    assert call.heard[:2] == ["sound:hello", "sound:queue"]


# --- a real Asterisk's answers ----------------------------------------------------------

Step = Callable[[AriClient, list[str], dict[str, str]], Awaitable[Any]]

# Each captured step as the client method Ledgerline would call (path segments, params).
STEPS: dict[str, Step] = {
    "asterisk_info": lambda c, s, p: c.asterisk_info(),
    "applications": lambda c, s, p: c.get_application(s[2]),
    "originate_caller": lambda c, s, p: c.originate(
        p["endpoint"], app=p["app"], app_args=p["appArgs"], caller_id=p["callerId"]
    ),
    "get_customer_id_var": lambda c, s, p: c.get_variable(s[2], p["variable"]),
    "get_agistatus_var": lambda c, s, p: c.get_variable(s[2], p["variable"]),
    "originate_agent": lambda c, s, p: c.originate(
        p["endpoint"], app=p["app"], app_args="agent-leg"
    ),
    "create_bridge": lambda c, s, p: c.create_bridge(p["type"], name=p["name"]),
    "add_channels": lambda c, s, p: c.add_channel(s[2], p["channel"].split(",")),
    "get_bridge": lambda c, s, p: c.get_bridge(s[2]),
    "bridge_record": lambda c, s, p: c.record_bridge(
        s[2], p["name"], format=p["format"], if_exists="overwrite", beep=False
    ),
    "pause": lambda c, s, p: c.pause_recording(s[3]),
    "live_state_paused": lambda c, s, p: c.get_live_recording(s[3]),
    "unpause": lambda c, s, p: c.unpause_recording(s[3]),
    "live_state_unpaused": lambda c, s, p: c.get_live_recording(s[3]),
    "mute_rec": lambda c, s, p: c.mute_recording(s[3]),
    "unmute_rec": lambda c, s, p: c.unmute_recording(s[3]),
    "stop": lambda c, s, p: c.stop_recording(s[3]),
    "stored_list": lambda c, s, p: c.list_stored(),
    "stored_get": lambda c, s, p: c.get_stored(s[3]),
    "mute_out": lambda c, s, p: c.mute(s[2], "out"),
    "unmute_out": lambda c, s, p: c.unmute(s[2], "out"),
    "dtmf_into_leg1": lambda c, s, p: c.send_dtmf(s[2], p["dtmf"], between=100, duration=100),
    "dtmf_into_leg2": lambda c, s, p: c.send_dtmf(s[2], p["dtmf"], between=100, duration=100),
    "snoop": lambda c, s, p: c.snoop(s[2], spy="both", app=p["app"], app_args=p["appArgs"]),
    "hangup_snoop": lambda c, s, p: c.hangup(s[2]),
    "play_tone": lambda c, s, p: c.play(s[2], p["media"]),
    "moh_start": lambda c, s, p: c.start_moh(s[2], p["mohClass"]),
    "moh_stop": lambda c, s, p: c.stop_moh(s[2]),
    "channels_list": lambda c, s, p: c.list_channels(),
    "remove_from_bridge": lambda c, s, p: c.remove_channel(s[2], p["channel"]),
    "hangup_agent": lambda c, s, p: c.hangup(s[2]),
    "hangup_caller": lambda c, s, p: c.hangup(s[2]),
    "destroy_bridge": lambda c, s, p: c.destroy_bridge(s[2]),
}


async def test_the_client_makes_the_captured_requests_and_reads_a_real_asterisks_answers() -> None:
    steps = captured("requests")
    answers = iter(steps)
    received: list[tuple[str, str, dict[str, str]]] = []

    async def replay(request: web.Request) -> web.Response:
        received.append((request.method, request.path.removeprefix("/ari"), dict(request.query)))
        step = next(answers)
        if step["body"] is None:
            return web.Response(status=step["status"])
        return web.json_response(step["body"], status=step["status"])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", replay)
    async with serve(app) as url, AriClient(url, "u", "p", "callcenter") as client:
        results = [
            await STEPS[step["step"]](client, step["path"].split("/"), step["params"])
            for step in steps
        ]

    for step, (method, path, params), result in zip(steps, received, results, strict=True):
        assert (method, path) == (step["method"], step["path"]), step["step"]
        # the client may spell out a default the capture left implicit (hangup reason)
        assert step["params"].items() <= params.items(), step["step"]
        assert (result is None) == (step["status"] == 204), step["step"]
    typed = {type(r) for r in results if not isinstance(r, list | str) and r is not None}
    assert {Channel, Bridge, LiveRecording, Playback} <= typed
