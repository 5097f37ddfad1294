"""What configuration may point at: a queue, route or menu names only what the tenant has."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin.errors import BadReference
from pbx.db.models import BusinessHours, Queue


async def check_overflow(session: AsyncSession, kind: str | None, target: str | None) -> None:
    """A queue that overflows to a queue names one the tenant has."""
    if kind == "queue" and not await _queue_named(session, target):
        raise BadReference("overflow_target", f"no queue named {target!r}")


async def check_route(
    session: AsyncSession,
    *,
    queue_ids: Mapping[str, int | None],
    business_hours_id: int | None,
    menu_options: Mapping[str, str],
    closed_kind: str | None,
    closed_target: str | None,
) -> None:
    """A route's queues (by id, per field), business hours, menu options and closed-hours
    queue are the tenant's own."""
    for field_name, ident in queue_ids.items():
        if ident is not None and await session.get(Queue, ident) is None:
            raise BadReference(field_name, "no such queue")
    hours = business_hours_id
    if hours is not None and await session.get(BusinessHours, hours) is None:
        raise BadReference("business_hours_id", "no such business hours")
    for digit, name in menu_options.items():
        if not await _queue_named(session, name):
            raise BadReference(f"menu.options.{digit}", f"no queue named {name!r}")
    if closed_kind == "queue" and not await _queue_named(session, closed_target):
        raise BadReference("closed_target", f"no queue named {closed_target!r}")


async def _queue_named(session: AsyncSession, name: str | None) -> bool:
    return await session.scalar(select(Queue.id).where(Queue.name == name)) is not None
