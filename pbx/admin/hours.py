"""Business hours as configuration: opening times a route consults (deleting them leaves the
routes that used them always open)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin.errors import NotFound
from pbx.audit import Actor, Target, record
from pbx.db.models import BusinessHours


@dataclass(frozen=True)
class Hours:
    """Opening hours as an admin sets them; `weekly` holds `{"days", "open", "close"}` windows
    already read by `pbx.callflow.hours.OpeningHours`."""

    name: str
    timezone: str
    weekly: list[dict[str, Any]] = field(default_factory=list)
    closed_dates: list[str] = field(default_factory=list)


async def all_hours(session: AsyncSession) -> list[BusinessHours]:
    return list(await session.scalars(select(BusinessHours).order_by(BusinessHours.name)))


async def get_hours(session: AsyncSession, hours_id: int) -> BusinessHours:
    row = await session.get(BusinessHours, hours_id)
    if row is None:
        raise NotFound("business hours")
    return row


async def create_hours(
    session: AsyncSession, *, tenant_id: int, actor: Actor, hours: Hours
) -> BusinessHours:
    row = BusinessHours(**asdict(hours))
    session.add(row)
    await session.flush()
    _audit(session, tenant_id, actor, "hours.create", row.id, asdict(hours))
    return row


async def update_hours(
    session: AsyncSession, *, tenant_id: int, actor: Actor, hours_id: int, hours: Hours
) -> BusinessHours:
    row = await get_hours(session, hours_id)
    for name, value in asdict(hours).items():
        setattr(row, name, value)
    _audit(session, tenant_id, actor, "hours.update", row.id, asdict(hours))
    return row


async def delete_hours(
    session: AsyncSession, *, tenant_id: int, actor: Actor, hours_id: int
) -> None:
    """Delete business hours; the routes using them become always open (SET NULL)."""
    row = await get_hours(session, hours_id)
    _audit(session, tenant_id, actor, "hours.delete", row.id, {"name": row.name})
    await session.delete(row)


def _audit(session: AsyncSession, tenant_id: int, actor: Actor, action: str, ident: int,
           details: dict[str, Any]) -> None:  # fmt: skip
    record(session, tenant_id=tenant_id, actor=actor, action=action,
           target=Target("business_hours", ident), details=details)  # fmt: skip
