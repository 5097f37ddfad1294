"""What the scrape-time gauges are computed from: plain figures, handed to the Prometheus
adapter by functions the composition root wires in (the call flow's state, the backlog)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class QueueFigure:
    tenant_id: int
    queue: str  # the queue's name in its business (configuration, never a caller's)
    waiting: int
    longest_wait_s: float


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """The ACD as it is now, read from the call flow that owns the Asterisk node."""

    calls: Mapping[int, int]  # calls in progress by business
    queues: Sequence[QueueFigure]
    agents: Mapping[tuple[int, str], int]  # (business, agent state) -> agents


@dataclass(frozen=True, slots=True)
class Backlog:
    """One business's queued work in the database."""

    recordings_waiting: int = 0
    recordings_failed: int = 0
    webhooks_pending: int = 0
    webhooks_retrying: int = 0  # pending, their last attempt failed
    webhooks_oldest_pending: datetime | None = None
    webhooks_failed: int = 0
