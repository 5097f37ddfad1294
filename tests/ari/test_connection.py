"""The events WebSocket through real sockets: typed events in order, reconnecting with
back-off after a drop or an Asterisk restart, resynchronising before new events, skipping
bad frames, and stopping cleanly."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from pbx.ari.client import AriClient
from pbx.ari.connection import AriConnection, Backoff
from pbx.ari.errors import AriUnavailable
from pbx.ari.events import (
    ApplicationReplaced,
    ChannelDtmfReceived,
    Event,
    StasisEnd,
    StasisStart,
)
from pbx.metrics import NoMetrics
from pbx.simulator.ari import AsteriskSimulator
from tests.ari import captured, serve
from tests.waiting import until

DID, CALLER = "+15550100", "+15551234567"
Log = list[Any]


@pytest.fixture
async def connect(client: AriClient) -> AsyncIterator[Callable[..., AriConnection]]:
    """Makes connections that record events and reconnects in one log; stops them after."""
    made: list[AriConnection] = []

    def make(log: Log, initial: float = 0.05, maximum: float = 0.4, **kw: Any) -> AriConnection:
        connection = AriConnection(
            kw.pop("via", client), reconnect_initial=initial, reconnect_max=maximum, **kw
        )

        async def keep(event: Event) -> None:
            log.append(event)

        async def resynced() -> None:
            log.append("connected")

        connection.on_event(keep)
        connection.on_connected(resynced)
        made.append(connection)
        return connection

    yield make
    for connection in made:
        await connection.stop()


def of(log: Log, cls: type) -> list[Any]:
    return [item for item in log if isinstance(item, cls)]


def retry_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The reconnect delays the connection chose, in order (it logs each as it waits)."""
    return [r.ari_retry_delay for r in caplog.records if hasattr(r, "ari_retry_delay")]


def sim_address(sim: AsteriskSimulator) -> tuple[str, int]:
    """Where the simulator listens, to bring it back on the same address."""
    url = urlsplit(sim.url)
    assert url.hostname is not None and url.port is not None
    return url.hostname, url.port


# --- delivery ---------------------------------------------------------------------------


async def test_events_arrive_typed_and_in_the_order_asterisk_sent_them(
    sim: AsteriskSimulator, connect: Callable[..., AriConnection]
) -> None:
    log: Log = []
    connection = connect(log)
    await connection.start()
    await connection.wait_connected(2)

    call = await sim.incoming_call(DID, CALLER, "Ann", args=("inbound",))
    await call.press("1234")
    await call.hangup()
    await until(lambda: of(log, StasisEnd))

    assert log[0] == "connected"
    start = of(log, StasisStart)[0]
    assert start.args == ("inbound",) and start.channel.caller.number == CALLER
    assert "".join(e.digit for e in of(log, ChannelDtmfReceived)) == "1234"
    ours = [e for e in log[1:] if getattr(e, "channel", None) and e.channel.id == call.channel_id]
    assert isinstance(ours[0], StasisStart) and isinstance(ours[-1], StasisEnd)


async def test_a_slow_handler_delays_later_events_but_never_reorders_or_overlaps_them(
    sim: AsteriskSimulator, client: AriClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pbx.ari.connection")
    digits: list[str] = []
    running = 0
    overlapped = False
    held = False

    async def slow(event: Event) -> None:
        nonlocal running, overlapped, held
        running += 1
        overlapped |= running > 1
        if not held:  # the first event is held until the small queue has filled up behind it
            held = True
            await until(lambda: "ARI event handlers are behind" in caplog.text)
        await asyncio.sleep(0.03)  # slower than the caller presses keys
        if isinstance(event, ChannelDtmfReceived):
            digits.append(event.digit)
        running -= 1

    connection = AriConnection(client, reconnect_initial=0.05, reconnect_max=0.4, queue_size=2)
    connection.on_event(slow)
    await connection.start()
    try:
        await connection.wait_connected(2)
        call = await sim.incoming_call(DID, CALLER)
        await call.press("9876543210")
        await until(lambda: len(digits) == 10)
    finally:
        await connection.stop()

    assert "".join(digits) == "9876543210" and not overlapped
    assert "ARI event handlers are behind" in caplog.text  # the small queue filled up
    # Said once per episode, not once per event: each warning but the last was followed by
    # a catch-up.
    warned, caught_up = caplog.text.count("are behind"), caplog.text.count("caught up")
    assert caught_up <= warned <= caught_up + 1


async def test_a_failing_handler_neither_stops_delivery_nor_starves_the_other_handlers(
    sim: AsteriskSimulator, connect: Callable[..., AriConnection], caplog: pytest.LogCaptureFixture
) -> None:
    log: Log = []
    connection = connect(log)

    async def broken(event: Event) -> None:
        raise RuntimeError("bug in a handler")

    connection.on_event(broken)
    await connection.start()
    await connection.wait_connected(2)
    call = await sim.incoming_call(DID, CALLER)
    await call.press("12")

    await until(lambda: len(of(log, ChannelDtmfReceived)) == 2)
    assert connection.connected
    assert "ARI event handler" in caplog.text and "bug in a handler" in caplog.text


async def test_a_frame_that_is_not_json_or_lacks_fields_is_skipped_and_the_next_event_arrives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = captured("events")
    start = next(e for e in events if e["type"] == "StasisStart")
    end = next(e for e in events if e["type"] == "StasisEnd")
    unknown = next(e for e in events if e["type"] == "ChannelDialplan")
    sockets = 0

    async def asterisk_with_bad_frames(request: web.Request) -> web.WebSocketResponse:
        nonlocal sockets
        sockets += 1
        socket = web.WebSocketResponse(protocols=("ari",))
        await socket.prepare(request)
        await socket.send_str(json.dumps(start))
        await socket.send_str("this is not JSON")
        await socket.send_str(json.dumps({"type": "StasisEnd", "application": "callcenter"}))
        await socket.send_bytes(b"\xff\xfe")
        await socket.send_str(json.dumps(unknown))
        await socket.send_str(json.dumps(end))
        async for _ in socket:
            pass
        return socket

    app = web.Application()
    app.router.add_get("/ari/events", asterisk_with_bad_frames)
    log: Log = []
    async with serve(app) as url, AriClient(url, "u", "p", "callcenter") as client:
        connection = AriConnection(client, reconnect_initial=0.05, reconnect_max=0.4)
        connection.on_event(lambda event: _append(log, event))
        await connection.start()
        try:
            await until(lambda: of(log, StasisEnd))
            assert connection.connected
        finally:
            await connection.stop()

    assert [type(e) for e in log] == [StasisStart, StasisEnd] and sockets == 1
    assert caplog.text.count("skipping malformed ARI event") == 3
    # This peer has no PUT /applications/{app}/eventFilter (as an Asterisk before 13.26):
    # said once, and every type still comes and is skipped here.
    assert caplog.text.count("ARI event filter not set") == 1


async def _append(log: Log, event: Event) -> None:
    log.append(event)


async def _one_call_with_keys(
    sim: AsteriskSimulator, connection: AriConnection, seen_end: Callable[[], Any]
) -> None:
    """A caller presses two keys and hangs up, through a started `connection`, stopped after."""
    await connection.start()
    try:
        await connection.wait_connected(2)
        call = await sim.incoming_call(DID, CALLER)
        await call.press("12")
        await call.hangup()
        await until(seen_end)
    finally:
        await connection.stop()


async def test_a_handler_gets_only_the_types_it_names_and_nobody_wanted_is_not_decoded(
    sim: AsteriskSimulator, client: AriClient, caplog: pytest.LogCaptureFixture
) -> None:
    starts_and_ends: Log = []
    connection = AriConnection(client, reconnect_initial=0.05, reconnect_max=0.4)
    connection.on_event(lambda event: _append(starts_and_ends, event), StasisStart, StasisEnd)
    await _one_call_with_keys(sim, connection, lambda: of(starts_and_ends, StasisEnd))

    assert [type(e) for e in starts_and_ends] == [StasisStart, StasisEnd]
    assert "skipping" not in caplog.text  # not wanted is not an error


async def test_a_handler_for_every_type_still_gets_every_type(
    sim: AsteriskSimulator, client: AriClient
) -> None:
    narrow: Log = []
    everything: Log = []
    connection = AriConnection(client, reconnect_initial=0.05, reconnect_max=0.4)
    connection.on_event(lambda event: _append(narrow, event), StasisEnd)
    connection.on_event(lambda event: _append(everything, event))
    await _one_call_with_keys(sim, connection, lambda: of(everything, StasisEnd))

    assert [type(e) for e in narrow] == [StasisEnd]
    assert of(everything, StasisStart) and of(everything, ChannelDtmfReceived)


async def test_asterisk_sends_only_the_wanted_types_and_is_told_again_after_it_restarts(
    sim: AsteriskSimulator, client: AriClient
) -> None:
    sent: list[str] = []
    emit = sim.model.sink

    def record(event: Any) -> None:
        sent.append(event.type)
        emit(event)

    sim.model.sink = record
    log: Log = []
    connection = AriConnection(client, reconnect_initial=0.05, reconnect_max=0.4)
    connection.on_event(lambda event: _append(log, event), StasisStart, StasisEnd)
    await connection.start()
    try:
        await connection.wait_connected(2)
        wanted = ("ApplicationReplaced", "StasisEnd", "StasisStart")
        assert sim.model.filters["ledgerline"].allowed == wanted
        call = await sim.incoming_call(DID, CALLER)
        await call.press("12")
        await call.hangup()
        await until(lambda: of(log, StasisEnd))
        assert sorted(set(sent)) == ["StasisEnd", "StasisStart"]  # no varsets, keys, states

        await sim.restart()  # a restarted Asterisk has forgotten the filter
        assert "ledgerline" not in sim.model.filters
        await until(lambda: "ledgerline" in sim.model.filters)
        assert sim.model.filters["ledgerline"].allowed == wanted
    finally:
        await connection.stop()


async def test_a_handler_for_every_type_leaves_asterisk_sending_every_type(
    sim: AsteriskSimulator, client: AriClient
) -> None:
    sim.model.registered.add("ledgerline")
    sim.model.filter_events("ledgerline", {"allowed": [{"type": "StasisEnd"}]})  # left over
    connection = AriConnection(client, reconnect_initial=0.05, reconnect_max=0.4)
    connection.on_event(lambda event: _append([], event))
    await connection.start()
    try:
        await connection.wait_connected(2)

        assert sim.model.filters["ledgerline"].allowed == ()
        assert sim.model.filters["ledgerline"].lets_through("ChannelVarset")
    finally:
        await connection.stop()


async def test_a_second_socket_taking_the_app_over_is_reported_to_the_first(
    sim: AsteriskSimulator, connect: Callable[..., AriConnection], caplog: pytest.LogCaptureFixture
) -> None:
    first_log: Log = []
    first = connect(first_log)
    await first.start()
    await first.wait_connected(2)

    second = connect([])
    await second.start()
    await second.wait_connected(2)

    replaced = await until(lambda: of(first_log, ApplicationReplaced))
    assert replaced[0].application == "ledgerline"
    assert "another ARI socket took over app ledgerline" in caplog.text


# --- reconnecting -----------------------------------------------------------------------


async def test_a_dropped_socket_reconnects_within_the_back_off_and_resyncs_before_new_events(
    sim: AsteriskSimulator, client: AriClient, connect: Callable[..., AriConnection],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="pbx.ari.connection")
    log: Log = []
    seen_at_resync: list[list[str]] = []
    connection = connect(log, initial=0.1, maximum=2.0)

    async def reconcile() -> None:  # what the call flow does: look at what is there now
        seen_at_resync.append([channel.id for channel in await client.list_channels()])

    connection.on_connected(reconcile)
    await connection.start()
    await connection.wait_connected(2)
    call = await sim.incoming_call(DID, CALLER)
    await until(lambda: of(log, StasisStart))

    await sim.drop_event_sockets()
    await until(lambda: log.count("connected") == 2)
    assert 0.08 <= retry_delays(caplog)[0] <= 0.1  # the first delay is `initial`, less jitter
    await call.press("5")
    await until(lambda: of(log, ChannelDtmfReceived))

    assert [x if isinstance(x, str) else x.type for x in log] == [
        "connected",
        "StasisStart",
        "connected",
        "ChannelDtmfReceived",
    ]
    assert seen_at_resync == [[], [call.channel_id]]


async def test_a_resync_that_fails_closes_the_socket_and_connects_again_with_growing_back_off(
    sim: AsteriskSimulator, connect: Callable[..., AriConnection], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pbx.ari.connection")
    log: Log = []
    connection = connect(log, initial=0.05, maximum=0.4)
    failures = 2

    async def slow_asterisk() -> None:  # listing channels timed out, say
        nonlocal failures
        if failures:
            failures -= 1
            raise AriUnavailable("timed out listing channels", path="/channels")

    connection.on_connected(slow_asterisk)
    await connection.start()
    with pytest.raises(AriUnavailable):  # never in sync while the resync fails
        await connection.wait_connected(0.05)
    await connection.wait_connected(10)

    assert failures == 0 and log.count("connected") == 3  # the other callback ran each time
    assert "out of sync after connecting: closing to connect again" in caplog.text
    first, second = retry_delays(caplog)
    assert 0.04 <= first <= 0.05 and 0.08 <= second <= 0.1  # not reset by a connect alone
    call = await sim.incoming_call(DID, CALLER)
    assert (await until(lambda: of(log, StasisStart)))[0].channel.id == call.channel_id


async def test_an_asterisk_restart_is_retried_with_growing_back_off_then_reconnects(
    sim: AsteriskSimulator, connect: Callable[..., AriConnection], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pbx.ari.connection")
    log: Log = []
    connection = connect(log, initial=0.05, maximum=0.4)
    await connection.start()
    await connection.wait_connected(2)
    await sim.incoming_call(DID, CALLER)

    # Asterisk restarts, and stays down until the connection has been refused often enough
    # for its back-off to reach the maximum (however long those tries take on a busy machine).
    await sim.stop()
    sim.model.reset()
    await until(lambda: len(retry_delays(caplog)) >= 5, within=10)
    await sim.start(*sim_address(sim))
    await connection.wait_connected(5.0)
    await until(lambda: log.count("connected") == 2)

    delays = retry_delays(caplog)
    # the drop, then refusals: 0.05, 0.1, 0.2, 0.4, 0.4 ... each shortened by <= 20 % jitter
    assert len(delays) >= 5
    assert delays[:4] == sorted(delays[:4]) and 0.04 <= delays[0] <= 0.05
    assert all(0.32 <= delay <= 0.4 for delay in delays[3:])
    assert "Asterisk unavailable" in caplog.text
    fresh = await sim.incoming_call(DID, CALLER)
    await until(lambda: any(e.channel.id == fresh.channel_id for e in of(log, StasisStart)))


async def test_wrong_credentials_are_logged_as_an_error_and_retried_without_the_password(
    sim: AsteriskSimulator, connect: Callable[..., AriConnection], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = AriClient(sim.url, "ledgerline", "hunter2", "ledgerline")
    connection = connect([], via=wrong)
    await connection.start()

    await until(lambda: len([r for r in caplog.records if r.levelno == logging.ERROR]) >= 2)
    await connection.stop()
    await wrong.close()

    assert not connection.connected and "401" in caplog.text and "hunter2" not in caplog.text


async def test_wait_connected_raises_unavailable_while_asterisk_is_down(
    sim: AsteriskSimulator, connect: Callable[..., AriConnection]
) -> None:
    await sim.stop()
    connection = connect([])
    await connection.start()

    with pytest.raises(AriUnavailable, match=r"not connected within 0\.2 s"):
        await connection.wait_connected(0.2)
    assert not connection.connected


# --- stopping ---------------------------------------------------------------------------


async def test_stop_closes_the_socket_and_leaves_no_task_running(
    sim: AsteriskSimulator, client: AriClient, connect: Callable[..., AriConnection]
) -> None:
    before = asyncio.all_tasks()
    log: Log = []
    connection = connect(log)
    await connection.start()
    await connection.wait_connected(2)
    await sim.incoming_call(DID, CALLER)
    await until(lambda: of(log, StasisStart))

    await connection.stop()
    await client.close()  # its kept-alive REST connection (the event filter) is the client's

    assert not connection.connected
    await until(lambda: "ledgerline" not in sim.hub.apps)  # Asterisk saw the socket go
    await until(lambda: asyncio.all_tasks() <= before)  # the server's side ends too


async def test_stop_while_waiting_to_reconnect_returns_at_once_and_leaves_no_task(
    sim: AsteriskSimulator, connect: Callable[..., AriConnection], caplog: pytest.LogCaptureFixture
) -> None:
    await sim.stop()
    before = asyncio.all_tasks()
    caplog.set_level(logging.WARNING, logger="pbx.ari.connection")
    connection = connect([], initial=5.0, maximum=5.0)
    await connection.start()
    await until(lambda: retry_delays(caplog))  # refused, now sleeping 4-5 s before the next

    started = time.monotonic()
    await connection.stop()

    assert time.monotonic() - started < 0.5 and asyncio.all_tasks() <= before


# --- back-off ---------------------------------------------------------------------------


def test_back_off_doubles_from_initial_up_to_the_maximum_and_resets() -> None:
    backoff = Backoff(0.5, 3.0, rng=lambda: 0.0)

    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_back_off_jitter_only_shortens_a_delay_so_the_maximum_holds() -> None:
    backoff = Backoff(1.0, 2.0, jitter=0.2, rng=lambda: 1.0)

    assert [backoff.next() for _ in range(3)] == [0.8, 1.6, 1.6]


async def test_stop_lets_the_handler_at_work_finish_and_drops_what_is_queued(
    sim: AsteriskSimulator, client: AriClient
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    handled: Log = []

    async def slow(event: Event) -> None:  # a handler inside a transaction, say
        started.set()
        await release.wait()
        handled.append(event)

    connection = AriConnection(client, reconnect_initial=0.05, reconnect_max=0.4)
    connection.on_event(slow, StasisStart, ChannelDtmfReceived)
    await connection.start()
    await connection.wait_connected(2)
    call = await sim.incoming_call(DID, CALLER)
    await call.press("1")
    await started.wait()

    stopping = asyncio.create_task(connection.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the handler, not cutting it short
    release.set()
    await stopping
    assert [type(e) for e in handled] == [StasisStart]  # the queued key press was dropped


class _CountedReconnects(NoMetrics):
    def __init__(self) -> None:
        self.reconnects = 0

    def ari_reconnect(self) -> None:
        self.reconnects += 1


async def test_each_drop_is_told_to_the_metrics_once_and_a_steady_socket_never(
    sim: AsteriskSimulator, connect: Callable[..., AriConnection],
) -> None:  # fmt: skip
    log: Log = []
    metrics = _CountedReconnects()
    connection = connect(log, initial=0.05, maximum=0.4, metrics=metrics)
    await connection.start()
    await connection.wait_connected(2)
    assert metrics.reconnects == 0

    await sim.drop_event_sockets()
    await until(lambda: log.count("connected") == 2)

    assert metrics.reconnects == 1
