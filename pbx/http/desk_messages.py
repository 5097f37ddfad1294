"""What a desk and its WebSocket say to each other, as a small typed codec: text in, a
command or a typed error out; typed replies in, text out. Pure: no socket, no database.

A desk sends one command, `{"type": "subscribe", "queue_ids": [1, 2]}` (a supervisor
watching queues; `[]` watches none). Anything else (another type, a binary frame, text that
is not a JSON object, a wrong field) is a `MessageError` with a code and a fixed sentence: an
error never repeats what was sent, so it cannot echo an id back, and a malformed message
costs the desk one error line, never its socket. The socket answers with `Hello` once replay
is done, `Subscribed`, or the error; desk events themselves are framed by
`pbx.events.wire.desk_frame`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_CHARS = 4096  # a subscribe to every queue a business has fits many times over
MAX_QUEUE_IDS = 200
MAX_ID = 2**63 - 1  # ids are 64-bit in the database: a larger one is not an id


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Watch these queues (replaces what was watched before)."""

    queue_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MessageError:
    """Why a message was refused: `code` for programs, `message` for people."""

    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"type": "error", "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Hello:
    """Replay is over (up to `last_event_id`, None if nothing was replayed); live follows."""

    last_event_id: str | None

    def to_json(self) -> dict[str, object]:
        return {"type": "hello", "last_event_id": self.last_event_id}


@dataclass(frozen=True, slots=True)
class Subscribed:
    queue_ids: tuple[int, ...]  # in order

    def to_json(self) -> dict[str, object]:
        return {"type": "subscribed", "queue_ids": list(self.queue_ids)}


DeskCommand = Subscribe
Reply = Hello | Subscribed | MessageError

NOT_JSON = MessageError("not_json", "not a JSON object")
TOO_LARGE = MessageError("too_large", f"messages are at most {MAX_MESSAGE_CHARS} characters")
UNKNOWN_TYPE = MessageError("unknown_type", "unknown request")
NOT_TEXT = MessageError("not_text", "messages are JSON text, not binary")
BAD_QUEUE_IDS = MessageError(
    "bad_queue_ids", f"queue_ids must be a list of at most {MAX_QUEUE_IDS} queue ids"
)
UNKNOWN_FIELD = MessageError("unknown_field", "subscribe takes only type and queue_ids")
SUPERVISORS_ONLY = MessageError("forbidden", "queues are for supervisors")
# One answer whether a queue does not exist or is another business's: it confirms nothing.
UNKNOWN_QUEUE = MessageError("unknown_queue", "no such queue; nothing changed")


def parse_message(text: str) -> DeskCommand | MessageError:
    """One text message from the desk."""
    if len(text) > MAX_MESSAGE_CHARS:
        return TOO_LARGE
    try:
        request: Any = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting exhausts the parser's recursion
        return NOT_JSON
    if not isinstance(request, dict):
        return NOT_JSON
    if request.get("type") != "subscribe":
        return UNKNOWN_TYPE
    if set(request) - {"type", "queue_ids"}:
        return UNKNOWN_FIELD
    return _subscribe(request.get("queue_ids"))


def _subscribe(ids: Any) -> Subscribe | MessageError:
    if not isinstance(ids, list) or len(ids) > MAX_QUEUE_IDS:
        return BAD_QUEUE_IDS
    # Strict integers: `true` is an int to Python and 1.0 equals 1; neither is an id.
    if not all(type(i) is int and 1 <= i <= MAX_ID for i in ids):
        return BAD_QUEUE_IDS
    return Subscribe(tuple(dict.fromkeys(ids)))


def encode_reply(reply: Reply) -> str:
    """A reply as the text frame the desk receives."""
    return json.dumps(reply.to_json())
