"""Legal holds: a call's recordings, or every recording of a customer, kept from deletion.

A recording is held while a live hold (not released) names its call, its customer, or the
customer of its call. Placing and releasing are audited in the caller's transaction.

A hold and a purge of the same recording cannot pass each other: the purge locks the
recording row before it checks for holds and keeps the lock until its delete is recorded,
and `place_hold` locks the recordings it covers after writing the hold and before its
transaction commits. Whichever locks first goes first; the other sees its outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.audit import By, Target, record
from pbx.auth.roles import Principal
from pbx.db.models import Call, Customer, LegalHold, Recording

SYSTEM_ACTOR = "system"


class HoldError(Exception):
    """A hold request that cannot be carried out."""


class HoldTargetNotFound(HoldError):
    """No such call or customer in this tenant."""


class HoldNotFound(HoldError):
    pass


class HoldAlreadyReleased(HoldError):
    pass


def held_condition() -> ColumnElement[bool]:
    """SQL: the `Recording` of the enclosing query is under a live hold."""
    # Correlated explicitly: two levels down, auto-correlation would add its own `recordings`.
    call_customer = (
        select(Call.customer_id)
        .where(Call.id == Recording.call_id)
        .correlate(Recording)
        .scalar_subquery()
    )
    return (
        exists()
        .correlate(Recording)
        .where(
            LegalHold.tenant_id == Recording.tenant_id,
            LegalHold.released_at.is_(None),
            or_(
                LegalHold.call_id == Recording.call_id,
                LegalHold.customer_id == Recording.customer_id,
                LegalHold.customer_id == call_customer,
            ),
        )
    )


async def is_held(session: AsyncSession, recording: Recording | int) -> bool:
    recording_id = recording if isinstance(recording, int) else recording.id
    query = select(Recording.id).where(Recording.id == recording_id, held_condition())
    return await session.scalar(query) is not None


async def live_holds(
    session: AsyncSession, *, call_id: int | None = None, customer_id: int | None = None
) -> list[LegalHold]:
    """The live holds naming this call or this customer (not those reaching a call through
    its customer)."""
    query = select(LegalHold).where(LegalHold.released_at.is_(None))
    if call_id is not None:
        query = query.where(LegalHold.call_id == call_id)
    if customer_id is not None:
        query = query.where(LegalHold.customer_id == customer_id)
    return list(await session.scalars(query.order_by(LegalHold.id)))


async def place_hold(
    session: AsyncSession,
    tenant_id: int,
    *,
    call_id: int | None = None,
    customer_id: int | None = None,
    reason: str,
    by: Principal | None,
    now: datetime,
) -> LegalHold:
    """Hold one call's recordings or all of one customer's. `by` None: placed by the system.
    The caller commits; the hold and its audit entry go together."""
    if (call_id is None) == (customer_id is None):
        raise ValueError("a hold names exactly one call or one customer")
    reason = reason.strip()
    if not reason:
        raise ValueError("a hold needs a reason")
    _check_actor(by, tenant_id)
    target = (
        select(Call.id).where(Call.id == call_id, Call.tenant_id == tenant_id)
        if call_id is not None
        else select(Customer.id).where(Customer.id == customer_id, Customer.tenant_id == tenant_id)
    )
    if await session.scalar(target) is None:
        raise HoldTargetNotFound("no such call" if call_id is not None else "no such customer")
    hold = LegalHold(
        tenant_id=tenant_id,
        call_id=call_id,
        customer_id=customer_id,
        reason=reason,
        placed_by=by.user_id if by else None,
        placed_at=now,
    )
    session.add(hold)
    await session.flush()
    await _lock_covered_recordings(session, tenant_id, call_id, customer_id)
    _audit(session, tenant_id, by, "recording.hold.place", hold.id,
           {"call_id": call_id, "customer_id": customer_id, "reason": reason})  # fmt: skip
    return hold


async def release_hold(
    session: AsyncSession, tenant_id: int, hold_id: int, *, by: Principal | None, now: datetime
) -> LegalHold:
    """End a hold; its recordings are purged by the next run if their time has come."""
    _check_actor(by, tenant_id)
    query = (
        select(LegalHold)
        .where(LegalHold.id == hold_id, LegalHold.tenant_id == tenant_id)
        .with_for_update()
    )
    hold = await session.scalar(query)
    if hold is None:
        raise HoldNotFound(f"no legal hold {hold_id}")
    if hold.released_at is not None:
        raise HoldAlreadyReleased(f"legal hold {hold_id} was released already")
    hold.released_at = now
    hold.released_by = by.user_id if by else None
    await session.flush()
    _audit(session, tenant_id, by, "recording.hold.release", hold.id,
           {"call_id": hold.call_id, "customer_id": hold.customer_id})  # fmt: skip
    return hold


async def _lock_covered_recordings(
    session: AsyncSession, tenant_id: int, call_id: int | None, customer_id: int | None
) -> None:
    """Row locks on PostgreSQL; on SQLite the hold's insert already holds the one write
    lock, which a purge needs before it checks for holds."""
    if call_id is not None:
        covered = Recording.call_id == call_id
    else:
        calls = select(Call.id).where(Call.customer_id == customer_id)
        covered = or_(Recording.customer_id == customer_id, Recording.call_id.in_(calls))
    query = select(Recording.id).where(Recording.tenant_id == tenant_id, covered)
    await session.execute(query.with_for_update())


def _check_actor(by: Principal | None, tenant_id: int) -> None:
    if by is not None and by.tenant_id != tenant_id:
        raise HoldError("a user can only hold their own tenant's recordings")


def _audit(
    session: AsyncSession,
    tenant_id: int,
    by: Principal | None,
    action: str,
    hold_id: int,
    details: dict[str, Any],
) -> None:
    record(
        session,
        tenant_id=tenant_id,
        actor=by or By(SYSTEM_ACTOR),
        action=action,
        target=Target("legal_hold", hold_id),
        details=details,
    )
