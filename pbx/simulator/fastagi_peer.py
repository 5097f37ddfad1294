"""The Asterisk side of FastAGI, for tests, benchmarks and the demo.

`run_fastagi_call` connects to a FastAGI server the way Asterisk 22.10.1's `AGI(agi://...)`
does: the same environment lines in the same order (checked against recorded sessions), then
one reply per command, worded as res/res_agi.c words it. The channel behind it is simulated:
a dict of variables, a state, and the DTMF the caller will press (`digits`).

Behaviour taken from res_agi.c rather than guessed:
- commands are split by a port of its `parse_args` (quotes, backslash escapes, at most 127
  arguments) and read with `fgets` into 2048 bytes, so a longer line runs as two commands;
- a verb is matched word by word, case-insensitively; unknown → `510 Invalid or unknown
  command`; wrong argument count → the `520-` usage block (usage text from the XML docs);
- when the channel hangs up, Asterisk writes `HANGUP` once and then refuses with `511` only
  the commands that cannot run on a dead channel; SET/GET VARIABLE, VERBOSE, EXEC and NOOP
  still work, as they do in Asterisk;
- when the script closes the connection, Asterisk writes `HANGUP` once more and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

ASTERISK_VERSION = "22.10.1"
AGI_BUF_LEN = 2048
MAX_ARGS = 128
MAX_VARIABLE_BYTES = 1023  # GET VARIABLE copies into char tempstr[1024]
HANGUP_LINE = "HANGUP"
INVALID_COMMAND = "510 Invalid or unknown command"
DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine"
USAGE_FOLLOWS = "520-Invalid command syntax.  Proper usage follows:"
USAGE_END = "520 End of proper usage."
STATE_RING, STATE_UP = 4, 6
PROMPT_SAMPLES = 16000  # endpos of a simulated prompt played to its end (2 s at 8 kHz)

OnCommand = Callable[[str], "str | Awaitable[str | None] | None"]

_counter = itertools.count(1)
_INT_PREFIX = re.compile(r"\s*[+-]?\d+")
_SUBSTITUTION = re.compile(r"\$\{([^{}]+)\}")


def parse_args(line: str) -> list[str]:
    """res_agi's `parse_args`: split a command line into argv exactly as Asterisk does."""
    args: list[list[str]] = []
    quoted = escaped = False
    whitespace = True
    for char in line:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:  # an opening quote after a space starts an argument
                args.append([])
                whitespace = False
            continue
        if char in " \t" and not quoted and not escaped:
            whitespace = True
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            if len(args) >= MAX_ARGS - 1:
                continue  # Asterisk logs "Too many arguments, truncating" and drops the rest
            args.append([])
            whitespace = False
        args[-1].append(char)
        escaped = False
    return ["".join(arg) for arg in args]


def _scan_int(text: str) -> int | None:
    """C's sscanf("%d"): a leading integer, or None."""
    match = _INT_PREFIX.match(text)
    return int(match[0]) if match else None


@dataclass
class SimulatedChannel:
    """The channel an AGI session runs on, with the res_agi command handlers Ledgerline uses."""

    name: str
    uniqueid: str
    extension: str
    context: str
    callerid: str
    calleridname: str
    priority: int = 1
    digits: str = ""  # DTMF the caller presses, consumed in order
    variables: dict[str, str] = field(default_factory=dict)
    state: int = STATE_RING
    dead: bool = False
    hangup_pending: bool = False

    def execute(self, command: str) -> str:
        """The reply (possibly several lines, without the final newline) to one command."""
        argv = parse_args(command)
        entry = _find_command(argv)
        if entry is None:
            return INVALID_COMMAND
        if self.dead and not entry.runs_dead:
            return DEAD_CHANNEL
        reply = entry.handler(self, argv)
        if reply is None:  # RESULT_SHOWUSAGE
            return f"{USAGE_FOLLOWS}\n{entry.usage}\n{USAGE_END}"
        return reply

    def lookup(self, name: str) -> str | None:
        """A variable as GET VARIABLE sees it: builtins, then functions, then the channel's."""
        builtins = {
            "CHANNEL": self.name,
            "UNIQUEID": self.uniqueid,
            "EXTEN": self.extension,
            "CONTEXT": self.context,
            "PRIORITY": str(self.priority),
            "CALLERID(num)": "" if self.callerid == "unknown" else self.callerid,
            "CALLERID(name)": "" if self.calleridname == "unknown" else self.calleridname,
        }
        return builtins.get(name, self.variables.get(name))

    def press(self, escape_digits: str) -> str | None:
        """The caller's next digit if it interrupts a prompt with these escape digits."""
        if self.digits and self.digits[0] in escape_digits:
            digit, self.digits = self.digits[0], self.digits[1:]
            return digit
        return None


def _answer(channel: SimulatedChannel, argv: list[str]) -> str | None:
    channel.state = STATE_UP
    return "200 result=0"


def _channel_status(channel: SimulatedChannel, argv: list[str]) -> str | None:
    if len(argv) == 2:
        return f"200 result={channel.state}"
    if len(argv) == 3:
        return f"200 result={channel.state}" if argv[2] == channel.name else "200 result=-1"
    return None


def _exec(channel: SimulatedChannel, argv: list[str]) -> str | None:
    if len(argv) < 2:
        return None
    app, options = argv[1].lower(), argv[2] if len(argv) > 2 else ""
    if app == "set":
        name, _, value = options.partition("=")
        channel.variables[name] = value
    elif app == "answer":
        channel.state = STATE_UP
    elif app == "hangup":
        channel.hangup_pending = True
        return "200 result=-1"
    elif app not in ("noop", "wait", "playback"):
        return "200 result=-2"  # pbx_findapp found nothing
    return "200 result=0"


def _get_data(channel: SimulatedChannel, argv: list[str]) -> str | None:
    if len(argv) < 3:
        return None
    max_digits = _scan_int(argv[4]) if len(argv) > 4 else None
    limit = max_digits if max_digits and max_digits > 0 else 1024
    typed = ""
    while channel.digits and len(typed) < limit:
        digit, channel.digits = channel.digits[0], channel.digits[1:]
        if digit == "#":
            return f"200 result={typed}"
        typed += digit
    return f"200 result={typed}" if len(typed) >= limit else f"200 result={typed} (timeout)"


def _get_full_variable(channel: SimulatedChannel, argv: list[str]) -> str | None:
    if len(argv) not in (4, 5):
        return None
    if len(argv) == 5 and argv[4] != channel.name:
        return "200 result=0"
    value = _SUBSTITUTION.sub(lambda match: channel.lookup(match[1]) or "", argv[3])
    return f"200 result=1 ({value})"


def _get_variable(channel: SimulatedChannel, argv: list[str]) -> str | None:
    if len(argv) != 3:
        return None
    value = channel.lookup(argv[2])
    if value is None:
        return "200 result=0"
    # Cut at the byte, as ast_copy_string does; surrogateescape sends the bytes unchanged.
    cut = value.encode("utf-8")[:MAX_VARIABLE_BYTES].decode("utf-8", "surrogateescape")
    return f"200 result=1 ({cut})"


def _hangup(channel: SimulatedChannel, argv: list[str]) -> str | None:
    if len(argv) == 1 or (len(argv) == 2 and argv[1] == channel.name):
        channel.hangup_pending = True
        return "200 result=1"
    return "200 result=-1" if len(argv) == 2 else None


def _noop(channel: SimulatedChannel, argv: list[str]) -> str | None:
    return "200 result=0"


def _say(channel: SimulatedChannel, argv: list[str], max_args: int) -> str | None:
    if not 4 <= len(argv) <= max_args or _scan_int(argv[2]) is None:
        return None
    digit = channel.press(argv[3])
    return f"200 result={ord(digit) if digit else 0}"


def _say_digits(channel: SimulatedChannel, argv: list[str]) -> str | None:
    return _say(channel, argv, max_args=4)


def _say_number(channel: SimulatedChannel, argv: list[str]) -> str | None:
    return _say(channel, argv, max_args=5)


def _set_variable(channel: SimulatedChannel, argv: list[str]) -> str | None:
    if len(argv) != 4:
        return None
    channel.variables[argv[2]] = argv[3]
    return "200 result=1"


def _stream_file(channel: SimulatedChannel, argv: list[str]) -> str | None:
    if not 4 <= len(argv) <= 5:
        return None
    offset = _scan_int(argv[4]) if len(argv) == 5 else 0
    if offset is None:
        return None
    digit = channel.press(argv[3])
    if digit:
        return f"200 result={ord(digit)} endpos={offset + PROMPT_SAMPLES // 2}"
    return f"200 result=0 endpos={offset + PROMPT_SAMPLES}"


def _verbose(channel: SimulatedChannel, argv: list[str]) -> str | None:
    return "200 result=1" if len(argv) >= 2 else None


def _wait_for_digit(channel: SimulatedChannel, argv: list[str]) -> str | None:
    if len(argv) != 4 or _scan_int(argv[3]) is None:
        return None
    digit, channel.digits = channel.digits[:1], channel.digits[1:]
    return f"200 result={ord(digit) if digit else 0}"


@dataclass(frozen=True)
class _AgiCommand:
    words: tuple[str, ...]
    handler: Callable[[SimulatedChannel, list[str]], str | None]
    runs_dead: bool
    usage: str  # the <description> paragraphs as res_agi's xmldoc renders them


_SAY_USAGE = (
    "returning early if any of the given DTMF digits are received on the channel.{sp}Returns "
    "<literal>0</literal> if playback completes without a digit being pressed, or the ASCII "
    "numerical value of the digit if one was pressed or <literal>-1</literal> on error/hangup."
)
# In res_agi's registration order, which decides the first match.
_COMMANDS = (
    _AgiCommand(("answer",), _answer, False, ""),
    _AgiCommand(
        ("channel", "status"),
        _channel_status,
        False,
        "Returns the status of the specified <replaceable>channelname</replaceable>. If no "
        "channel name is given then returns the status of the current channel.\nReturn values:",
    ),
    _AgiCommand(
        ("exec",),
        _exec,
        True,
        "Executes <replaceable>application</replaceable> with given "
        "<replaceable>options</replaceable>.\nReturns whatever the "
        "<replaceable>application</replaceable> returns, or <literal>-2</literal> on failure "
        "to find <replaceable>application</replaceable>.",
    ),
    _AgiCommand(
        ("get", "data"),
        _get_data,
        False,
        "Stream the given <replaceable>file</replaceable>, and receive DTMF data.\n"
        "Returns the digits received from the channel at the other end.",
    ),
    _AgiCommand(
        ("get", "full", "variable"),
        _get_full_variable,
        True,
        "Evaluates the given <replaceable>expression</replaceable> against the channel "
        "specified by <replaceable>channelname</replaceable>, or the current channel if "
        "<replaceable>channelname</replaceable> is not provided.\nUnlike GET VARIABLE, the "
        "<replaceable>expression</replaceable> is processed in a manner similar to dialplan "
        "evaluation, allowing complex and built-in variables to be accessed, e.g. "
        "<literal>The time is ${EPOCH}</literal>\nReturns <literal>0</literal> if no channel "
        "matching <replaceable>channelname</replaceable> exists, <literal>1</literal> "
        "otherwise.\nExample return code: 200 result=1 (The time is 1578493800)",
    ),
    _AgiCommand(
        ("get", "variable"),
        _get_variable,
        True,
        "Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. "
        "Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and "
        "returns the variable in parentheses.\nExample return code: 200 result=1 (testvariable)",
    ),
    _AgiCommand(
        ("hangup",),
        _hangup,
        False,
        "Hangs up the specified channel. If no channel name is given, hangs up the current channel",
    ),
    _AgiCommand(("noop",), _noop, True, "Does nothing."),
    _AgiCommand(
        ("say", "digits"),
        _say_digits,
        False,
        "Say a given digit string, " + _SAY_USAGE.format(sp=" "),
    ),
    _AgiCommand(
        ("say", "number"), _say_number, False, "Say a given number, " + _SAY_USAGE.format(sp="  ")
    ),
    _AgiCommand(
        ("set", "variable"), _set_variable, True, "Sets a variable to the current channel."
    ),
    _AgiCommand(
        ("stream", "file"),
        _stream_file,
        False,
        "Send the given file, allowing playback to be interrupted by the given digits, if any. "
        "Returns <literal>0</literal> if playback completes without a digit being pressed, or "
        "the ASCII numerical value of the digit if one was pressed, or <literal>-1</literal> on "
        "error or if the channel was disconnected. If musiconhold is playing before calling "
        "stream file it will be automatically stopped and will not be restarted after "
        "completion.\nIt sets the following channel variables upon completion:",
    ),
    _AgiCommand(
        ("verbose",),
        _verbose,
        True,
        "Sends <replaceable>message</replaceable> to the console via verbose message system. "
        "<replaceable>level</replaceable> is the verbose level (1-4). Always returns "
        "<literal>1</literal>",
    ),
    _AgiCommand(
        ("wait", "for", "digit"),
        _wait_for_digit,
        False,
        "Waits up to <replaceable>timeout</replaceable> milliseconds for channel to receive a "
        "DTMF digit. Returns <literal>-1</literal> on channel failure, <literal>0</literal> if "
        "no digit is received in the timeout, or the numerical value of the ascii of the digit "
        "if one is received. Use <literal>-1</literal> for the <replaceable>timeout</replaceable> "
        "value if you desire the call to block indefinitely.",
    ),
)


def _find_command(argv: Sequence[str]) -> _AgiCommand | None:
    """res_agi's `find_command(argv, 0)`: every word of the command, extra words are args."""
    for entry in _COMMANDS:
        words = entry.words
        if len(argv) >= len(words) and all(argv[i].lower() == word for i, word in enumerate(words)):
            return entry
    return None


def environment_lines(
    host: str,
    port: int,
    script: str,
    channel: SimulatedChannel,
    *,
    callingpres: int,
    dnid: str,
    language: str,
    threadid: int,
    args: Sequence[str],
) -> list[str]:
    """The environment in Asterisk's order: launch_netscript's two lines, then setup_env."""
    lines = ["agi_network: yes"]
    if script:
        lines.append(f"agi_network_script: {script}")
    lines += [
        f"agi_request: agi://{host}:{port}/{script}",
        f"agi_channel: {channel.name}",
        f"agi_language: {language}",
        f"agi_type: {channel.name.partition('/')[0]}",
        f"agi_uniqueid: {channel.uniqueid}",
        f"agi_version: {ASTERISK_VERSION}",
        f"agi_callerid: {channel.callerid}",
        f"agi_calleridname: {channel.calleridname}",
        f"agi_callingpres: {callingpres}",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        f"agi_dnid: {dnid}",
        "agi_rdnis: unknown",
        f"agi_context: {channel.context}",
        f"agi_extension: {channel.extension}",
        f"agi_priority: {channel.priority}",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        f"agi_threadid: {threadid}",
    ]
    lines += [f"agi_arg_{index}: {arg}" for index, arg in enumerate(args, start=1)]
    for line in lines:
        if "\n" in line:
            raise ValueError(f"an environment value cannot hold a line break: {line!r}")
    return lines


@dataclass
class AgiCallRecord:
    """What happened on one simulated call."""

    env_lines: list[str]
    commands: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hung_up: bool = False  # the channel hung up during the session
    server_closed: bool = False  # the server ended the session (not our timeout)


async def run_fastagi_call(
    host: str,
    port: int,
    script: str,
    *,
    callerid: str = "unknown",
    calleridname: str = "unknown",
    callingpres: int = 0,
    dnid: str = "unknown",
    extension: str = "100",
    context: str = "from-pstn",
    channel: str | None = None,
    uniqueid: str | None = None,
    args: Sequence[str] = (),
    hangup_after_commands: int | None = None,
    on_command: OnCommand | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109 - a per-read limit, part of the peer's interface
    digits: str = "",
    variables: Mapping[str, str] | None = None,
    priority: int = 1,
    language: str = "en",
    disconnect_after_commands: int | None = None,
    extra_env: Sequence[str] = (),
) -> AgiCallRecord:
    """Place one call into the FastAGI server at host:port and answer its commands.

    `hangup_after_commands=N`: the caller hangs up after the N-th reply (Asterisk then sends
    `HANGUP`). `disconnect_after_commands=N`: the connection drops on receiving the N-th
    command, unanswered. `on_command(line)` may return a reply to send instead of the
    channel's own (sync or async). `timeout` bounds each wait for the server; when it runs out
    the call is abandoned with `server_closed` False. `extra_env` lines are appended to the
    environment as given: what a broken or hostile peer sends, never Asterisk.
    """
    number = next(_counter)
    simulated = SimulatedChannel(
        name=channel or f"PJSIP/pstn-trunk-{number:08x}",
        uniqueid=uniqueid or f"{int(time.time())}.{number}",
        extension=extension,
        context=context,
        callerid=callerid,
        calleridname=calleridname,
        priority=priority,
        digits=digits,
        variables=dict(variables or {}),
    )
    lines = environment_lines(
        host,
        port,
        script,
        simulated,
        callingpres=callingpres,
        dnid=dnid,
        language=language,
        threadid=139856938481344 + number,
        args=args,
    ) + list(extra_env)
    record = AgiCallRecord(env_lines=lines)
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    try:
        writer.write("".join(f"{line}\n" for line in lines).encode() + b"\n")
        await _converse(
            reader,
            writer,
            simulated,
            record,
            timeout,
            on_command,
            hangup_after_commands,
            disconnect_after_commands,
        )
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    record.variables = dict(simulated.variables)
    record.hung_up = simulated.dead
    return record


async def _converse(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    channel: SimulatedChannel,
    record: AgiCallRecord,
    seconds: float,
    on_command: OnCommand | None,
    hangup_after: int | None,
    disconnect_after: int | None,
) -> None:
    """res_agi's run_agi loop for one FastAGI connection."""
    while True:
        if not channel.dead and (
            channel.hangup_pending
            or (hangup_after is not None and len(record.commands) >= hangup_after)
        ):
            channel.dead = True
            writer.write(f"{HANGUP_LINE}\n".encode())
        try:
            commands = await _read_commands(reader, seconds)
        except TimeoutError:
            return  # the server went quiet: we give up, it did not close
        except ConnectionError:
            commands = None  # a reset is the server closing with our bytes unread
        if commands is None:  # the script closed its end: Asterisk says HANGUP once more
            record.server_closed = True
            with contextlib.suppress(ConnectionError):
                writer.write(f"{HANGUP_LINE}\n".encode())
            return
        for command in commands:
            record.commands.append(command)
            if disconnect_after is not None and len(record.commands) >= disconnect_after:
                writer.transport.abort()
                return
            reply = await _reply(channel, command, on_command)
            record.replies.append(reply)
            writer.write(reply.encode("utf-8", "surrogateescape") + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()


async def _reply(channel: SimulatedChannel, command: str, on_command: OnCommand | None) -> str:
    if on_command is not None:
        override = on_command(command)
        if inspect.isawaitable(override):
            override = await override
        if override is not None:
            return override
    return channel.execute(command)


async def _read_commands(reader: asyncio.StreamReader, seconds: float) -> list[str] | None:
    """One line as `fgets` into AGI_BUF_LEN bytes sees it: a longer line is several commands.
    None at EOF. A last line without a newline still runs, as it does in Asterisk."""
    try:
        async with asyncio.timeout(seconds):
            data = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        data = exc.partial
    step = AGI_BUF_LEN - 1
    chunks = [data[start : start + step] for start in range(0, len(data), step)]
    if chunks[-1].endswith(b"\n"):
        chunks[-1] = chunks[-1][:-1]
    return [chunk.decode("utf-8", "replace") for chunk in chunks]


@dataclass
class RawExchange:
    """What a raw connection got back."""

    received: bytes
    server_closed: bool


async def send_raw(host: str, port: int, data: bytes, *, read_timeout: float = 5.0) -> RawExchange:
    """Connect, send `data` as is (malformed environments, oversize lines...), and collect
    what the server sends until it closes or stays silent for `read_timeout` seconds."""
    reader, writer = await asyncio.open_connection(host, port)
    received = bytearray()
    closed = False
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        while True:
            async with asyncio.timeout(read_timeout):
                chunk = await reader.read(65536)
            if not chunk:
                closed = True
                break
            received += chunk
    except ConnectionError:
        closed = True
    except TimeoutError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return RawExchange(bytes(received), closed)
