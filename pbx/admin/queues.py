"""Queues as configuration: the rules for changing them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin.errors import Conflict, NotFound
from pbx.audit import Actor, Target, record
from pbx.db.models import InboundRoute, Queue


class QueueInUse(Conflict):
    """A queue an inbound route sends calls to (or sends its collections calls to)."""

    def __init__(self, name: str, route_id: int) -> None:
        super().__init__(f"queue {name!r} is used by inbound route {route_id}")
        self.name, self.route_id = name, route_id


async def delete_queue(
    session: AsyncSession, *, tenant_id: int, actor: Actor, queue_id: int
) -> None:
    """Delete a queue no route uses, audited in the session's transaction."""
    row = await session.get(Queue, queue_id)
    if row is None:
        raise NotFound("queue")
    used = await session.scalar(select(InboundRoute.id).where(
        (InboundRoute.queue_id == row.id) | (InboundRoute.collections_queue_id == row.id)
    ))  # fmt: skip
    if used is not None:
        raise QueueInUse(row.name, used)
    record(session, tenant_id=tenant_id, actor=actor, action="queue.delete",
           target=Target("queue", row.id), details={"name": row.name})  # fmt: skip
    await session.delete(row)
