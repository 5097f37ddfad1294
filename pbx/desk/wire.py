"""The desk's messages on the bus between processes, as a small typed codec.

A request is `{"kind": <command class>, "fields": {...}, "actor": {...}}`; a reply is
`{"result": null}`, `{"result": {"kind": <result class>, "fields": {...}}}` or
`{"error": {"kind": <error class>, "code": ..., "message": ...}}`. Decoding checks kinds
against the tables below and every field against its declared type (strict: an id is an
int, never "7" or true) and raises `WireError`, never anything else.
"""

from __future__ import annotations

from typing import Any

from pbx.desk import errors
from pbx.desk.commands import COMMANDS, Actor, Command
from pbx.desk.results import RESULTS, Result
from pbx.desk.typed import FieldError, decode_dataclass, encode

COMMAND_KINDS: dict[str, type[Command]] = {cls.__name__: cls for cls in COMMANDS}
RESULT_KINDS: dict[str, type] = {cls.__name__: cls for cls in RESULTS}
ERROR_KINDS: dict[str, type[errors.DeskError]] = {cls.__name__: cls for cls in errors.KINDS}


class WireError(ValueError):
    """A desk message that does not decode."""


def encode_request(command: Command, actor: Actor) -> dict[str, Any]:
    return {"kind": type(command).__name__, "fields": encode(command), "actor": encode(actor)}


def decode_request(message: Any) -> tuple[Command, Actor]:
    if not isinstance(message, dict):
        raise WireError("a desk request is an object")
    cls = _kind(COMMAND_KINDS, message.get("kind"), "desk operation")
    command = _decode(cls, message.get("fields", {}))
    return command, _decode(Actor, message.get("actor"))


def encode_result(result: Result) -> dict[str, Any]:
    if result is None:
        return {"result": None}
    return {"result": {"kind": type(result).__name__, "fields": encode(result)}}


def encode_error(error: errors.DeskError) -> dict[str, Any]:
    kind = type(error).__name__ if type(error) in errors.KINDS else "Unavailable"
    return {"error": {"kind": kind, "code": error.code, "message": error.message}}


def decode_reply(reply: Any) -> Result:
    """The result, or the error the owner answered with, raised."""
    if not isinstance(reply, dict) or len(reply) != 1:
        raise WireError("a desk reply is an object with a result or an error")
    if "error" in reply:
        raise _error(reply["error"])
    result = reply.get("result")
    if result is None:
        return None
    if not isinstance(result, dict):
        raise WireError("a desk result is an object")
    return _decode(_kind(RESULT_KINDS, result.get("kind"), "desk result"), result.get("fields"))


def _error(raw: Any) -> errors.DeskError:
    if not isinstance(raw, dict):
        raise WireError("a desk error is an object")
    cls = _kind(ERROR_KINDS, raw.get("kind"), "desk error")
    code, message = raw.get("code"), raw.get("message")
    if not isinstance(code, str) or not isinstance(message, str):
        raise WireError("a desk error has a code and a message")
    return cls(message, code=code)


def _kind(table: dict[str, Any], kind: Any, what: str) -> Any:
    if not isinstance(kind, str) or kind not in table:
        raise WireError(f"unknown {what} {kind!r}")
    return table[kind]


def _decode(cls: type, fields: Any) -> Any:
    try:
        return decode_dataclass(cls, fields, cls.__name__)
    except FieldError as exc:
        raise WireError(str(exc)) from None
