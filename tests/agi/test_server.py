"""The FastAGI server and session over real sockets, with the Asterisk-side peer as the PBX."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from agi_scripts.fastagi.errors import (
    AGICommandFailed,
    AGIConnectionLost,
    AGIDeadChannel,
    AGIError,
    AGIHangup,
    AGIInvalidCommand,
    AGIProtocolError,
    AGITimeout,
    AGIUsageError,
)
from agi_scripts.fastagi.server import FastAGIServer, Handler
from agi_scripts.fastagi.session import AGISession
from pbx.simulator.fastagi_peer import run_fastagi_call, send_raw
from tests.waiting import until

HOST = "127.0.0.1"
SERVER_LOG = "agi_scripts.fastagi.server"


@asynccontextmanager
async def serving(
    handlers: dict[str, Handler], *, idle_timeout: float = 1.0, max_sessions: int = 50
) -> AsyncIterator[FastAGIServer]:
    server = FastAGIServer(handlers, HOST, 0, idle_timeout, max_sessions)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def recording(
    body: Callable[[AGISession], Awaitable[None]],
) -> tuple[Handler, list[BaseException]]:
    """A handler that runs `body` and keeps what it raised, for the test to inspect."""
    raised: list[BaseException] = []

    async def handler(session: AGISession) -> None:
        try:
            await body(session)
        except BaseException as exc:
            raised.append(exc)
            raise

    return handler, raised


def open_sockets() -> int:
    fds = os.listdir("/proc/self/fd")
    count = 0
    for fd in fds:
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return count


async def test_a_call_is_routed_to_its_handler_by_normalised_script_name() -> None:
    async def lookup(session: AGISession) -> None:
        await session.set_variable("LL_CALLER", session.env.caller_number or "")
        await session.set_variable("LL_TENANT", session.env.params.get("tenant", ""))

    async with serving({"caller_lookup": lookup}) as server:
        record = await run_fastagi_call(
            HOST, server.port, "Caller-Lookup?tenant=acme", callerid="+97235551234"
        )

    assert record.variables == {"LL_CALLER": "+97235551234", "LL_TENANT": "acme"}
    assert record.server_closed
    assert (server.sessions_served, server.sessions_failed) == (1, 0)


async def test_hebrew_lithuanian_quotes_and_backslashes_reach_the_channel_and_come_back() -> None:
    values = {
        "HE": "שרה כהן",
        "LT": "Žygimantas Šimkūnas",
        "QUOTES": 'say "hi" to \\ and \\"',
        "EMPTY": "",
    }
    read_back: dict[str, str | None] = {}

    async def echo(session: AGISession) -> None:
        for name, value in values.items():
            await session.set_variable(name, value)
            read_back[name] = await session.get_variable(name)

    async with serving({"echo": echo}) as server:
        record = await run_fastagi_call(HOST, server.port, "echo")

    assert record.variables == values
    assert read_back == values


async def test_each_session_method_sends_its_agi_command_and_maps_the_reply() -> None:
    seen: dict[str, object] = {}

    async def flow(session: AGISession) -> None:
        seen["status before"] = await session.channel_status()
        await session.answer()
        seen["status after"] = await session.channel_status()
        seen["unset"] = await session.get_variable("NOT_SET")
        seen["function"] = await session.get_variable("CALLERID(num)")
        seen["full"] = await session.get_full_variable("${EXTEN}@${CONTEXT}")
        await session.verbose("checking account", 3)
        seen["stream"] = await session.stream_file("welcome", "")
        seen["stream escaped"] = await session.stream_file("press-1", "1")
        seen["data"] = await session.get_data("enter-account", 3000, 4)
        seen["data timeout"] = await session.get_data("enter-pin", 3000, 6)
        seen["say digits"] = await session.say_digits("1234")
        seen["say number"] = await session.say_number(42)
        seen["no digit"] = await session.wait_for_digit(100)
        seen["exec"] = await session.exec("Set", "LL_VIA_EXEC=yes")

    async with serving({"flow": flow}) as server:
        record = await run_fastagi_call(
            HOST, server.port, "flow", callerid="+37061234567", digits="1123498"
        )

    assert seen == {
        "status before": 4,
        "status after": 6,
        "unset": None,
        "function": "+37061234567",
        "full": "100@from-pstn",
        "stream": None,
        "stream escaped": "1",
        "data": "1234",
        "data timeout": "98",
        "say digits": None,
        "say number": None,
        "no digit": None,
        "exec": "0",
    }
    assert record.commands[:3] == ["CHANNEL STATUS", "ANSWER", "CHANNEL STATUS"]
    assert 'GET DATA "enter-account" 3000 4' in record.commands
    assert 'EXEC "Set" "LL_VIA_EXEC=yes"' in record.commands
    assert record.variables == {"LL_VIA_EXEC": "yes"}


async def test_an_unknown_script_gets_a_verbose_line_and_ll_error_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving({"caller-lookup": recording(AGISession.answer)[0]}) as server:
        record = await run_fastagi_call(HOST, server.port, "xyz")

    assert record.commands == [
        "VERBOSE \"Ledgerline: no AGI script named 'xyz'\" 1",
        'SET VARIABLE "LL_ERROR" "unknown-script"',
    ]
    assert record.variables == {"LL_ERROR": "unknown-script"}
    assert record.server_closed
    assert server.sessions_failed == 1
    assert any(
        r.levelno == logging.WARNING and "no AGI script named 'xyz'" in r.getMessage()
        for r in caplog.records
    )


async def test_a_hangup_mid_session_ends_the_handler_with_agi_hangup_and_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def two_commands(session: AGISession) -> None:
        await session.set_variable("FIRST", "1")
        await session.answer()

    handler, raised = recording(two_commands)
    async with serving({"h": handler}) as server:
        record = await run_fastagi_call(HOST, server.port, "h", hangup_after_commands=1)

    assert isinstance(raised[0], AGIHangup)
    assert raised[0].command == "ANSWER"
    assert raised[0].reply == "HANGUP"
    assert record.hung_up
    assert server.sessions_served == 1
    assert not [r for r in caplog.records if r.exc_info]


async def test_after_a_hangup_dead_channel_commands_still_run_and_live_ones_are_refused() -> None:
    outcome: dict[str, object] = {}

    async def clean_up_after_hangup(session: AGISession) -> None:
        try:
            await session.get_variable("ANY")
        except AGIHangup:
            outcome["hung_up"] = session.hung_up
        # The reply the HANGUP line overtook is skipped; the stream stays in step.
        await session.set_variable("LL_RESULT", "caller-hung-up")
        outcome["read back"] = await session.get_variable("LL_RESULT")
        with pytest.raises(AGIDeadChannel):
            await session.stream_file("goodbye")
        outcome["done"] = True

    async with serving({"h": clean_up_after_hangup}) as server:
        record = await run_fastagi_call(HOST, server.port, "h", hangup_after_commands=0)

    assert outcome == {"hung_up": True, "read back": "caller-hung-up", "done": True}
    assert record.variables == {"LL_RESULT": "caller-hung-up"}
    assert record.replies[-1] == "511 Command Not Permitted on a dead channel or intercept routine"


async def test_hanging_up_ourselves_makes_the_next_command_raise_agi_hangup() -> None:
    handler, raised = recording(lambda s: _hangup_then_verbose(s))
    async with serving({"h": handler}) as server:
        record = await run_fastagi_call(HOST, server.port, "h")

    assert isinstance(raised[0], AGIHangup)
    assert record.commands == ["HANGUP", 'VERBOSE "after" 1']
    assert record.hung_up


async def _hangup_then_verbose(session: AGISession) -> None:
    await session.hangup()
    await session.verbose("after")


@pytest.mark.parametrize(
    ("reply", "call", "error"),
    [
        ("200 result=-1 endpos=0", lambda s: s.stream_file("welcome"), AGIHangup),
        ("200 result=-1", lambda s: s.get_data("enter-account", 3000, 4), AGIHangup),
        ("200 result=-1", lambda s: s.wait_for_digit(1000), AGIHangup),
        ("200 result=-1", lambda s: s.answer(), AGIHangup),
        ("200 result=-1", lambda s: s.exec("Dial", "PJSIP/agent"), AGIHangup),
        ("200 result=-2", lambda s: s.exec("NoSuchApp", ""), AGICommandFailed),
        ("200 result=0", lambda s: s.set_variable("X", "1"), AGICommandFailed),
        ("510 Invalid or unknown command", lambda s: s.answer(), AGIInvalidCommand),
        ("511 Command Not Permitted on a dead channel", lambda s: s.answer(), AGIDeadChannel),
        ("503 result=-2 Memory allocation failure", lambda s: s.answer(), AGIProtocolError),
        ("not a reply", lambda s: s.answer(), AGIProtocolError),
    ],
)
async def test_failure_replies_map_onto_the_exception_tree(
    reply: str, call: Callable[[AGISession], Awaitable[object]], error: type[AGIError]
) -> None:
    handler, raised = recording(call)  # type: ignore[arg-type]
    async with serving({"h": handler}) as server:
        await run_fastagi_call(HOST, server.port, "h", on_command=lambda command: reply)

    assert type(raised[0]) is error
    assert raised[0].reply == reply


async def test_a_520_usage_block_raises_agi_usage_error_and_the_stream_stays_in_step() -> None:
    outcome: dict[str, object] = {}
    usage_block = (
        "520-Invalid command syntax.  Proper usage follows:\n"
        "Sets a variable to the current channel.\n"
        "520 End of proper usage."
    )

    async def flow(session: AGISession) -> None:
        try:
            await session.set_variable("X", "1")
        except AGIUsageError as exc:
            outcome["usage"] = exc.usage
        outcome["next"] = await session.get_variable("CHANNEL")

    def first_reply_is_usage(command: str) -> str | None:
        return usage_block if command.startswith("SET VARIABLE") else None

    async with serving({"h": flow}) as server:
        await run_fastagi_call(
            HOST, server.port, "h", channel="Local/100@x-1;2", on_command=first_reply_is_usage
        )

    assert outcome == {
        "usage": "Sets a variable to the current channel.",
        "next": "Local/100@x-1;2",
    }


async def test_a_malformed_environment_line_is_refused_and_the_connection_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving({}) as server:
        exchange = await send_raw(
            HOST, server.port, b"agi_network: yes\nthis is not an env line\n\n", read_timeout=2
        )

    # The block was read whole, so the stream is in step: the dialplan is told.
    assert exchange == type(exchange)(b'SET VARIABLE "LL_ERROR" "bad-environment"\n', True)
    assert server.sessions_failed == 1
    assert any("bad environment" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "line", ["agi_arg_" + "1" * 5000 + ": x", "agi_callingpres: " + "7" * 5000, "agi_arg_2: x"]
)
async def test_an_environment_that_does_not_parse_is_told_to_the_dialplan_and_logged_once(
    line: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving({"h": lambda session: session.verbose("never")}) as server:
        record = await run_fastagi_call(HOST, server.port, "h", extra_env=[line])

    assert record.variables == {"LL_ERROR": "bad-environment"}
    assert record.server_closed
    assert server.counters()["sessions_failed"] == 1
    [logged] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "bad environment" in logged.getMessage() and not logged.exc_info
    assert len(logged.getMessage()) < 200  # the 5,000 digits are not echoed


async def test_an_oversize_environment_is_refused_not_buffered() -> None:
    async with serving({}) as server:
        exchange = await send_raw(
            HOST, server.port, b"agi_request: " + b"x" * 40_000 + b"\n\n", read_timeout=2
        )

    assert exchange.server_closed
    assert server.sessions_failed == 1


@pytest.mark.parametrize("size", [9_000, 70_000])
async def test_an_oversize_reply_line_is_a_protocol_error_and_nothing_more_is_sent(
    size: int,
) -> None:
    handler, raised = recording(lambda s: s.get_variable("BIG"))
    async with serving({"h": handler}) as server:
        record = await run_fastagi_call(
            HOST, server.port, "h", on_command=lambda c: f"200 result=1 ({'x' * size})"
        )

    assert isinstance(raised[0], AGIProtocolError)
    assert record.commands == ['GET VARIABLE "BIG"']  # no LL_ERROR on a garbled stream
    assert record.server_closed
    assert server.sessions_failed == 1


async def test_a_peer_that_goes_silent_is_dropped_after_the_idle_timeout() -> None:
    async with serving({}, idle_timeout=0.2) as server:
        started = time.monotonic()
        exchange = await send_raw(HOST, server.port, b"agi_network: yes\n", read_timeout=3)
        elapsed = time.monotonic() - started

    assert exchange.server_closed
    assert 0.15 < elapsed < 1.5
    assert (server.sessions_timed_out, server.sessions_served, server.sessions_failed) == (1, 0, 0)


async def test_asterisk_going_silent_mid_call_ends_the_handler_with_agi_timeout() -> None:
    async def slow_reply(command: str) -> str | None:
        await asyncio.sleep(0.4)
        return None

    handler, raised = recording(lambda s: s.get_variable("X"))
    async with serving({"h": handler}, idle_timeout=0.2) as server:
        await run_fastagi_call(HOST, server.port, "h", on_command=slow_reply, timeout=2)

    assert isinstance(raised[0], AGITimeout)
    assert (server.sessions_timed_out, server.sessions_served) == (1, 0)  # not a served call


async def test_a_disconnect_mid_session_ends_the_handler_with_connection_lost() -> None:
    async def three_commands(session: AGISession) -> None:
        for name in ("A", "B", "C"):
            await session.set_variable(name, "1")

    handler, raised = recording(three_commands)
    async with serving({"h": handler}) as server:
        record = await run_fastagi_call(HOST, server.port, "h", disconnect_after_commands=2)
        await until(lambda: server.sessions_served == 1)

    assert isinstance(raised[0], AGIConnectionLost)
    assert record.commands == ['SET VARIABLE "A" "1"', 'SET VARIABLE "B" "1"']
    assert server.sessions_served == 1


async def test_a_handler_bug_is_logged_with_traceback_the_dialplan_told_and_the_next_call_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def buggy_once(session: AGISession) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in the lookup")
        await session.set_variable("LL_MATCH", "unique")

    async with serving({"h": buggy_once}) as server:
        first = await run_fastagi_call(HOST, server.port, "h")
        second = await run_fastagi_call(HOST, server.port, "h")

    assert first.variables == {"LL_ERROR": "internal-error"}
    assert second.variables == {"LL_MATCH": "unique"}
    assert (server.sessions_served, server.sessions_failed) == (1, 1)
    [logged] = [r for r in caplog.records if r.exc_info]
    assert logged.levelno == logging.ERROR
    assert "bug in the lookup" in str(logged.exc_info[1])  # type: ignore[index]


@pytest.mark.parametrize(
    "reply", ["200 result=99999999", "200 result=٣", "200 result=" + "4" * 5000]
)
async def test_a_garbled_reply_is_a_protocol_error_logged_once_without_a_traceback(
    reply: str, caplog: pytest.LogCaptureFixture
) -> None:
    handler, raised = recording(lambda s: s.wait_for_digit(1000))
    async with serving({"h": handler}) as server:
        await run_fastagi_call(HOST, server.port, "h", on_command=lambda c: reply)

    assert isinstance(raised[0], AGIProtocolError)
    assert server.counters()["sessions_failed"] == 1
    assert not [r for r in caplog.records if r.exc_info]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


async def test_calls_beyond_max_sessions_are_told_busy_at_once_and_counted() -> None:
    release = asyncio.Event()

    async def hold(session: AGISession) -> None:
        await release.wait()
        await session.set_variable("LL_MATCH", "unique")

    # A long idle timeout: "at once" is then told apart from any wait with a wide margin,
    # however slowly a busy machine makes the exchange itself.
    async with serving({"h": hold}, max_sessions=1, idle_timeout=10.0) as server:
        first = asyncio.create_task(run_fastagi_call(HOST, server.port, "h"))
        await until(lambda: server.active_sessions == 1)
        started = time.monotonic()
        rejected = await run_fastagi_call(HOST, server.port, "h")  # the first is still held
        elapsed = time.monotonic() - started
        release.set()
        served = await first

    assert rejected.variables == {"LL_ERROR": "busy"}
    assert rejected.server_closed
    assert elapsed < 5.0  # not after the idle timeout, nor the peer's own 5 s read timeout
    assert served.variables == {"LL_MATCH": "unique"}
    assert (server.sessions_rejected, server.sessions_served) == (1, 1)


async def test_two_hundred_concurrent_calls_leave_no_task_or_socket_behind() -> None:
    async def lookup(session: AGISession) -> None:
        await session.set_variable("LL_CALLER", session.env.callerid)
        await session.get_variable("LL_CALLER")

    tasks_before = asyncio.all_tasks()
    sockets_before = open_sockets()
    server = FastAGIServer({"lookup": lookup}, HOST, 0, 2.0, 500)
    await server.start()
    records = await asyncio.gather(
        *(
            run_fastagi_call(HOST, server.port, "lookup", callerid=f"+1555{n:07d}")
            for n in range(200)
        )
    )
    await server.stop()

    assert [r.variables["LL_CALLER"] for r in records] == [f"+1555{n:07d}" for n in range(200)]
    assert server.sessions_served == 200
    assert server.active_sessions == 0
    assert asyncio.all_tasks() == tasks_before
    assert open_sockets() == sockets_before


async def test_stop_while_calls_are_running_cancels_them_and_closes_their_connections() -> None:
    async def forever(session: AGISession) -> None:
        await asyncio.Event().wait()

    tasks_before = asyncio.all_tasks()
    server = FastAGIServer({"h": forever}, HOST, 0, 1.0, 10)
    await server.start()
    calls = [asyncio.create_task(run_fastagi_call(HOST, server.port, "h")) for _ in range(5)]
    await until(lambda: server.active_sessions == 5)

    started = time.monotonic()
    await server.stop()
    records = await asyncio.gather(*calls)

    assert time.monotonic() - started < 1.0
    assert all(record.server_closed for record in records)
    assert server.active_sessions == 0
    assert asyncio.all_tasks() == tasks_before


async def test_the_port_property_reports_the_port_the_os_chose() -> None:
    async with serving({}) as server:
        assert server.port > 0
        _reader, writer = await asyncio.open_connection(HOST, server.port)
        writer.close()
        await writer.wait_closed()


async def test_listening_and_counters_report_the_server_state() -> None:
    async def lookup(session: AGISession) -> None:
        await session.verbose("hello")

    server = FastAGIServer({"lookup": lookup}, HOST, 0, 1.0, 10)
    assert not server.listening
    await server.start()
    await run_fastagi_call(HOST, server.port, "lookup")
    await run_fastagi_call(HOST, server.port, "unknown")
    assert server.listening
    await server.stop()

    assert not server.listening
    assert server.counters() == {
        "active_sessions": 0,
        "sessions_served": 1,
        "sessions_timed_out": 0,
        "sessions_failed": 1,
        "sessions_rejected": 0,
    }


def test_two_handlers_with_the_same_normalised_name_are_refused() -> None:
    handler = recording(AGISession.answer)[0]

    with pytest.raises(ValueError, match="caller-lookup"):
        FastAGIServer({"caller_lookup": handler, "Caller-Lookup": handler})
