"""A desk event and who may receive it (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pbx.events.codec import MalformedDeskEvent, UnknownKind, decode, encode_payload
from pbx.events.payloads import DeskPayload


@dataclass(frozen=True, slots=True)
class Audience:
    """Agents by user id; queues by ACD key (supervisors who subscribed to them); or every
    supervisor and admin of the tenant."""

    agents: tuple[int, ...] = ()
    queues: tuple[str, ...] = ()
    supervisors: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"agents": list(self.agents), "queues": list(self.queues),
                "supervisors": self.supervisors}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> Audience:
        """Strict, as read off the bus: `MalformedDeskEvent` unless it is what `to_dict`
        writes."""
        if not isinstance(data, Mapping) or data.keys() - {"agents", "queues", "supervisors"}:
            raise MalformedDeskEvent("audience: not an object of agents, queues, supervisors")
        agents, queues = data.get("agents", []), data.get("queues", [])
        supervisors = data.get("supervisors", False)
        if not isinstance(agents, list) or not all(type(a) is int for a in agents):
            raise MalformedDeskEvent("audience.agents: expected a list of ids")
        if not isinstance(queues, list) or not all(type(q) is str for q in queues):
            raise MalformedDeskEvent("audience.queues: expected a list of queue keys")
        if type(supervisors) is not bool:
            raise MalformedDeskEvent("audience.supervisors: expected bool")
        return cls(tuple(agents), tuple(queues), supervisors)


@dataclass(frozen=True, slots=True)
class DeskEvent:
    """An event for the desks of `audience`. Build it from a typed payload with `DeskEvent.of`.

    `data` is given as a payload, or (the compatible path of publishers not yet typed) as
    the JSON object of one, which is decoded through the codec here: a wrong one raises
    `DeskCodecError` where it is published. Either way `data` then holds the JSON object
    the desk receives and `payload` the typed value.
    """

    type: str  # call.offered, call.connected, call.ended, agent.state, ...
    tenant_id: int
    audience: Audience
    data: Mapping[str, Any] | DeskPayload
    payload: DeskPayload = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        given = self.data
        if isinstance(given, DeskPayload):
            if given.kind != self.type:
                raise UnknownKind(f"a {given.kind} payload in a {self.type[:40]!r} event")
            payload, data = given, encode_payload(given)
        else:
            payload, data = decode(self.type, given)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "data", data)

    @classmethod
    def of(cls, tenant_id: int, audience: Audience, payload: DeskPayload) -> DeskEvent:
        return cls(payload.kind, tenant_id, audience, payload)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who a WebSocket belongs to, and what they asked to watch."""

    user_id: int
    tenant_id: int
    supervisor: bool
    queues: frozenset[str] = frozenset()

    def may_see(self, event: DeskEvent) -> bool:
        if event.tenant_id != self.tenant_id:
            return False
        audience = event.audience
        if self.user_id in audience.agents:
            return True
        if not self.supervisor:
            return False
        return audience.supervisors or not self.queues.isdisjoint(audience.queues)


def id_key(event_id: str) -> tuple[int, int]:
    """Stream ids ("milliseconds-sequence") in their order."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)
