"""Idempotency keys of machine clients' writes (Stripe's convention): the same key with the
same request gets the stored answer again, without the work being done twice.

A request is claimed in a short transaction of its own (so a second request with the key,
at the same moment, sees it in progress and is refused instead of waiting), and its answer
is stored by `complete` in the work's own transaction: the change and its answer commit
together or not at all. Work that fails releases its claim. A claim left in progress by a
process that died is taken over after `ABANDONED_AFTER`; keys are kept `KEPT_FOR`, then
purged by `purge_expired` (run by `serve` every hour).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.db.database import Database
from pbx.db.models import IdempotencyKey

KEPT_FOR = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=10)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A request under an idempotency key: what makes it the same request again."""

    key: str
    method: str
    path: str
    sha256: str  # of the body
    api_key_id: int | None


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    body: Any


class KeyReused(Exception):
    """The key was used for another request (method, path or body differ)."""


class KeyInProgress(Exception):
    """A request with this key is being worked on now."""


def valid_key(key: str) -> bool:
    """1-255 printable ASCII characters."""
    return 0 < len(key) <= MAX_KEY_LENGTH and all(" " <= ch <= "~" for ch in key)


async def claim(
    database: Database, tenant_id: int, request: KeyedRequest, now: datetime
) -> int | StoredAnswer:
    """The new claim's id, to `complete` in the work's transaction; or the answer stored for
    the same request. Raises `KeyReused` or `KeyInProgress`."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        await session.execute(  # an expired use of the key is no answer to this request
            delete(IdempotencyKey).where(
                IdempotencyKey.key == request.key, IdempotencyKey.created_at < now - KEPT_FOR
            )
        )
        try:
            async with session.begin_nested():
                row = IdempotencyKey(
                    tenant_id=tenant_id, key=request.key, api_key_id=request.api_key_id,
                    request_method=request.method, request_path=request.path,
                    request_sha256=request.sha256, created_at=now,
                )  # fmt: skip
                session.add(row)
                await session.flush()
                return row.id
        except IntegrityError:
            pass  # the key is held: by this request before, or by another
        held = await session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.key == request.key).with_for_update()
        )
        if held is None:  # released between the insert and this read: the client retries
            raise KeyInProgress(request.key)
        same = (held.request_method, held.request_path, held.request_sha256) == (
            request.method, request.path, request.sha256)  # fmt: skip
        if not same:
            raise KeyReused(request.key)
        if held.status_code is not None:
            return StoredAnswer(held.status_code, held.response)
        if held.created_at > now - ABANDONED_AFTER:
            raise KeyInProgress(request.key)
        held.created_at = now  # its worker died: this request does the work
        return held.id


async def complete(session: AsyncSession, claim_id: int, status: int, body: Any) -> None:
    """Store the answer, in the transaction of the work it answers."""
    await session.execute(
        update(IdempotencyKey).where(IdempotencyKey.id == claim_id)
        .values(status_code=status, response=body)
        .execution_options(synchronize_session=False)
    )  # fmt: skip


async def release(database: Database, tenant_id: int, claim_id: int) -> None:
    """The work failed and nothing of it committed: the key may be used again."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        await session.execute(
            delete(IdempotencyKey)
            .where(IdempotencyKey.id == claim_id, IdempotencyKey.status_code.is_(None))
        )  # fmt: skip


async def purge_expired(database: Database, now: datetime) -> int:
    """Delete every business's keys older than `KEPT_FOR`; how many."""
    async with database.system_session() as session, session.begin():
        purged = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < now - KEPT_FOR)
        )
    return int(purged.rowcount or 0)  # type: ignore[attr-defined]
