"""One FastAGI call: send a command, read its reply, map failures onto the exception tree.

Asterisk reads one command, runs it, writes the reply, then reads the next; so do we: never
more than one command in flight. Every read is capped in size and in time, so a peer that
floods or goes quiet costs one exception, never a hung task.

A `HANGUP` line can arrive while a command is in flight (Asterisk sends it as soon as it sees
the channel hang up). It raises `AGIHangup` at once; the reply to the in-flight command is still
owed, so it is read and dropped before the next command. That keeps the stream in step if a
handler goes on with commands Asterisk still runs on a dead channel (SET VARIABLE, VERBOSE).
"""

from __future__ import annotations

import asyncio

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
from agi_scripts.fastagi.protocol import (
    AGIEnvironment,
    Reply,
    format_command,
    is_hangup,
    is_usage_end,
    parse_environment,
    parse_reply,
)

MAX_LINE_BYTES = 8192
MAX_ENV_BYTES = 16384
MAX_USAGE_LINES = 64
DEFAULT_MEDIA_TIMEOUT = 300.0  # a prompt or an application may legitimately run this long


async def read_environment(reader: asyncio.StreamReader, idle_timeout: float) -> AGIEnvironment:
    """Read and parse the environment block: one read up to the empty line, capped in time
    (`AGITimeout`) and size (`AGIProtocolError`; the reader's limit caps the buffer too)."""
    return parse_environment(await read_environment_block(reader, idle_timeout))


async def read_environment_block(reader: asyncio.StreamReader, idle_timeout: float) -> bytes:
    """The environment block as sent, up to and including the empty line, unparsed: once it
    is read the stream is in step, so even a block that does not parse can be answered."""
    try:
        async with asyncio.timeout(idle_timeout):
            block = await reader.readuntil(b"\n\n")
    except TimeoutError:
        raise AGITimeout(f"no AGI environment within {idle_timeout:g}s") from None
    except asyncio.IncompleteReadError as exc:
        raise AGIConnectionLost(
            f"connection closed after {len(exc.partial)} bytes of AGI environment"
        ) from None
    except asyncio.LimitOverrunError:
        raise AGIProtocolError("AGI environment larger than the reader's limit") from None
    except ConnectionError as exc:
        raise AGIConnectionLost(f"connection lost reading the AGI environment: {exc}") from None
    if len(block) > MAX_ENV_BYTES:
        raise AGIProtocolError(f"AGI environment larger than {MAX_ENV_BYTES} bytes")
    return block


class AGISession:
    """The commands Ledgerline sends on one call. Each method names the AGI command it sends.

    `idle_timeout` caps how long Asterisk may take to answer a command that does not wait for
    the caller; commands that play audio or wait for digits get `media_timeout` on top.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: AGIEnvironment,
        idle_timeout: float,
        *,
        media_timeout: float = DEFAULT_MEDIA_TIMEOUT,
    ) -> None:
        self.env = env
        self._reader = reader
        self._writer = writer
        self._idle_timeout = idle_timeout
        self._media_timeout = media_timeout
        self._owed_replies = 0
        self._last_command = ""
        self._hung_up = False
        self._broken = False

    @property
    def hung_up(self) -> bool:
        """True once Asterisk has said the channel hung up (or we hung it up)."""
        return self._hung_up

    @property
    def usable(self) -> bool:
        """False once the stream can no longer be trusted (EOF, timeout, garbage)."""
        return not self._broken

    async def answer(self) -> None:
        """`ANSWER`: answer the channel if it is not up yet."""
        await self._run("ANSWER", minus_one=AGIHangup)

    async def hangup(self) -> None:
        """`HANGUP`: hang up this call. Asterisk then sends `HANGUP`, so any later command
        raises `AGIHangup`."""
        await self._run("HANGUP", minus_one=AGICommandFailed)
        self._hung_up = True

    async def set_variable(self, name: str, value: str) -> None:
        """`SET VARIABLE name value`: set a channel variable (Asterisk answers `result=1`)."""
        reply = await self._run("SET VARIABLE", name, value, minus_one=AGICommandFailed)
        if reply.result != "1":
            raise self._failed(reply, f"SET VARIABLE {name} was refused")

    async def get_variable(self, name: str) -> str | None:
        """`GET VARIABLE name`: the value (up to 1023 bytes, Asterisk's buffer), None if unset.
        A name ending in `)` is read as a dialplan function, e.g. `CALLERID(num)`."""
        reply = await self._run("GET VARIABLE", name, minus_one=AGICommandFailed)
        return _value_or_none(reply)

    async def get_full_variable(self, expression: str) -> str | None:
        """`GET FULL VARIABLE expression`: `${...}` substituted as the dialplan would."""
        reply = await self._run("GET FULL VARIABLE", expression, minus_one=AGICommandFailed)
        return _value_or_none(reply)

    async def verbose(self, message: str, level: int = 1) -> None:
        """`VERBOSE message level`: write to Asterisk's verbose log."""
        await self._run("VERBOSE", message, level, minus_one=AGICommandFailed)

    async def stream_file(self, name: str, escape_digits: str = "") -> str | None:
        """`STREAM FILE name escape_digits`: play a sound file; the escape digit the caller
        pressed, or None if it played to the end. Asterisk answers -1 both for a hangup and
        for a missing file: treated as a hangup (`AGIHangup`, the file name on `.command`)."""
        reply = await self._run(
            "STREAM FILE", name, escape_digits, minus_one=AGIHangup, wait=self._media_timeout
        )
        return _digit_or_none(reply)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str:
        """`GET DATA prompt timeout max_digits`: play a prompt and collect digits until `#`,
        `max_digits` or `timeout_ms` of silence; the digits (possibly "")."""
        wait = self._media_timeout + max(timeout_ms, 0) / 1000 * max(max_digits, 1)
        reply = await self._run(
            "GET DATA", prompt, timeout_ms, max_digits, minus_one=AGIHangup, wait=wait
        )
        return reply.result or ""

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        """`SAY DIGITS digits escape_digits`: the escape digit pressed, or None."""
        reply = await self._run(
            "SAY DIGITS", digits, escape_digits, minus_one=AGIHangup, wait=self._media_timeout
        )
        return _digit_or_none(reply)

    async def say_number(self, number: int, escape_digits: str = "") -> str | None:
        """`SAY NUMBER number escape_digits`: the escape digit pressed, or None."""
        reply = await self._run(
            "SAY NUMBER", number, escape_digits, minus_one=AGIHangup, wait=self._media_timeout
        )
        return _digit_or_none(reply)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """`WAIT FOR DIGIT timeout_ms`: the digit pressed, or None on timeout. A negative
        timeout waits for ever in Asterisk; here it is capped by `media_timeout`."""
        wait = timeout_ms / 1000 if timeout_ms >= 0 else self._media_timeout
        reply = await self._run("WAIT FOR DIGIT", timeout_ms, minus_one=AGIHangup, wait=wait)
        return _digit_or_none(reply)

    async def exec(self, app: str, options: str = "") -> str:
        """`EXEC app options`: run a dialplan application; its result (`0` as a rule).
        -2 (no such application) raises `AGICommandFailed`, -1 `AGIHangup`."""
        reply = await self._run("EXEC", app, options, minus_one=AGIHangup, wait=self._media_timeout)
        if reply.result == "-2":
            raise self._failed(reply, f"Asterisk has no application {app!r}")
        return reply.result or ""

    async def channel_status(self) -> int:
        """`CHANNEL STATUS`: Asterisk's channel state (4 ringing, 6 up, ...)."""
        reply = await self._run("CHANNEL STATUS", minus_one=AGICommandFailed)
        result = reply.result or ""
        if not (result.isascii() and result.isdigit() and len(result) <= 3):
            raise AGIProtocolError("CHANNEL STATUS result is not a number", reply=reply.line)
        return int(result)

    async def _run(
        self,
        verb: str,
        *args: str | int,
        minus_one: type[AGIError],
        wait: float | None = None,
    ) -> Reply:
        """Send one command and return its `200` reply; -1 raises `minus_one`."""
        line = format_command(verb, *args)
        command = self._last_command = line[:-1].decode("utf-8")
        await self._settle_owed_replies(command)
        await self._send(line, command)
        reply = await self._read_reply(command, verb, self._idle_timeout + (wait or 0.0))
        if reply.result == "-1":
            raise minus_one(f"{verb} answered -1", command=command, reply=reply.line)
        return reply

    def _failed(self, reply: Reply, message: str) -> AGICommandFailed:
        return AGICommandFailed(message, command=self._last_command, reply=reply.line)

    async def _send(self, line: bytes, command: str) -> None:
        try:
            self._writer.write(line)
            await self._writer.drain()
        except ConnectionError as exc:
            self._broken = True
            raise AGIConnectionLost(f"connection lost sending: {exc}", command=command) from None

    async def _read_reply(self, command: str, verb: str, seconds: float) -> Reply:
        line = await self._read_line(command, seconds)
        if is_hangup(line):
            self._hung_up = True
            self._owed_replies += 1
            raise AGIHangup(f"caller hung up during {verb}", command=command, reply=line)
        try:
            reply = parse_reply(line)
        except AGIProtocolError as exc:
            self._broken = True
            exc.command, exc.reply = command, line
            raise
        if reply.more_follows:
            usage = await self._read_usage(command, seconds)
            raise AGIUsageError(f"{verb}: wrong arguments", usage, command=command, reply=line)
        return _check_code(reply, verb, command)

    async def _read_usage(self, command: str, seconds: float) -> str:
        lines: list[str] = []
        for _ in range(MAX_USAGE_LINES):
            line = await self._read_line(command, seconds)
            if is_usage_end(line):
                return "\n".join(lines)
            lines.append(line)
        self._broken = True
        raise AGIProtocolError(f"520 block longer than {MAX_USAGE_LINES} lines", command=command)

    async def _settle_owed_replies(self, command: str) -> None:
        """Drop the replies to commands that a `HANGUP` line overtook."""
        while self._owed_replies:
            line = await self._read_line(command, self._idle_timeout)
            if is_hangup(line):
                continue  # Asterisk may say it more than once
            self._owed_replies -= 1
            if line.startswith("520-"):
                await self._read_usage(command, self._idle_timeout)

    async def _read_line(self, command: str, seconds: float) -> str:
        try:
            async with asyncio.timeout(seconds):
                raw = await self._reader.readuntil(b"\n")
        except TimeoutError:
            self._broken = True
            raise AGITimeout(f"no reply within {seconds:g}s", command=command) from None
        except asyncio.IncompleteReadError:
            self._broken = True
            raise AGIConnectionLost("connection closed by Asterisk", command=command) from None
        except asyncio.LimitOverrunError:
            self._broken = True
            raise AGIProtocolError("reply line too long", command=command) from None
        except ConnectionError as exc:
            self._broken = True
            raise AGIConnectionLost(f"connection lost: {exc}", command=command) from None
        if len(raw) > MAX_LINE_BYTES:
            self._broken = True
            raise AGIProtocolError(f"reply line over {MAX_LINE_BYTES} bytes", command=command)
        return raw[:-1].decode("utf-8", errors="replace")


def _check_code(reply: Reply, verb: str, command: str) -> Reply:
    if reply.code == 200:
        return reply
    if reply.code == 510:
        raise AGIInvalidCommand(f"Asterisk does not know {verb}", command=command, reply=reply.line)
    if reply.code == 511:
        raise AGIDeadChannel(f"{verb} refused on a dead channel", command=command, reply=reply.line)
    if reply.code == 520:
        raise AGIUsageError(f"{verb}: wrong arguments", "", command=command, reply=reply.line)
    raise AGIProtocolError(f"unexpected reply to {verb}", command=command, reply=reply.line)


def _value_or_none(reply: Reply) -> str | None:
    if reply.result == "0":
        return None
    return reply.data if reply.data is not None else ""


def _digit_or_none(reply: Reply) -> str | None:
    """`result=0` → None, `result=49` → "1" (Asterisk sends the digit's character code)."""
    result = reply.result or ""
    # A character code: a short run of ASCII digits (int() would take `٣` and 5,000 digits,
    # chr() would refuse a code past 0x10FFFF with a ValueError of its own).
    digits = result.removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 3):
        raise AGIProtocolError("digit result is not a character code", reply=reply.line)
    code = int(result)
    return chr(code) if code > 0 else None
