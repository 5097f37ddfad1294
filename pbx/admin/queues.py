"""Queues as configuration: the rules for changing them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin import references
from pbx.admin.errors import Conflict, NotFound
from pbx.audit import Actor, Target, record
from pbx.db.models import InboundRoute, Queue


class QueueInUse(Conflict):
    """A queue an inbound route sends calls to (or sends its collections calls to)."""

    def __init__(self, name: str, route_id: int) -> None:
        super().__init__(f"queue {name!r} is used by inbound route {route_id}")
        self.name, self.route_id = name, route_id


@dataclass(frozen=True)
class QueueSettings:
    """A queue as an admin sets it (the ACD's own consistency already checked:
    `pbx.acd.queues.QueueConfig`)."""

    name: str
    strategy: str = "ringall"
    ring_timeout_seconds: int = 15
    retry_seconds: int = 0
    wrapup_seconds: int = 0
    max_wait_seconds: int | None = None
    overflow_kind: str | None = None
    overflow_target: str = ""
    announce_every_seconds: int | None = None
    required_skills: dict[str, int] = field(default_factory=dict)
    autopause: bool = True
    music_class: str = "ledgerline"
    recording_policy: str | None = None  # None: as the caller's inbound route says
    # A callback's retries (`pbx.acd.callback_rule`); None: the default's.
    callback_attempts: int | None = None
    callback_spacing_seconds: int | None = None
    callback_window_start: str | None = None  # HH:MM on the customer's clock
    callback_window_end: str | None = None
    # The wall board's thresholds (`pbx.reports.board`); None: derived.
    board_wait_amber_seconds: int | None = None
    board_wait_red_seconds: int | None = None
    board_service_level_amber_pct: int | None = None
    board_service_level_red_pct: int | None = None


async def all_queues(session: AsyncSession) -> list[Queue]:
    return list(await session.scalars(select(Queue).order_by(Queue.name)))


async def get_queue(session: AsyncSession, queue_id: int) -> Queue:
    row = await session.get(Queue, queue_id)
    if row is None:
        raise NotFound("queue")
    return row


async def create_queue(
    session: AsyncSession, *, tenant_id: int, actor: Actor, settings: QueueSettings
) -> Queue:
    """A new queue whose overflow names a queue the tenant has, audited."""
    await references.check_overflow(session, settings.overflow_kind, settings.overflow_target)
    row = Queue(**asdict(settings))
    session.add(row)
    await session.flush()
    _audit(session, tenant_id, actor, "queue.create", row.id, asdict(settings))
    return row


async def update_queue(
    session: AsyncSession, *, tenant_id: int, actor: Actor, queue_id: int,
    settings: QueueSettings,
) -> Queue:  # fmt: skip
    """Replace a queue's settings; the audit entry holds them before and after."""
    row = await get_queue(session, queue_id)
    await references.check_overflow(session, settings.overflow_kind, settings.overflow_target)
    before = _settings_of(row) | {"id": row.id}
    for name, value in asdict(settings).items():
        setattr(row, name, value)
    _audit(session, tenant_id, actor, "queue.update", row.id,
           {"before": before, "after": asdict(settings)})  # fmt: skip
    return row


async def delete_queue(
    session: AsyncSession, *, tenant_id: int, actor: Actor, queue_id: int
) -> None:
    """Delete a queue no route uses, audited in the session's transaction."""
    row = await get_queue(session, queue_id)
    used = await session.scalar(select(InboundRoute.id).where(
        (InboundRoute.queue_id == row.id) | (InboundRoute.collections_queue_id == row.id)
    ))  # fmt: skip
    if used is not None:
        raise QueueInUse(row.name, used)
    _audit(session, tenant_id, actor, "queue.delete", row.id, {"name": row.name})
    await session.delete(row)


def _settings_of(row: Queue) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in fields(QueueSettings)}


def _audit(session: AsyncSession, tenant_id: int, actor: Actor, action: str, ident: int,
           details: dict[str, Any]) -> None:  # fmt: skip
    record(session, tenant_id=tenant_id, actor=actor, action=action,
           target=Target("queue", ident), details=details)  # fmt: skip
