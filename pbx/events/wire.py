"""Desk events on their two wires: the bus between processes (the event log's entries) and
the desk's WebSocket. Both go through the payload codec (`codec.py`), so what is read off
the bus is checked as strictly as what a publisher builds.

The bus carries `{"type", "tenant_id", "audience", "data"}`; the desk receives
`{"id", "type", "data"}`, `data` being the payload's JSON object either way.
"""

from __future__ import annotations

import json
from typing import Any

from pbx.events.codec import MalformedDeskEvent
from pbx.events.model import Audience, DeskEvent

_ENVELOPE = frozenset({"type", "tenant_id", "audience", "data"})


def to_bus(event: DeskEvent) -> str:
    return _json({"type": event.type, "tenant_id": event.tenant_id,
                  "audience": event.audience.to_dict(), "data": event.data})  # fmt: skip


def from_bus(raw: str | bytes) -> DeskEvent:
    """One entry of the bus as an event; `DeskCodecError` if it is not one."""
    try:
        message: Any = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise MalformedDeskEvent("not JSON") from None
    if not isinstance(message, dict) or message.keys() != _ENVELOPE:
        raise MalformedDeskEvent("not an object of type, tenant_id, audience and data")
    kind, tenant_id = message["type"], message["tenant_id"]
    if not isinstance(kind, str):
        raise MalformedDeskEvent("type: expected str")
    if type(tenant_id) is not int:
        raise MalformedDeskEvent(f"{kind[:40]}: tenant_id: expected int")
    return DeskEvent(kind, tenant_id, Audience.from_dict(message["audience"]), message["data"])


def desk_frame(event_id: str, event: DeskEvent) -> str:
    """The text frame a desk receives for the event logged as `event_id`."""
    return _json({"id": event_id, "type": event.type, "data": event.data})


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
