"""The calls the ACD is told about, and the ones it has handed to an agent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pbx.acd.serial import dump_time
from pbx.instants import parse_instant


@dataclass(frozen=True, slots=True)
class InboundCall:
    call_id: str
    # billing_bridge.identification.model's PRIORITY_*: 0 normal, 5 collections, 10 VIP.
    priority: int = 0
    # E.164; needed for a callback request, so a withheld number cannot get one.
    caller_number: str | None = None
    # When the caller first reached us, if before this enqueue (a call queued again after a
    # restart keeps its place among later callers); None: now.
    arrived_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ActiveCall:
    """A call an agent answered, kept until it ends to start wrap-up and time the handling."""

    call_id: str
    queue: str
    agent_id: str
    answered_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "queue": self.queue,
            "agent_id": self.agent_id,
            "answered_at": dump_time(self.answered_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActiveCall:
        answered_at = parse_instant(data["answered_at"])
        return cls(data["call_id"], data["queue"], data["agent_id"], answered_at)
