"""The platform operator's API tokens: random, shown once, kept as their SHA-256 (a token has
256 bits of entropy: a fast hash is enough, unlike a password), listed with when each was
last used, revoked (never deleted, so the list is the record: who made each token and when,
who revoked it and when). A token manages businesses
only: it is no user's session, so nothing under a business's API accepts it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pbx.auth import machine_secrets
from pbx.auth.sessions import token_digest
from pbx.db.database import Database
from pbx.db.models import PlatformToken
from pbx.platform import rules
from pbx.platform.errors import Invalid, TokenNameTaken, UnknownToken

log = logging.getLogger(__name__)
PREFIX = "llp_"  # tells a platform token from a session token at a glance (and in scanners)


@dataclass(frozen=True)
class PlatformCaller:
    """Who calls the platform API: a token, by name (the audit's actor)."""

    token_id: int
    name: str
    user_id: None = None

    @property
    def label(self) -> str:
        return f"platform:{self.name}"


@dataclass(frozen=True)
class TokenView:
    name: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None


async def create_token(database: Database, name: str, created_by: str, now: datetime
                       ) -> tuple[TokenView, str]:  # fmt: skip
    """A new token and its secret, which is never shown again."""
    problems = rules.Problems()
    if not rules.SLUG.fullmatch(name):
        problems.add("name", "lower-case letters, digits and inner hyphens, 1 to 64 long")
    if problems.found:
        raise Invalid(problems.found)
    secret = machine_secrets.mint(PREFIX)
    row = PlatformToken(name=name, token_sha256=token_digest(secret), created_by=created_by,
                        created_at=now)  # fmt: skip
    try:
        async with database.system_session() as session, session.begin():
            session.add(row)
    except IntegrityError:
        raise TokenNameTaken(name) from None
    log.info("platform token %r created by %s", name, created_by)
    return _view(row), secret


async def revoke_token(database: Database, name: str, by: str, now: datetime) -> TokenView:
    async with database.system_session() as session, session.begin():
        row = await session.scalar(select(PlatformToken).where(
            PlatformToken.name == name, PlatformToken.revoked_at.is_(None)))  # fmt: skip
        if row is None:
            raise UnknownToken(name)
        row.revoked_at, row.revoked_by = now, by
    log.info("platform token %r revoked by %s", name, by)
    return _view(row)


async def list_tokens(database: Database) -> list[TokenView]:
    async with database.system_session() as session:
        rows = await session.scalars(select(PlatformToken).order_by(PlatformToken.name))
        return [_view(row) for row in rows]


async def caller_for(database: Database, secret: str, now: datetime) -> PlatformCaller | None:
    """The caller a token names, or None (unknown or revoked)."""
    if not machine_secrets.plausible(secret, PREFIX):
        return None
    async with database.system_session() as session, session.begin():
        row = await session.scalar(select(PlatformToken).where(
            PlatformToken.token_sha256 == token_digest(secret)))  # fmt: skip
        if row is None or row.revoked_at is not None:
            return None
        machine_secrets.touch(row, now)
        return PlatformCaller(row.id, row.name)


def _view(row: PlatformToken) -> TokenView:
    return TokenView(row.name, row.created_by, row.created_at, row.last_used_at, row.revoked_at,
                     row.revoked_by)  # fmt: skip
