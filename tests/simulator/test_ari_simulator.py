"""The ARI simulator through real sockets: replays of the captured Asterisk 22 sessions, and
the behaviours Ledgerline relies on (calls, DTMF, agents, hangups, recordings, restarts)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import re
import wave
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from pbx.simulator.ari import AsteriskSimulator, Step, Timing
from tests.fixtures import CAPTURES

FAST = Timing(media_wait=0.01, playback=0.02, dtmf_scale=0.01)
Event = dict[str, Any]


def basic_auth(user: str = "ledgerline", password: str = "secret") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Ari:
    """A bare ARI client for the tests: status and decoded body of each request."""

    def __init__(self, session: aiohttp.ClientSession, sim: AsteriskSimulator) -> None:
        self.session, self.sim = session, sim

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        async with self.session.request(
            method, self.sim.url + path, params=params, json=body
        ) as response:
            raw = await response.read()
            if not raw:
                return response.status, None
            if response.content_type == "application/json":
                return response.status, json.loads(raw)
            return response.status, raw

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, **params)

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return await self.call("POST", path, body, **params)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.call("DELETE", path, **params)

    async def events(self, app: str = "ledgerline", **params: str) -> EventStream:
        socket = await self.session.ws_connect(
            self.sim.url.replace("http", "ws", 1) + "/events", params={"app": app, **params}
        )
        return EventStream(socket)


class EventStream:
    """Every event one socket received, in order."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.events: list[Event] = []
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.socket:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.events.append(json.loads(message.data))
        self.closed.set()

    async def wait_for(
        self, type_: str, where: Callable[[Event], bool] = lambda _: True, seconds: float = 2.0
    ) -> Event:
        async with asyncio.timeout(seconds):
            while True:
                for event in self.events:
                    if event["type"] == type_ and where(event):
                        return event
                await asyncio.sleep(0.005)

    def of(self, channel_id: str) -> list[str]:
        """The types of the events about one channel (Dial: its peer), in order."""
        return [e["type"] for e in self.events if _subject(e) == channel_id]

    async def close(self) -> None:
        await self.socket.close()
        await self._reader


def _subject(event: Event) -> str | None:
    for key in ("channel", "peer"):
        if key in event:
            return event[key]["id"]
    return None


# --- replays of the captures ------------------------------------------------------------

CAPTURE_DIALPLAN = {
    "from-pstn": (
        Step("NoOp", "Inbound call to ${EXTEN} from ${CALLERID(all)}"),
        Step("Answer"),
        Step("AGI", "agi://127.0.0.1:4573/caller_lookup", sets={"CUSTOMER_ID": "42"}),
        Step("Stasis", "callcenter"),
    ),
    "probe": (Step("Answer"), Step("Milliwatt")),
}
# Varsets whose repetitions follow Asterisk's internal bridge re-configurations (snoop
# audiohooks, recorder channels...): the simulator sets them once per change instead.
UNREPEATED_VARIABLES = frozenset({"BRIDGEPEER", "BRIDGEPVTCALLID"})


def _load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (CAPTURES / name).read_text().splitlines() if line]


def shape(value: Any) -> Any:
    """Keys and value types, recursively; a list by its first element."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def name_key(name: str) -> str:
    """A channel's name without the numbers that differ between runs."""
    return re.sub(r"-[0-9a-f]{8}", "", re.sub(r"^Snoop/[^-]+", "Snoop/", name))


class Identities:
    """Channel ids of the capture and of the simulator, matched by name and appearance."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = defaultdict(list)

    def learn(self, value: Any) -> None:
        if isinstance(value, dict):
            if {"id", "name", "dialplan"} <= value.keys():
                ids = self.by_key[name_key(value["name"])]
                if value["id"] not in ids:
                    ids.append(value["id"])
            for item in value.values():
                self.learn(item)
        elif isinstance(value, list):
            for item in value:
                self.learn(item)

    def key_of(self, channel_id: str) -> tuple[str, int] | None:
        for key, ids in self.by_key.items():
            if channel_id in ids:
                return key, ids.index(channel_id)
        return None


def signature(event: Event) -> tuple[Any, ...] | None:
    """What must match between capture and simulator, or None for an event left out."""
    kind = event["type"]
    if kind == "ChannelVarset" and event["variable"] in UNREPEATED_VARIABLES:
        return None
    if kind == "ChannelCallerId" and event["caller_presentation"] != 0:
        return None  # a hanging-up Local half's "Number Unavailable": not simulated
    details = {
        "ChannelVarset": lambda: (event["variable"],),
        "Dial": lambda: (event["dialstatus"],),
        "ChannelHangupRequest": lambda: (event.get("cause"), event.get("soft", False)),
        "ChannelDestroyed": lambda: (event["cause"], event["cause_txt"]),
        "ChannelDtmfReceived": lambda: (event["digit"],),
        "StasisStart": lambda: tuple(event["args"]),
        "ChannelDialplan": lambda: (event["dialplan_app"],),
        "ChannelStateChange": lambda: (event["channel"]["state"],),
        "PlaybackStarted": lambda: (event["playback"]["state"],),
        "PlaybackFinished": lambda: (event["playback"]["state"],),
        "RecordingStarted": lambda: (event["recording"]["state"],),
        "RecordingFinished": lambda: (event["recording"]["state"],),
    }
    return (kind, *details.get(kind, tuple)())


def per_subject(events: list[Event], identities: Identities) -> dict[Any, list[Any]]:
    """Event signatures grouped by the channel (or bridge/playback/recording) they are about."""
    grouped: dict[Any, list[Any]] = defaultdict(list)
    for event in events:
        if (sig := signature(event)) is None:
            continue
        subject = _subject(event)
        if subject is not None:
            grouped[identities.key_of(subject)].append(sig)
        else:
            kind = next(k for k in ("bridge", "playback", "recording") if k in event)
            grouped[kind].append(sig)
    return grouped


def _map_ids(text: str, mapping: dict[str, str]) -> str:
    for captured in sorted(mapping, key=len, reverse=True):
        text = text.replace(captured, mapping[captured])
    return text


async def replay(ari: Ari, capture: str, sim: AsteriskSimulator) -> None:
    requests = _load(f"ari-requests-{capture}.jsonl")
    captured_events = _load(f"ari-events-{capture}.jsonl")
    captured_ids = Identities()
    captured_ids.learn(captured_events)
    captured_ids.learn([step["body"] for step in requests])
    stream = await ari.events("callcenter")
    await asyncio.sleep(0.02)
    sim_ids, others = Identities(), {}  # others: bridge and playback ids
    for step in requests:
        await sim.settled()
        await asyncio.sleep(0.02)  # the socket delivers what the model already emitted
        sim_ids.learn(stream.events)
        mapping = dict(others)
        for key, ids in captured_ids.by_key.items():
            mapping.update(zip(ids, sim_ids.by_key.get(key, []), strict=False))
        path = _map_ids(step["path"], mapping)
        params = {name: _map_ids(value, mapping) for name, value in step["params"].items()}
        status, body = await ari.call(step["method"], path, **params)
        assert status == step["status"], (step["step"], body)
        assert shape(body) == shape(step["body"]), step["step"]
        sim_ids.learn(body)
        if isinstance(body, dict) and "id" in body and "name" not in body:
            others[step["body"]["id"]] = body["id"]  # a bridge or a playback
        if isinstance(body, dict) and "technology" in body:
            others[step["body"]["id"]] = body["id"]
    await sim.settled()
    await asyncio.sleep(0.05)
    await stream.close()
    sim_ids.learn(stream.events)
    expected = per_subject(captured_events, captured_ids)
    assert per_subject(stream.events, sim_ids) == expected


async def test_replays_the_local_channel_capture_with_the_same_statuses_bodies_and_events(
    ari: Ari,
) -> None:
    sim = AsteriskSimulator(asterisk_id="02:fc:00:00:00:01", timing=FAST, dialplan=CAPTURE_DIALPLAN)
    await sim.start()
    try:
        await replay(Ari(ari.session, sim), "local-channel", sim)
    finally:
        await sim.stop()


async def test_replays_the_pjsip_call_capture_with_the_same_statuses_bodies_and_events(
    ari: Ari,
) -> None:
    sim = AsteriskSimulator(asterisk_id="02:fc:00:00:00:01", timing=FAST, dialplan=CAPTURE_DIALPLAN)
    sim.loopback_trunk("pstn-trunk", context="from-pstn")
    await sim.start()
    try:
        await replay(Ari(ari.session, sim), "pjsip-call", sim)
    finally:
        await sim.stop()


# --- behaviours -------------------------------------------------------------------------

DID, CALLER = "+97235550100", "+972502345678"


async def _bridge_with(ari: Ari, *channel_ids: str) -> str:
    status, bridge = await ari.post("/bridges", type="mixing")
    assert status == 200
    status, _ = await ari.post(f"/bridges/{bridge['id']}/addChannel", channel=",".join(channel_ids))
    assert status == 204
    return bridge["id"]


async def test_incoming_call_starts_stasis_with_args_and_the_lookup_variables_are_readable(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    events = await ari.events()
    call = await sim.incoming_call(
        DID, CALLER, "Dana", args=("inbound", "vip"), variables={"LL_MATCH": "unique"}
    )
    start = await events.wait_for("StasisStart")
    assert start["args"] == ["inbound", "vip"]
    assert start["application"] == "ledgerline" and start["asterisk_id"] == sim.asterisk_id
    channel = start["channel"]
    assert (channel["id"], channel["state"]) == (call.channel_id, "Ring")
    assert channel["caller"] == {"name": "Dana", "number": CALLER}
    assert channel["dialplan"] == {
        "context": "from-pstn",
        "exten": DID,
        "priority": 5,
        "app_name": "Stasis",
        "app_data": "ledgerline,inbound,vip",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", start["timestamp"])
    # the dialplan ran before Stasis: the app was not subscribed, so it saw nothing of it
    assert [e["type"] for e in events.events] == ["StasisStart"]
    for name, value in (
        ("LL_MATCH", "unique"),
        ("AGISTATUS", "SUCCESS"),
        ("CALLERID(num)", CALLER),
    ):
        assert await ari.get(f"/channels/{call.channel_id}/variable", variable=name) == (
            200,
            {"value": value},
        )
    assert (await ari.get(f"/channels/{call.channel_id}/variable", variable="NOPE"))[0] == 404


async def test_incoming_call_with_no_socket_for_the_app_fails_and_is_not_delivered(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    other = await ari.events(app="someone-else")
    call = await sim.incoming_call(DID, CALLER)
    assert call.failed and call.state == "Hungup"
    assert (await ari.get("/channels"))[1] == []
    await asyncio.sleep(0.05)
    assert other.events == []


async def test_caller_dtmf_reaches_the_app_and_crosses_the_bridge_to_the_other_party(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    await ari.post(f"/channels/{call.channel_id}/answer")
    # the other party is a Local channel: what its ;1 is sent arrives on its ;2
    sim.dialplan["agents"] = (Step("Answer"), Step("Milliwatt"))
    status, agent = await ari.post("/channels", endpoint="Local/1001@agents", app="ledgerline")
    assert status == 200
    await events.wait_for("StasisStart", lambda e: e["channel"]["id"] == agent["id"])
    await _bridge_with(ari, call.channel_id, agent["id"])
    await call.press("12#")
    await sim.settled()
    await asyncio.sleep(0.02)
    digits = [(e["channel"]["name"][-2:], e["digit"]) for e in events.events if "digit" in e]
    assert digits == [
        (call.channel.name[-2:], "1"), (";2", "1"),
        (call.channel.name[-2:], "2"), (";2", "2"),
        (call.channel.name[-2:], "#"), (";2", "#"),
    ]  # fmt: skip
    assert all(e["duration_ms"] == 100 for e in events.events if "digit" in e)


async def test_dtmf_sent_to_a_bridged_caller_goes_to_the_caller_not_to_the_app(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    await ari.post(f"/channels/{call.channel_id}/answer")
    assert (await ari.post(f"/channels/{call.channel_id}/dtmf", dtmf="42", between="50"))[0] == 204
    await sim.settled()
    assert call.received_dtmf == "42"
    assert not [e for e in events.events if e["type"] == "ChannelDtmfReceived"]


async def test_originate_to_an_agent_who_answers_after_a_delay_rings_then_enters_stasis(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    sim.agent("PJSIP/1001", answer_after=0.1)
    events = await ari.events()
    status, leg = await ari.post(
        "/channels",
        {"variables": {"LL_QUEUE": "sales"}},
        endpoint="PJSIP/1001",
        app="ledgerline",
        appArgs="agent",
        callerId='"Dana" <+972 50-234-5678>',
    )
    assert status == 200 and leg["state"] == "Down" and leg["name"].startswith("PJSIP/1001-")
    assert leg["caller"] == {"name": "Dana", "number": "+972502345678"}
    assert leg["dialplan"]["app_name"] == "AppDial2"
    start = await events.wait_for("StasisStart")
    assert start["args"] == ["agent"] and start["channel"]["state"] == "Up"
    assert events.of(leg["id"]) == [
        "Dial", "ChannelStateChange", "ChannelStateChange", "Dial", "ChannelVarset", "StasisStart",
    ]  # fmt: skip
    states = [e["channel"]["state"] for e in events.events if e["type"] == "ChannelStateChange"]
    dials = [e["dialstatus"] for e in events.events if e["type"] == "Dial"]
    assert states == ["Ringing", "Up"] and dials == ["", "ANSWER"]
    assert (await ari.get(f"/channels/{leg['id']}/variable", variable="LL_QUEUE"))[1] == {
        "value": "sales"
    }


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ({"reject": True}, ["Dial", "ChannelHangupRequest", "Dial", "ChannelDestroyed"]),
        ({"busy": True}, ["Dial", "Dial", "ChannelDestroyed"]),
        ({"answer_after": None}, ["Dial", "ChannelStateChange", "ChannelDestroyed"]),
    ],
    ids=["rejects", "is-busy", "never-answers"],
)
async def test_originate_to_an_agent_who_does_not_answer_ends_with_asterisks_cause(
    sim: AsteriskSimulator, ari: Ari, behaviour: dict[str, Any], expected: list[str]
) -> None:
    sim.agent("PJSIP/1002", **behaviour)
    events = await ari.events()
    _, leg = await ari.post("/channels", endpoint="PJSIP/1002", app="ledgerline", timeout="1")
    destroyed = await events.wait_for("ChannelDestroyed", seconds=3)
    assert events.of(leg["id"]) == expected
    cause = {"rejects": 21, "is-busy": 17, "never-answers": 19}
    statuses = [e["dialstatus"] for e in events.events if e["type"] == "Dial"]
    if behaviour.get("reject"):
        assert (destroyed["cause"], destroyed["cause_txt"], statuses) == (
            cause["rejects"], "Call Rejected", ["", "NOANSWER"],
        )  # fmt: skip
    elif behaviour.get("busy"):
        assert (destroyed["cause"], statuses) == (cause["is-busy"], ["", "BUSY"])
    else:
        assert destroyed["cause"] == cause["never-answers"] and statuses == [""]
    assert (await ari.get(f"/channels/{leg['id']}"))[0] == 404


async def test_originate_to_an_unknown_endpoint_fails_like_chan_pjsip(ari: Ari) -> None:
    assert await ari.post("/channels", endpoint="PJSIP/nobody", app="ledgerline") == (
        500,
        {"message": "Allocation failed"},
    )
    assert (await ari.post("/channels", endpoint="PJSIP", app="ledgerline"))[0] == 400
    assert (await ari.post("/channels", endpoint="PJSIP/1001"))[0] == 400
    assert (await ari.post("/channels", app="ledgerline"))[0] == 400


async def test_caller_hangup_leaves_the_bridge_and_ends_stasis(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    sim.agent("PJSIP/1001", answer_after=0.0)
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    await ari.post(f"/channels/{call.channel_id}/answer")
    _, agent = await ari.post("/channels", endpoint="PJSIP/1001", app="ledgerline")
    await events.wait_for("StasisStart", lambda e: e["channel"]["id"] == agent["id"])
    bridge_id = await _bridge_with(ari, call.channel_id, agent["id"])
    await call.hangup(cause=16)
    await events.wait_for("StasisEnd", lambda e: e["channel"]["id"] == call.channel_id)
    assert (await ari.get(f"/bridges/{bridge_id}"))[1]["channels"] == [agent["id"]]
    tail = [kind for kind in events.of(call.channel_id)[-8:] if kind != "ChannelVarset"]
    assert tail == ["ChannelHangupRequest", "ChannelLeftBridge", "StasisEnd"]
    # As captured: a channel that entered Stasis from the dialplan stops reporting to the app
    # at StasisEnd, so no ChannelDestroyed follows for it; the originated agent leg does get it.
    assert call.state == "Hungup" and "ChannelDestroyed" not in events.of(call.channel_id)
    assert await ari.delete(f"/channels/{agent['id']}", reason="busy") == (204, None)
    destroyed = await events.wait_for("ChannelDestroyed")
    assert (destroyed["channel"]["id"], destroyed["cause"]) == (agent["id"], 17)
    assert await ari.delete(f"/bridges/{bridge_id}") == (204, None)
    assert (await events.wait_for("BridgeDestroyed"))["bridge"]["channels"] == []


async def test_recording_pause_cuts_paused_time_and_mute_keeps_silence_in_the_file(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    await ari.post(f"/channels/{call.channel_id}/answer")
    recording = f"/recordings/live/{call.channel_id}"
    status, live = await ari.post(
        f"/channels/{call.channel_id}/record", name=call.channel_id, format="wav"
    )
    assert status == 201 and live["state"] == "queued"
    await events.wait_for("RecordingStarted")
    await asyncio.sleep(0.3)  # recorded: tone
    assert (await ari.post(f"{recording}/pause"))[0] == 204
    assert (await ari.get(recording))[1]["state"] == "paused"
    await asyncio.sleep(0.4)  # paused: cut out
    assert (await ari.delete(f"{recording}/pause"))[0] == 204
    assert (await ari.get(recording))[1]["state"] == "recording"
    assert (await ari.post(f"{recording}/mute"))[0] == 204
    await asyncio.sleep(0.2)  # muted: silence
    assert (await ari.delete(f"{recording}/mute"))[0] == 204
    await asyncio.sleep(0.1)
    assert (await ari.post(f"{recording}/stop"))[0] == 204
    finished = await events.wait_for("RecordingFinished")
    assert finished["recording"]["state"] == "done" and finished["recording"]["duration"] == 1
    status, data = await ari.get(f"/recordings/stored/{call.channel_id}/file")
    assert status == 200
    with wave.open(io.BytesIO(data)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        frames = audio.readframes(audio.getnframes())
    samples = memoryview(frames).cast("h")
    assert len(samples) / 8000 == pytest.approx(0.6, abs=0.06)
    silent_runs = re.findall(rb"(?:\x00\x00){800,}", frames)  # at least 0.1 s of zeros
    assert len(silent_runs) == 1 and len(silent_runs[0]) / 2 / 8000 == pytest.approx(0.2, abs=0.05)
    assert (await ari.post(f"{recording}/stop"))[0] == 404


async def test_bridge_recording_of_a_name_that_exists_fails_unless_overwritten(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    # The recorder waits for media before it starts: long enough here that the refusals of
    # a queued recording below come before it starts however slow the machine (with FAST's
    # 10 ms, a loaded machine had started it before the pause and got 204).
    sim.timing = dataclasses.replace(FAST, media_wait=2.0)
    await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    bridge_id = await _bridge_with(ari, call.channel_id)
    path = f"/bridges/{bridge_id}/record"
    assert (await ari.post(path, name="r", format="wav"))[0] == 201
    assert (await ari.post(path, name="r", format="wav", ifExists="overwrite"))[0] == 409
    assert (await ari.post("/recordings/live/r/pause"))[0] == 409  # not started yet: queued
    await sim.settled()
    assert (await ari.post("/recordings/live/r/stop"))[0] == 204
    assert (await ari.post(path, name="r", format="wav"))[0] == 409
    assert (await ari.post(path, name="r", format="mp3", ifExists="overwrite"))[0] == 422
    assert (await ari.post(path, name="r", format="wav", ifExists="maybe"))[0] == 400
    assert (await ari.post(path, name="r", format="wav", ifExists="overwrite"))[0] == 201
    assert (await ari.delete("/recordings/live/r"))[0] == 204  # cancel keeps the old file
    assert await ari.post("/recordings/stored/r/copy", destinationRecordingName="r2") == (
        200,
        {"name": "r2", "format": "wav"},
    )
    assert [item["name"] for item in (await ari.get("/recordings/stored"))[1]] == ["r", "r2"]
    assert await ari.delete("/recordings/stored/r") == (204, None)
    assert (await ari.get("/recordings/stored/r"))[0] == 404


async def test_restart_drops_the_socket_forgets_calls_and_refuses_connections_while_down(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    await _bridge_with(ari, call.channel_id)
    restarting = asyncio.create_task(sim.restart(down_seconds=0.3))
    await asyncio.wait_for(events.closed.wait(), 1)
    await asyncio.sleep(0.1)
    with pytest.raises(aiohttp.ClientConnectionError):
        await ari.get("/asterisk/info")
    await restarting
    assert call.state == "Hungup"
    assert await ari.get("/channels") == (200, [])
    assert await ari.get("/bridges") == (200, [])
    assert (await ari.get(f"/channels/{call.channel_id}"))[0] == 404
    assert (await ari.get("/applications/ledgerline"))[0] == 404  # no socket yet
    again = await ari.events()
    await asyncio.sleep(0.02)
    assert (await ari.get("/applications/ledgerline"))[0] == 200
    second = await sim.incoming_call(DID, CALLER)
    assert second.channel_id != call.channel_id
    assert (await again.wait_for("StasisStart"))["channel"]["id"] == second.channel_id


async def test_dropped_event_socket_keeps_calls_and_a_new_socket_gets_their_events(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    await sim.drop_event_sockets()
    await asyncio.wait_for(events.closed.wait(), 1)
    assert (await sim.incoming_call(DID, CALLER)).failed  # nobody to take it meanwhile
    again = await ari.events()
    await asyncio.sleep(0.02)
    assert (await ari.get("/applications/ledgerline"))[1]["channel_ids"] == [call.channel_id]
    await call.press("5")
    assert (await again.wait_for("ChannelDtmfReceived"))["channel"]["id"] == call.channel_id


async def test_an_event_filter_follows_the_rules_api_docs_give(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    events = await ari.events()
    await asyncio.sleep(0.02)
    path = "/applications/ledgerline/eventFilter"

    def types(app: dict[str, Any], key: str) -> list[str]:
        return [entry["type"] for entry in app[key]]

    allowed = {"allowed": [{"type": "StasisStart"}, {"type": "ChannelDtmfReceived"}]}
    status, app = await ari.call("PUT", path, allowed)
    assert status == 200 and types(app, "events_allowed") == ["StasisStart", "ChannelDtmfReceived"]
    # only one list given: the other is kept; disallowed wins over allowed
    status, app = await ari.call("PUT", path, {"disallowed": [{"type": "StasisStart"}]})
    assert types(app, "events_allowed") == ["StasisStart", "ChannelDtmfReceived"]
    assert types(app, "events_disallowed") == ["StasisStart"]

    call = await sim.incoming_call(DID, CALLER)
    await call.press("7")
    await events.wait_for("ChannelDtmfReceived")
    assert {e["type"] for e in events.events} == {"ChannelDtmfReceived"}

    assert (await ari.call("PUT", path, {"allowed": [{"name": "x"}]}))[0] == 400  # no "type"
    assert (await ari.call("PUT", path, {"allowed": "StasisEnd"}))[0] == 400
    assert (await ari.call("PUT", "/applications/nobody/eventFilter", {}))[0] == 404
    status, app = await ari.call("PUT", path)  # an empty body clears both lists
    assert status == 200 and app["events_allowed"] == app["events_disallowed"] == []
    await call.hangup()
    await events.wait_for("StasisEnd")


async def test_a_second_socket_for_the_app_takes_it_over(sim: AsteriskSimulator, ari: Ari) -> None:
    first = await ari.events()
    await asyncio.sleep(0.02)
    second = await ari.events()
    assert (await first.wait_for("ApplicationReplaced"))["application"] == "ledgerline"
    await sim.incoming_call(DID, CALLER)
    await second.wait_for("StasisStart")
    assert [e["type"] for e in first.events] == ["ApplicationReplaced"]


async def test_requests_without_valid_credentials_are_refused(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(sim.url + "/asterisk/info") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
            assert await response.json() == {"message": "Authentication required"}
        async with anonymous.get(
            sim.url + "/channels", headers=basic_auth(password="wrong")
        ) as response:
            assert response.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await anonymous.ws_connect(sim.url + "/events?app=ledgerline")
        params = {"api_key": "ledgerline:secret"}
        async with anonymous.get(sim.url + "/asterisk/info", params=params) as response:
            assert response.status == 200
            assert (await response.json())["system"]["entity_id"] == sim.asterisk_id
    assert [(method, path, status) for method, path, _, status in sim.requests] == [
        ("GET", "/asterisk/info", 401),
        ("GET", "/channels", 401),
        ("GET", "/events", 401),
        ("GET", "/asterisk/info", 200),
    ]
    assert sim.requests[-1][2] == {}  # the api_key is not kept


async def test_a_rest_delay_holds_each_request_without_queueing_them(ari: Ari) -> None:
    """As a remote Asterisk: every reply comes a round trip later, replies overlap."""
    ari.sim.timing = Timing(rest_delay=0.2)
    loop = asyncio.get_running_loop()
    began = loop.time()
    replies = await asyncio.gather(*(ari.get("/asterisk/info") for _ in range(5)))
    took = loop.time() - began
    assert all(status == 200 for status, _ in replies)
    assert 0.2 <= took < 0.8  # one delay, not five in a row


async def test_channel_operations_answer_with_asterisks_statuses(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    channel = f"/channels/{call.channel_id}"
    assert (await ari.post("/channels/nope/answer"))[0] == 404
    assert (await ari.post(f"{channel}/dtmf"))[0] == 400
    assert (await ari.post(f"{channel}/mute", direction="sideways"))[0] == 400
    assert (await ari.get(f"{channel}/variable"))[0] == 400
    assert (await ari.post(f"{channel}/play"))[0] == 400
    assert (await ari.post(f"{channel}/record", name="x", format="ogg-vorbis"))[0] == 422
    assert (await ari.delete(channel, reason="bored"))[0] == 400
    assert (await ari.get("/bridges/nope"))[0] == 404
    assert (await ari.post("/bridges/nope/addChannel", channel=call.channel_id))[0] == 404
    assert (await ari.post("/bridges", type="round"))[0] == 500
    assert (await ari.get("/no/such/resource"))[0] == 404
    assert (await ari.post(f"{channel}/mute", direction="in"))[0] == 204
    assert call.muted == {"in"}
    assert (await ari.post(f"{channel}/moh", mohClass="calm"))[0] == 204
    assert (await ari.post(f"{channel}/play", media="sound:hello"))[0] == 201
    assert call.heard == ["moh:calm", "sound:hello"]
    bridge = await _bridge_with(ari, call.channel_id)
    await call.hangup()
    # the channel is gone from the bridge; a channel outside Stasis cannot be added
    assert (await ari.post(f"/bridges/{bridge}/addChannel", channel=call.channel_id))[0] == 400
    sim.dialplan["parking"] = (Step("Answer"), Step("Wait"))
    _, local = await ari.post("/channels", endpoint="Local/1@parking", app="ledgerline")
    await sim.settled()
    half_two = next(c for c in (await ari.get("/channels"))[1] if c["name"].endswith(";2"))
    assert (await ari.post(f"/channels/{half_two['id']}/answer"))[0] == 409
    assert (await ari.post(f"/bridges/{bridge}/addChannel", channel=half_two["id"]))[0] == 422
    assert (await ari.post(f"/channels/{local['id']}/hold"))[0] == 204


async def test_playbacks_report_started_continuing_and_finished(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    bridge = await _bridge_with(ari, call.channel_id)
    status, playback = await ari.post(
        f"/bridges/{bridge}/play", media="sound:one,sound:two", playbackId="pb-1"
    )
    assert status == 201 and playback["state"] == "queued" and playback["id"] == "pb-1"
    assert playback["target_uri"] == f"bridge:{bridge}"
    finished = await events.wait_for("PlaybackFinished")
    kinds = [e["type"] for e in events.events if "playback" in e]
    assert kinds == ["PlaybackStarted", "PlaybackContinuing", "PlaybackFinished"]
    assert finished["playback"]["state"] == "done"
    assert call.heard == ["sound:one", "sound:two"]
    assert (await ari.get("/playbacks/pb-1"))[0] == 404


async def test_a_channel_created_in_stasis_is_dialled_later(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    sim.agent("PJSIP/1003", answer_after=0.05)
    events = await ari.events()
    status, leg = await ari.post("/channels/create", endpoint="PJSIP/1003", app="ledgerline")
    assert status == 200 and leg["state"] == "Down"
    assert (await events.wait_for("StasisStart"))["channel"]["state"] == "Down"
    assert (await ari.post(f"/channels/{leg['id']}/answer"))[0] == 412
    assert (await ari.post(f"/channels/{leg['id']}/dial", timeout="5"))[0] == 204
    await events.wait_for("Dial", lambda e: e["dialstatus"] == "ANSWER")
    assert (await ari.get(f"/channels/{leg['id']}"))[1]["state"] == "Up"
    assert (await ari.post(f"/channels/{leg['id']}/dial"))[0] == 409
