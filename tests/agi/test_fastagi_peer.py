"""The Asterisk-side FastAGI peer speaks as the recorded Asterisk 22.10.1 spoke.

A scripted FastAGI server (plain asyncio, none of our server code) sends the commands and keeps
every line the peer sends back, so these tests check the peer's wire output directly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from pbx.simulator.fastagi_peer import (
    AGI_BUF_LEN,
    MAX_ARGS,
    SimulatedChannel,
    parse_args,
    run_fastagi_call,
    send_raw,
)
from tests.fixtures import CAPTURES

HOST = "127.0.0.1"
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
SET_VARIABLE_USAGE = (
    "520-Invalid command syntax.  Proper usage follows:\n"
    "Sets a variable to the current channel.\n"
    "520 End of proper usage."
)


def captured_sessions() -> list[dict[str, Any]]:
    with (CAPTURES / "fastagi-sessions.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@dataclass
class ScriptedServer:
    """What the scripted FastAGI server saw: the environment and each reply, in order."""

    commands: list[str]
    port: int = 0
    env_lines: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)


@asynccontextmanager
async def scripted_server(commands: list[str]) -> AsyncIterator[ScriptedServer]:
    script = ScriptedServer(commands)
    done = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            block = await reader.readuntil(b"\n\n")
            script.env_lines = block.decode()[:-2].split("\n")
            for command in script.commands:
                writer.write(command.encode() + b"\n")
                await read_reply(reader, script.replies)
        finally:
            writer.close()
            await writer.wait_closed()
            done.set()

    server = await asyncio.start_server(serve, HOST, 0, limit=1 << 20)
    script.port = server.sockets[0].getsockname()[1]
    try:
        yield script
        await asyncio.wait_for(done.wait(), 2)
    finally:
        server.close()
        await server.wait_closed()


async def read_reply(reader: asyncio.StreamReader, replies: list[str]) -> None:
    """One reply (a 520 block as one entry); `HANGUP` lines are kept as entries of their own."""
    while True:
        line = (await reader.readuntil(b"\n")).decode()[:-1]
        if line == "HANGUP":
            replies.append(line)
            continue
        if line.startswith("520-"):
            block = [line]
            while not block[-1].startswith("520 "):
                block.append((await reader.readuntil(b"\n")).decode()[:-1])
            line = "\n".join(block)
        replies.append(line)
        return


@pytest.mark.parametrize("session", captured_sessions(), ids=lambda s: s["agi_env"]["agi_uniqueid"])
async def test_each_captured_session_gets_the_environment_and_replies_asterisk_sent(
    session: dict[str, Any],
) -> None:
    env = session["agi_env"]
    sent = [exchange["sent"] for exchange in session["exchanges"]]

    async with scripted_server(sent) as server:
        record = await run_fastagi_call(
            HOST,
            server.port,
            env["agi_network_script"],
            callerid=env["agi_callerid"],
            calleridname=env["agi_calleridname"],
            callingpres=int(env["agi_callingpres"]),
            dnid=env["agi_dnid"],
            extension=env["agi_extension"],
            context=env["agi_context"],
            channel=env["agi_channel"],
            uniqueid=env["agi_uniqueid"],
            priority=int(env["agi_priority"]),
        )

    expected_env = [
        line.replace("127.0.0.1:4573", f"127.0.0.1:{server.port}")
        for line in session["raw_env_lines"]
        if not line.startswith("agi_threadid: ")
    ]
    assert [line for line in server.env_lines if not line.startswith("agi_threadid: ")] == (
        expected_env
    )
    assert server.env_lines[-1].startswith("agi_threadid: ")
    assert server.replies == [exchange["reply"] for exchange in session["exchanges"]]
    assert record.commands == sent
    assert record.server_closed


async def test_agi_arguments_follow_the_thread_id_as_numbered_lines() -> None:
    async with scripted_server([]) as server:
        await run_fastagi_call(HOST, server.port, "caller_lookup", args=("+97235551234", "IL"))

    assert server.env_lines[-3].startswith("agi_threadid: ")
    assert server.env_lines[-2:] == ["agi_arg_1: +97235551234", "agi_arg_2: IL"]


async def test_set_variable_with_a_wrong_argument_count_answers_asterisks_520_block() -> None:
    async with scripted_server(["SET VARIABLE ONLY_NAME", "SET VARIABLE A B C"]) as server:
        await run_fastagi_call(HOST, server.port, "x")

    assert server.replies == [SET_VARIABLE_USAGE, SET_VARIABLE_USAGE]


async def test_unknown_and_partial_verbs_answer_510() -> None:
    commands = ["FROBNICATE", "SET", "GET", ""]
    async with scripted_server(commands) as server:
        await run_fastagi_call(HOST, server.port, "x")

    assert server.replies == ["510 Invalid or unknown command"] * 4


async def test_after_n_commands_the_peer_says_hangup_and_refuses_live_commands_with_511() -> None:
    commands = ['SET VARIABLE "A" "1"', "ANSWER", 'SET VARIABLE "B" "2"', 'STREAM FILE beep ""']
    async with scripted_server(commands) as server:
        record = await run_fastagi_call(HOST, server.port, "x", hangup_after_commands=1)

    assert server.replies == ["200 result=1", "HANGUP", DEAD, "200 result=1", DEAD]
    assert record.hung_up
    assert record.variables == {"A": "1", "B": "2"}


async def test_quoted_utf8_arguments_with_quotes_and_backslashes_are_stored_unescaped() -> None:
    commands = [
        'SET VARIABLE "LL_CUSTOMER_NAME" "שרה כהן"',
        'SET VARIABLE LT "Žygimantas Šimkūnas"',
        'SET VARIABLE Q "say \\"hi\\" \\\\ done"',
        'GET VARIABLE "Q"',
    ]
    async with scripted_server(commands) as server:
        record = await run_fastagi_call(HOST, server.port, "x")

    assert record.variables == {
        "LL_CUSTOMER_NAME": "שרה כהן",
        "LT": "Žygimantas Šimkūnas",
        "Q": 'say "hi" \\ done',
    }
    assert server.replies[-1] == '200 result=1 (say "hi" \\ done)'


async def test_a_line_longer_than_asterisks_read_buffer_runs_as_two_commands() -> None:
    long_line = "VERBOSE " + "x" * (AGI_BUF_LEN + 100)
    async with scripted_server([long_line]) as server:
        record = await run_fastagi_call(HOST, server.port, "x")

    assert [len(command) for command in record.commands] == [AGI_BUF_LEN - 1, 109]
    assert server.replies == ["200 result=1"]  # the first half's reply; the tail got a 510


async def test_send_raw_returns_what_the_server_sent_and_whether_it_closed() -> None:
    async def greet_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n\n")
        writer.write(b'SET VARIABLE "LL_ERROR" "busy"\n')
        writer.close()

    server = await asyncio.start_server(greet_and_close, HOST, 0)
    try:
        exchange = await send_raw(HOST, server.sockets[0].getsockname()[1], b"agi_x: y\n\n")
    finally:
        server.close()
        await server.wait_closed()

    assert exchange.received == b'SET VARIABLE "LL_ERROR" "busy"\n'
    assert exchange.server_closed


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ("SET VARIABLE CUSTOMER_ID 42", ["SET", "VARIABLE", "CUSTOMER_ID", "42"]),
        ('VERBOSE "fastagi probe done" 1', ["VERBOSE", "fastagi probe done", "1"]),
        ('SET VARIABLE X ""', ["SET", "VARIABLE", "X", ""]),
        ("a\\ b", ["a b"]),
        ('"a\\"b"', ['a"b']),
        ('ab"c d"e', ["abc de"]),
        ("a\tb  c", ["a", "b", "c"]),
        ('"\\\\"', ["\\"]),
        ("\\x", ["x"]),
    ],
)
def test_parse_args_splits_a_command_as_res_agi_does(line: str, argv: list[str]) -> None:
    assert parse_args(line) == argv


def test_parse_args_drops_arguments_beyond_asterisks_limit() -> None:
    argv = parse_args(" ".join(str(n) for n in range(200)))

    assert argv == [str(n) for n in range(MAX_ARGS - 1)]


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("GET VARIABLE NOT_SET", "200 result=0"),
        ("GET VARIABLE CALLERID(num)", "200 result=1 ()"),
        ("GET VARIABLE CHANNEL", "200 result=1 (Local/100@from-pstn-00000000;2)"),
        ('GET FULL VARIABLE "${EXTEN}@${CONTEXT}"', "200 result=1 (100@from-pstn)"),
        ("CHANNEL STATUS", "200 result=4"),
        ("ANSWER", "200 result=0"),
        ("WAIT FOR DIGIT 1000", "200 result=0"),
        ("EXEC NoSuchApp", "200 result=-2"),
        ("get variable CHANNEL", "200 result=1 (Local/100@from-pstn-00000000;2)"),
    ],
)
def test_the_simulated_channel_answers_as_res_agi_does(command: str, reply: str) -> None:
    channel = SimulatedChannel(
        "Local/100@from-pstn-00000000;2", "1.1", "100", "from-pstn", "unknown", "unknown"
    )

    assert channel.execute(command) == reply


def test_get_data_collects_digits_until_hash_the_limit_or_silence() -> None:
    channel = SimulatedChannel("PJSIP/t-1", "1.1", "100", "c", "unknown", "unknown")
    channel.digits = "12#3456789"

    assert channel.execute("GET DATA enter-account 3000 6") == "200 result=12"
    assert channel.execute("GET DATA enter-pin 3000 4") == "200 result=3456"
    assert channel.execute("GET DATA enter-pin 3000 4") == "200 result=789 (timeout)"
    assert channel.execute("GET DATA enter-pin 3000 4") == "200 result= (timeout)"
