"""The recordings index: what the pipeline and the call flow write on a recording's row.

Each helper works in the caller's session and transaction (tenant or system session) and
locks the row it changes, so concurrent writers (a pause from the desk, the pipeline) queue
up instead of overwriting each other's JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.audit import SYSTEM, Target, record
from pbx.db.models import Recording
from recordings import pauses
from recordings.retention import expires_at, tenant_retention


class Actor(Protocol):
    """Who did it, for the audit log (a signed-in `Principal`, or a desk operation's actor)."""

    @property
    def user_id(self) -> int: ...

    @property
    def label(self) -> str: ...


class RecordingNotFound(LookupError):
    pass


class RecordingPurged(Exception):
    """A purged recording cannot be stored again."""


async def mark_stored(
    session: AsyncSession,
    tenant_id: int,
    recording_id: int,
    *,
    storage: str,
    object_key: str,
    format: str,
    content_type: str,
    size_bytes: int,
    sha256: str,
    duration_ms: int | None,
    stored_at: datetime,
) -> datetime | None:
    """Index a verified upload: status "stored", where and what it is, and its expiry from
    the tenant's retention (see `recordings.retention`). Safe to run again with the same
    values. Returns the expiry (None: kept for ever)."""
    values = {
        "status": "stored",
        "storage": storage,
        "object_key": object_key,
        "format": format,
        "content_type": content_type,
        "size_bytes": size_bytes,
        "sha256": sha256,
        "duration_ms": duration_ms,
        "stored_at": stored_at,
    }
    this = (Recording.id == recording_id, Recording.tenant_id == tenant_id)
    postgres = session.bind.dialect.name == "postgresql"
    days: int | None = None
    if postgres:  # share lock on the tenant first: a retention change waits, or we wait
        days = await tenant_retention(session, tenant_id)
    updated = await session.execute(
        update(Recording)
        .where(*this, Recording.purged_at.is_(None))
        .values(**values)
        .returning(Recording.id)
        .execution_options(synchronize_session=False)
    )
    if updated.first() is None:
        if await session.scalar(select(Recording.id).where(*this)) is None:
            raise RecordingNotFound(f"no recording {recording_id}")
        raise RecordingPurged(f"recording {recording_id} was purged")
    if not postgres:  # SQLite: our write holds the only write lock; no change can slip in now
        days = await tenant_retention(session, tenant_id)
    expiry = expires_at(stored_at, days)
    await session.execute(
        update(Recording)
        .where(Recording.id == recording_id)
        .values(expires_at=expiry)
        .execution_options(synchronize_session=False)
    )
    return expiry


async def record_pause(
    session: AsyncSession,
    tenant_id: int,
    recording_id: int,
    *,
    at: datetime,
    reason: str,
    by: Actor | None,
) -> Recording:
    """Open a pause interval on a live recording and audit it (`by` None: the system, e.g.
    secure card capture). Raises `pauses.AlreadyPaused` when it is paused already."""
    recording = await _locked_live(session, tenant_id, recording_id)
    user = by.user_id if by else None
    recording.pauses = pauses.open_pause(recording.pauses, at=at, reason=reason, by=user)
    _audit(session, tenant_id, by, "recording.pause", recording, {"reason": reason})
    await session.flush()
    return recording


async def record_resume(
    session: AsyncSession,
    tenant_id: int,
    recording_id: int,
    *,
    at: datetime,
    by: Actor | None,
) -> Recording:
    """Close the open pause interval and audit it. Raises `pauses.NotPaused`."""
    recording = await _locked_live(session, tenant_id, recording_id)
    recording.pauses = pauses.close_pause(recording.pauses, at=at)
    _audit(session, tenant_id, by, "recording.resume", recording, {})
    await session.flush()
    return recording


async def _locked_live(session: AsyncSession, tenant_id: int, recording_id: int) -> Recording:
    query = (
        select(Recording)
        .where(Recording.id == recording_id, Recording.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)  # the locked row, not a stale copy
    )
    recording = await session.scalar(query)
    if recording is None:
        raise RecordingNotFound(f"no recording {recording_id}")
    if recording.status != "recording":
        raise pauses.PauseError(f"recording {recording_id} is {recording.status}, not live")
    return recording


def _audit(
    session: AsyncSession,
    tenant_id: int,
    by: Actor | None,
    action: str,
    recording: Recording,
    details: dict[str, object],
) -> None:
    record(
        session,
        tenant_id=tenant_id,
        actor=by or SYSTEM,
        action=action,
        target=Target("recording", recording.id),
        details={"call_id": recording.call_id, **details},
    )
