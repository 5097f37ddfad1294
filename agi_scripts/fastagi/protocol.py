"""The FastAGI wire format as pure functions: no sockets, no clocks.

Facts from Asterisk's res/res_agi.c that shape this module:

- The environment is `key: value` lines (`"%s: %s\\n"`), values sent raw, ended by an empty
  line. Absent caller ID, caller name, DNID and RDNIS are the literal word `unknown`.
- `parse_args` splits a command on spaces and tabs; `"` toggles quoting and `\\` escapes the
  next character (inside or outside quotes), so a double-quoted argument with `"` and `\\`
  backslash-escaped reads back exactly. A line break cannot be escaped: it ends the command.
- Commands are read with `fgets` into a 2048-byte buffer: a longer line is cut and the rest runs
  as a second command, so `format_command` refuses anything that does not fit.
- Replies are one line (`200 result=1 (value) endpos=123`), except 520 which may be a block:
  `520-Invalid command syntax.  Proper usage follows:`, the usage text, `520 End of proper
  usage.`. A line `HANGUP` is not a reply: Asterisk sends it when the channel hangs up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, unquote, urlsplit

from agi_scripts.fastagi.errors import AGIProtocolError

ASTERISK_UNKNOWN = "unknown"  # Asterisk's word for a caller ID, name or DNID it was not given
HANGUP_LINE = "HANGUP"
USAGE_END_PREFIX = "520 "
MAX_COMMAND_BYTES = 2047  # res_agi's AGI_BUF_LEN (2048) less the terminating NUL
MAX_ENV_LINES = 128
MAX_AGI_ARGS = 127  # res_agi's AGI() takes at most MAX_ARGS (128) arguments, the script included

_ENV_KEY = re.compile(r"agi_[a-z0-9_]+")
# At most three digits: a longer number is garbage, and int() of thousands of digits raises
# ValueError (Python's cap on integer string conversion) instead of our protocol error.
_ARG_KEY = re.compile(r"agi_arg_([1-9][0-9]{0,2})")
_VERB = re.compile(r"[A-Z]+(?: [A-Z]+)*")
_REPLY = re.compile(r"([0-9]{3})([ -])(.*)", re.DOTALL)
_FORBIDDEN_IN_ARG = ("\n", "\r", "\x00")
_SMALL_INT = re.compile(r"-?[0-9]{1,9}")
_REPLY_INT = re.compile(r"-?[0-9]{1,19}")  # endpos is a sample count (C long)


@dataclass(frozen=True)
class AGIEnvironment:
    """What Asterisk tells a FastAGI script about the call before the first command.

    `script` is the normalised script name (`caller_lookup` and `Caller-Lookup` are both
    `caller-lookup`); `params` the query string of the AGI URL; `args` the dialplan's extra
    `AGI()` arguments in order. `raw` keeps every line as sent, including keys not named here.
    """

    request: str
    network_script: str
    script: str
    channel: str
    uniqueid: str
    callerid: str
    calleridname: str
    callingpres: int
    dnid: str
    extension: str
    context: str
    language: str
    args: tuple[str, ...]
    params: Mapping[str, str] = field(hash=False)
    raw: Mapping[str, str] = field(hash=False, repr=False)

    @property
    def caller_number(self) -> str | None:
        """The caller's number, or None when Asterisk had none (`unknown`)."""
        return _known(self.callerid)

    @property
    def caller_name(self) -> str | None:
        """The caller's name, or None when Asterisk had none (`unknown`)."""
        return _known(self.calleridname)

    @property
    def dialed_number(self) -> str | None:
        """The DNID, or None when Asterisk had none (`unknown`, common on Local channels)."""
        return _known(self.dnid)

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> AGIEnvironment:
        """Build from the environment lines (without the terminating empty line)."""
        raw: dict[str, str] = {}
        for number, line in enumerate(lines, start=1):
            if number > MAX_ENV_LINES:
                raise AGIProtocolError(f"AGI environment has more than {MAX_ENV_LINES} lines")
            key, value = parse_env_line(line)
            if key in raw:
                raise AGIProtocolError(f"AGI environment repeats {key!r}")
            raw[key] = value
        return cls._from_mapping(raw)

    @classmethod
    def unparsed(cls) -> AGIEnvironment:
        """Stands in for a block that was read whole but did not parse: the stream is still
        in step, so the dialplan can be told (`LL_ERROR`) through a session on it."""
        return cls._from_mapping({"agi_request": "", "agi_channel": "", "agi_uniqueid": ""})

    @classmethod
    def _from_mapping(cls, raw: dict[str, str]) -> AGIEnvironment:
        for required in ("agi_request", "agi_channel", "agi_uniqueid"):
            if required not in raw:
                raise AGIProtocolError(f"AGI environment lacks {required!r}")
        request = raw["agi_request"]
        network_script = raw.get("agi_network_script", "")
        script, params = split_script(network_script or _script_of_request(request))
        return cls(
            request=request,
            network_script=network_script,
            script=script,
            channel=raw["agi_channel"],
            uniqueid=raw["agi_uniqueid"],
            callerid=raw.get("agi_callerid", ASTERISK_UNKNOWN),
            calleridname=raw.get("agi_calleridname", ASTERISK_UNKNOWN),
            callingpres=_int_field(raw, "agi_callingpres"),
            dnid=raw.get("agi_dnid", ASTERISK_UNKNOWN),
            extension=raw.get("agi_extension", ""),
            context=raw.get("agi_context", ""),
            language=raw.get("agi_language", ""),
            args=_args(raw),
            params=MappingProxyType(params),
            raw=MappingProxyType(raw),
        )


def parse_environment(block: bytes) -> AGIEnvironment:
    """Parse the environment block as read from the socket, ending in the empty line.

    Values are decoded as UTF-8 with undecodable bytes replaced: a caller name in another
    encoding from some trunk must not cost the caller their lookup.
    """
    text = block.decode("utf-8", errors="replace")
    if not text.endswith("\n\n"):
        raise AGIProtocolError("AGI environment does not end with an empty line")
    return AGIEnvironment.from_lines(text[:-2].split("\n"))


def parse_env_line(line: str) -> tuple[str, str]:
    """`agi_key: value` → (key, value). The value may be empty or contain further colons."""
    key, separator, value = line.partition(": ")
    if not separator or not _ENV_KEY.fullmatch(key):
        raise AGIProtocolError(f"not an AGI environment line: {line[:80]!r}")
    return key, value


def normalise_script_name(name: str) -> str:
    """One spelling per script: lower case, `_` as `-`, no surrounding slashes."""
    return unquote(name).strip("/").lower().replace("_", "-")


def split_script(network_script: str) -> tuple[str, dict[str, str]]:
    """`caller_lookup?tenant=acme` → (`caller-lookup`, {`tenant`: `acme`})."""
    path, _, query = network_script.partition("?")
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in params:
            raise AGIProtocolError(f"AGI URL repeats the parameter {key!r}")
        params[key] = value
    return normalise_script_name(path), params


def quote(arg: str) -> str:
    """One AGI argument that res_agi's `parse_args` reads back exactly as `arg`."""
    for forbidden in _FORBIDDEN_IN_ARG:
        if forbidden in arg:
            # Asterisk reads a command up to the line break: the rest would run as a command.
            raise AGIProtocolError(f"AGI argument contains {forbidden!r}: {arg[:40]!r}")
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_command(verb: str, *args: str | int) -> bytes:
    """`format_command("VERBOSE", "a b", 1)` → `b'VERBOSE "a b" 1\\n'`: text arguments quoted,
    numbers bare (nothing in a number needs quoting)."""
    if not _VERB.fullmatch(verb):
        raise AGIProtocolError(f"not an AGI verb: {verb!r}")
    parts = [verb, *(str(arg) if isinstance(arg, int) else quote(arg) for arg in args)]
    line = (" ".join(parts) + "\n").encode("utf-8")
    if len(line) > MAX_COMMAND_BYTES:
        raise AGIProtocolError(
            f"{verb} is {len(line)} bytes; Asterisk reads at most {MAX_COMMAND_BYTES}"
        )
    return line


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply line. `result` is the text after `result=` (may be empty: `200 result=`),
    `data` the text in parentheses (None when there were none, "" for `()`), `text` whatever
    else the line said (`Invalid or unknown command`). `more_follows` is True for a `520-`
    line: read until `is_usage_end`."""

    code: int
    result: str | None
    data: str | None
    endpos: int | None
    text: str
    more_follows: bool
    line: str


def is_hangup(line: str) -> bool:
    """True for the line Asterisk sends when the channel hangs up during the session."""
    return line == HANGUP_LINE


def is_usage_end(line: str) -> bool:
    """True for the last line of a 520 block (`520 End of proper usage.`)."""
    return line.startswith(USAGE_END_PREFIX)


def parse_reply(line: str) -> Reply:
    """Parse one reply line (without its newline)."""
    match = _REPLY.fullmatch(line)
    if match is None:
        raise AGIProtocolError(f"not an AGI reply: {line[:80]!r}")
    code, separator, rest = int(match[1]), match[2], match[3]
    if separator == "-" or not rest.startswith("result="):
        if code == 200:
            raise AGIProtocolError(f"200 reply without result=: {line[:80]!r}")
        return Reply(code, None, None, None, rest, separator == "-", line)
    result, data, endpos, text = _parse_result(rest[len("result=") :])
    return Reply(code, result, data, endpos, text, False, line)


def _parse_result(rest: str) -> tuple[str, str | None, int | None, str]:
    """`1 (value) endpos=5` → ("1", "value", 5, "")."""
    result, _, tail = rest.partition(" ")
    data = None
    if tail.startswith("("):
        # The value is sent raw (`(%s)`) and may hold spaces and parentheses itself, so it
        # runs to the *last* `)`: only fixed tokens like `endpos=` ever follow it.
        close = tail.rfind(")")
        if close < 0:
            raise AGIProtocolError(f"unclosed parenthesis in reply: {rest[:80]!r}")
        data, tail = tail[1:close], tail[close + 1 :].lstrip(" ")
    endpos = None
    words = []
    for word in tail.split(" ") if tail else ():
        if word.startswith("endpos="):
            endpos = _int_token(word[len("endpos=") :], rest)
        else:
            words.append(word)
    return result, data, endpos, " ".join(words)


def _int_token(token: str, context: str) -> int:
    if not _REPLY_INT.fullmatch(token):
        raise AGIProtocolError(f"not a number in reply: {context[:80]!r}")
    return int(token)


def _known(value: str) -> str | None:
    return None if value in ("", ASTERISK_UNKNOWN) else value


def _int_field(raw: Mapping[str, str], key: str) -> int:
    value = raw.get(key, "0")
    # ASCII digits of a bounded length: int() also reads other scripts' digits (`٣`), spaces
    # and underscores, and raises ValueError (not our error) past 4,300 digits.
    if not _SMALL_INT.fullmatch(value):
        raise AGIProtocolError(f"{key} is not a number: {value[:20]!r}")
    return int(value)


def _script_of_request(request: str) -> str:
    parts = urlsplit(request)
    return parts.path + ("?" + parts.query if parts.query else "")


def _args(raw: Mapping[str, str]) -> tuple[str, ...]:
    numbered: dict[int, str] = {}
    for key, value in raw.items():
        if not key.startswith("agi_arg_"):
            continue
        match = _ARG_KEY.fullmatch(key)
        if match is None or int(match[1]) > MAX_AGI_ARGS:
            raise AGIProtocolError(f"not an AGI argument number: {key[:24]!r}")
        numbered[int(match[1])] = value
    if sorted(numbered) != list(range(1, len(numbered) + 1)):
        raise AGIProtocolError(f"AGI arguments are not numbered 1..N: {sorted(numbered)[:10]}")
    return tuple(numbered[index] for index in range(1, len(numbered) + 1))
