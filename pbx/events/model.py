"""A desk event and who may receive it (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
    def from_dict(cls, data: Mapping[str, Any]) -> Audience:
        return cls(tuple(data.get("agents", ())), tuple(data.get("queues", ())),
                   bool(data.get("supervisors", False)))  # fmt: skip


@dataclass(frozen=True, slots=True)
class DeskEvent:
    type: str  # call.offered, call.connected, call.ended, agent.state, ...
    tenant_id: int
    audience: Audience
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "tenant_id": self.tenant_id,
                "audience": self.audience.to_dict(), "data": dict(self.data)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeskEvent:
        return cls(data["type"], int(data["tenant_id"]), Audience.from_dict(data["audience"]),
                   dict(data.get("data") or {}))  # fmt: skip


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
