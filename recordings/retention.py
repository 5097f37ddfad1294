"""How long a tenant's recordings are kept, and the purge that deletes the expired ones.

Expiry is a fact on each recording: `expires_at` is its `stored_at` plus the tenant's
retention, written when it is stored (`recordings.index.mark_stored`). `set_retention`
rewrites it for every stored recording of the tenant in the same transaction as the change,
so a tenant's retention always means the same thing for every recording not yet purged:
"kept N days after it was stored", whether stored before or after the change. Shortening it
makes older recordings due at the next purge; None keeps everything from now on.
Stored rather than worked out at purge time so the purge is an indexed range scan, and a
recording's expiry can be shown (and one day extended) on its own.

A concurrent store and retention change cannot leave a recording with the old expiry: the
change updates the tenant row first, and `mark_stored` reads the retention under a share
lock on that row (PostgreSQL) or after its own write (SQLite's one writer at a time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.audit import SYSTEM, By, Target, record
from pbx.auth.roles import Principal
from pbx.db.database import Database
from pbx.db.models import Recording, Tenant
from recordings.holds import held_condition, is_held
from recordings.store import ObjectStore, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

PURGE_ACTOR = "retention"


@dataclass
class PurgeReport:
    purged: int = 0
    held: int = 0  # expired, but kept by a live legal hold
    failed: int = 0  # the store refused the delete for a reason a retry will not fix
    interrupted: bool = False  # the store was unavailable: the rest waits for the next run


def expires_at(stored_at: datetime, retention_days: int | None) -> datetime | None:
    """When a recording stored at `stored_at` is due for purging; None: kept for ever."""
    if retention_days is None:
        return None
    _check_days(retention_days)
    return stored_at + timedelta(days=retention_days)


async def tenant_retention(session: AsyncSession, tenant_id: int) -> int | None:
    """The tenant's retention in days, share-locked on PostgreSQL until the transaction
    ends so that `set_retention` waits for it (and it for `set_retention`)."""
    query = select(Tenant.recording_retention_days).where(Tenant.id == tenant_id)
    return await session.scalar(query.with_for_update(read=True))


async def set_retention(
    session: AsyncSession,
    tenant_id: int,
    days: int | None,
    *,
    by: Principal | None,
    now: datetime,
) -> int:
    """Change the tenant's retention and rewrite the expiry of its stored recordings; the
    change is audited. Returns how many recordings got a new expiry. The caller commits."""
    if days is not None:
        _check_days(days)
    if by is not None and by.tenant_id != tenant_id:
        raise ValueError("a user can only change their own tenant's retention")
    # The tenant row first: from here until commit, mark_stored waits for this change.
    changed = await session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(recording_retention_days=days)
        .returning(Tenant.id)
        .execution_options(synchronize_session=False)
    )
    if changed.first() is None:
        raise LookupError(f"no tenant {tenant_id}")
    expiry = None if days is None else _plus_days(Recording.stored_at, days, _dialect(session))
    result = await session.execute(
        update(Recording)
        .where(
            Recording.tenant_id == tenant_id,
            Recording.status == "stored",
            Recording.stored_at.is_not(None),
        )
        .values(expires_at=expiry)
        .execution_options(synchronize_session=False)
    )
    rewritten = result.rowcount
    record(
        session,
        tenant_id=tenant_id,
        actor=by or SYSTEM,
        action="recording.retention.set",
        target=Target("tenant", tenant_id),
        details={"days": days, "recordings": rewritten, "at": now.isoformat()},
    )
    return rewritten


async def purge_expired(
    database: Database, store: ObjectStore, *, now: datetime, batch: int = 500
) -> PurgeReport:
    """Delete every expired, unheld recording from the store and mark it purged (the row
    stays, with its key, as the record; one audit entry each). A store that is unavailable
    stops the run: nothing is marked purged unless its delete succeeded."""
    report = PurgeReport()
    async with database.system_session() as session:
        tenants = list(await session.scalars(select(Tenant.id).order_by(Tenant.id)))
    for tenant_id in tenants:
        try:
            await _purge_tenant(database, store, tenant_id, now=now, batch=batch, report=report)
        except StoreUnavailable as exc:
            log.warning("recording purge stopped, the store is unavailable: %s", exc)
            report.interrupted = True
            break
    return report


async def _purge_tenant(
    database: Database,
    store: ObjectStore,
    tenant_id: int,
    *,
    now: datetime,
    batch: int,
    report: PurgeReport,
) -> None:
    expired = _expired(now)
    async with database.tenant_session(tenant_id) as session:
        held = select(func.count()).select_from(Recording).where(expired, held_condition())
        report.held += await session.scalar(held) or 0
    after = 0
    while True:
        # By id, past the last batch: recordings the store refused are not picked up again.
        query = (
            select(Recording.id)
            .where(expired, ~held_condition(), Recording.id > after)
            .order_by(Recording.id)
            .limit(batch)
        )
        async with database.tenant_session(tenant_id) as session:
            ids = list(await session.scalars(query))
        for recording_id in ids:
            outcome = await _purge_one(database, store, tenant_id, recording_id, now)
            if outcome == "purged":
                report.purged += 1
            elif outcome == "held":
                report.held += 1
            elif outcome == "failed":
                report.failed += 1
        if len(ids) < batch:
            return
        after = ids[-1]


async def _purge_one(
    database: Database, store: ObjectStore, tenant_id: int, recording_id: int, now: datetime
) -> str:
    async with database.tenant_session(tenant_id) as session, session.begin():
        # Lock the row before checking for holds, and hold the lock over the delete: a hold
        # placed meanwhile waits for this transaction (see recordings.holds).
        locked = await session.execute(
            update(Recording)
            .where(Recording.id == recording_id, _expired(now))
            .values(status="stored")
            .returning(
                Recording.object_key, Recording.storage, Recording.call_id, Recording.expires_at
            )
            .execution_options(synchronize_session=False)
        )
        row = locked.one_or_none()
        if row is None:
            return "gone"  # purged, or its expiry moved, since the batch was read
        if await is_held(session, recording_id):
            return "held"
        if row.object_key is not None:
            try:
                await store.delete(row.object_key)
            except StoreUnavailable:
                raise
            except StoreError as exc:
                log.warning("recording %s not purged, the store refused: %s", recording_id, exc)
                return "failed"
        await session.execute(
            update(Recording)
            .where(Recording.id == recording_id)
            .values(status="purged", purged_at=now)
            .execution_options(synchronize_session=False)
        )
        _purge_audit(session, tenant_id, recording_id, row)
    return "purged"


def _purge_audit(session: AsyncSession, tenant_id: int, recording_id: int, row: Any) -> None:
    record(
        session,
        tenant_id=tenant_id,
        actor=By(PURGE_ACTOR),
        action="recording.purge",
        target=Target("recording", recording_id),
        details={
            "call_id": row.call_id,
            "storage": row.storage,
            "object_key": row.object_key,
            "expired_at": row.expires_at.isoformat(),
        },
    )


def _expired(now: datetime) -> ColumnElement[bool]:
    return and_(
        Recording.status == "stored",
        Recording.purged_at.is_(None),  # matches the partial index ix_recordings_purge
        Recording.expires_at.is_not(None),
        Recording.expires_at <= now,
    )


def _plus_days(stored_at: Any, days: int, dialect: str) -> ColumnElement[Any]:
    """SQL for `stored_at` plus whole days, so a retention change is one UPDATE."""
    if dialect == "postgresql":
        return stored_at + func.make_interval(0, 0, 0, days)
    # SQLite keeps the time as "YYYY-MM-DD HH:MM:SS.ffffff": shift the date and time and keep
    # the fraction, which whole days do not change, in the format SQLAlchemy reads back.
    return func.strftime("%Y-%m-%d %H:%M:%S", stored_at, f"+{days} days").concat(
        func.substr(stored_at, 20)
    )


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name


def _check_days(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
        raise ValueError(f"retention must be a positive number of days, not {days!r}")
