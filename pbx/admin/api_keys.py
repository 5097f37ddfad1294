"""A business's API keys, for machine clients (its billing system), never user sessions.

An admin creates a key with a name and scopes; its secret (`llk_` and 256 random bits) is
returned once and kept only as its SHA-256 (high entropy: a fast hash is enough, unlike a
password), with its first characters to tell keys apart in a list. Keys are listed with when
each was last used, and revoked, never deleted, so the list is the record. Creation and
revocation are audited in their own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin.errors import Conflict, NotFound
from pbx.audit import Actor, Target, record
from pbx.auth import machine_secrets
from pbx.auth.sessions import token_digest
from pbx.db.database import Database
from pbx.db.models import ApiKey, Tenant

PREFIX = "llk_"  # tells an API key from a session or platform token at a glance (and in scanners)
SCOPES = ("billing:write", "billing:read", "events:read")
_SHOWN = 12  # characters of the secret kept to tell keys apart: `llk_` and 8 random ones


class KeyNameTaken(Conflict):
    """The business already has a key of that name (revoked keys keep theirs)."""


@dataclass(frozen=True)
class NewKey:
    name: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class KeyView:
    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_by: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class KeyCaller:
    """A machine client of one business, by its key: the audit's actor, with its scopes."""

    key_id: int
    tenant_id: int
    name: str
    scopes: frozenset[str]
    user_id: None = None

    @property
    def label(self) -> str:
        return f"api-key:{self.name}"


async def create_key(session: AsyncSession, *, tenant_id: int, actor: Actor, key: NewKey,
                     now: datetime) -> tuple[KeyView, str]:  # fmt: skip
    """A new key and its secret, which is never shown again. The session is the tenant's,
    in a transaction the caller commits."""
    unknown = key.scopes - set(SCOPES)
    if unknown or not key.scopes:
        raise ValueError(f"scopes must be some of {SCOPES}")  # the schema refuses these first
    secret = machine_secrets.mint(PREFIX)
    row = ApiKey(tenant_id=tenant_id, name=key.name, prefix=secret[:_SHOWN],
                 key_sha256=token_digest(secret), scopes=" ".join(sorted(key.scopes)),
                 created_by=actor.user_id, created_at=now)  # fmt: skip
    if await session.scalar(select(ApiKey.id).where(ApiKey.name == key.name)) is not None:
        raise KeyNameTaken(f"an API key named {key.name!r} exists")
    session.add(row)
    await session.flush()  # two at once: the unique name refuses one (the caller's 409)
    record(session, tenant_id=tenant_id, actor=actor, action="api_key.create",
           target=Target("api_key", row.id), details={"name": row.name,
           "scopes": row.scopes.split()}, at=now)  # fmt: skip
    return _view(row), secret


async def list_keys(session: AsyncSession) -> list[KeyView]:
    rows = await session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))
    return [_view(row) for row in rows]


async def revoke_key(session: AsyncSession, *, tenant_id: int, actor: Actor, key_id: int,
                     now: datetime) -> KeyView:  # fmt: skip
    """The key revoked (a key revoked before stays as it was, and is not audited again)."""
    row = await session.get(ApiKey, key_id)  # the tenant's session: another's key is None
    if row is None:
        raise NotFound("API key")
    if row.revoked_at is None:
        row.revoked_at = now
        record(session, tenant_id=tenant_id, actor=actor, action="api_key.revoke",
               target=Target("api_key", row.id), details={"name": row.name}, at=now)  # fmt: skip
    return _view(row)


async def caller_for(database: Database, secret: str, now: datetime) -> KeyCaller | None:
    """The machine client a key names, or None (unknown, revoked, or its business disabled).
    Looked up by the secret's SHA-256: a timing difference tells about the hash, not the
    secret, so no constant-time comparison is needed."""
    if not machine_secrets.plausible(secret, PREFIX):
        return None
    async with database.system_session() as session, session.begin():
        found = (await session.execute(
            select(ApiKey, Tenant.disabled).join(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.key_sha256 == token_digest(secret)))).first()  # fmt: skip
        if found is None or found[1] or found[0].revoked_at is not None:
            return None
        row = found[0]
        machine_secrets.touch(row, now)
        return KeyCaller(row.id, row.tenant_id, row.name, frozenset(row.scopes.split()))


def _view(row: ApiKey) -> KeyView:
    return KeyView(row.id, row.name, row.prefix, tuple(row.scopes.split()), row.created_by,
                   row.created_at, row.last_used_at, row.revoked_at)  # fmt: skip
