"""Sign-in and sessions: opaque random tokens, stored only as their SHA-256.

A session ends at `expires_at` (absolute) or after `idle_s` without a request, whichever
comes first; a deactivated user's sessions stop working at once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Executable

from pbx.auth.passwords import PasswordWorkers
from pbx.auth.roles import Principal, Role
from pbx.db.database import Database
from pbx.db.models import Tenant, User, UserSession

log = logging.getLogger(__name__)

# A request refreshes `last_seen_at` at most this often, so reads stay reads.
_TOUCH_EVERY = timedelta(seconds=60)
_TOKENS_A_READ = 1000  # sessions checked together, bound in one statement


class LoginFailed(Exception):
    """Wrong tenant, username or password, or an inactive user: deliberately one message."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    principal: Principal
    expires_at: datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(
        self,
        database: Database,
        *,
        passwords: PasswordWorkers,
        lifetime_s: int,
        idle_s: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._database = database
        self.passwords = passwords  # hashing and checks, off the event loop
        self.lifetime = timedelta(seconds=lifetime_s)
        self.idle = timedelta(seconds=idle_s)
        self.clock = clock

    async def sign_in(self, tenant_slug: str, username: str, password: str) -> SignedIn:
        """Raises `LoginFailed`. Callers bound how many run at once (`passwords.admitted`)."""
        async with self._database.system_session() as session:
            # A disabled business's users cannot sign in (`pbx.platform`): as if unknown.
            tenant_id = await session.scalar(
                select(Tenant.id).where(Tenant.slug == tenant_slug, Tenant.disabled.is_(False))
            )
        user = None
        if tenant_id is not None:
            async with self._database.tenant_session(tenant_id) as session:
                user = await session.scalar(select(User).where(User.username == username))
        stored = user.password_hash if user is not None else None
        matches = await self.passwords.matches(stored, password)
        if not matches or user is None or not user.active:
            raise LoginFailed("unknown user or wrong password")
        assert tenant_id is not None and stored is not None
        if self.passwords.needs_rehash(stored):
            await self._rehash(tenant_id, user.id, password)
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + self.lifetime
        async with self._database.system_session() as session, session.begin():
            session.add(UserSession(
                token_sha256=token_digest(token), user_id=user.id, tenant_id=tenant_id,
                created_at=now, last_seen_at=now, expires_at=expires,
            ))  # fmt: skip
        principal = Principal(user.id, tenant_id, user.username, Role(user.role))
        return SignedIn(token, principal, expires)

    async def principal(self, token: str) -> Principal | None:
        """Who holds this token, or None (unknown, expired, idle too long, deactivated).
        A read: the session is looked up without a transaction, and its `last_seen_at`
        deleted or refreshed after, on its own (`_bookkeeping`)."""
        now, digest = self.clock(), token_digest(token)
        async with self._database.system_session() as session:
            row = await session.get(UserSession, digest)
            if row is None:
                return None
            expired = self._ended(row.expires_at, row.last_seen_at, now)
            user = await session.scalar(
                select(User).where(User.id == row.user_id, User.tenant_id == row.tenant_id)
            )
        if expired:
            await self._bookkeeping(delete(UserSession).where(UserSession.token_sha256 == digest))
            return None
        if user is None or not user.active:
            return None
        if now - row.last_seen_at >= _TOUCH_EVERY:
            await self._bookkeeping(
                update(UserSession)
                .where(UserSession.token_sha256 == digest, UserSession.last_seen_at < now)
                .values(last_seen_at=now)
            )
        return Principal(user.id, row.tenant_id, user.username, Role(user.role))

    async def still_signed_in(self, tokens: Collection[str]) -> set[str]:
        """Which of `tokens` still hold, as `principal` decides each (the desks' sockets of a
        process, checked together): one read for up to a thousand, then the ended ones
        deleted and the others' `last_seen_at` refreshed, each one statement (`_bookkeeping`)."""
        now = self.clock()
        by_digest = {token_digest(token): token for token in tokens}
        digests = list(by_digest)
        held: set[str] = set()
        expired: list[str] = []
        seen: list[str] = []
        for start in range(0, len(digests), _TOKENS_A_READ):
            async with self._database.system_session() as session:
                rows = await session.execute(
                    select(UserSession.token_sha256, UserSession.expires_at,
                           UserSession.last_seen_at, User.active)
                    .outerjoin(User, (User.id == UserSession.user_id)
                               & (User.tenant_id == UserSession.tenant_id))
                    .where(UserSession.token_sha256.in_(digests[start:start + _TOKENS_A_READ]))
                )  # fmt: skip
            for digest, expires_at, last_seen_at, active in rows:
                if self._ended(expires_at, last_seen_at, now):
                    expired.append(digest)
                elif active:
                    held.add(by_digest[digest])
                    if now - last_seen_at >= _TOUCH_EVERY:
                        seen.append(digest)
        if expired:
            await self._bookkeeping(
                delete(UserSession).where(UserSession.token_sha256.in_(expired))
            )
        if seen:
            await self._bookkeeping(
                update(UserSession)
                .where(UserSession.token_sha256.in_(seen), UserSession.last_seen_at < now)
                .values(last_seen_at=now)
            )
        return held

    def _ended(self, expires_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
        """A session past its lifetime or idle too long (its row is deleted when read)."""
        return expires_at <= now or last_seen_at + self.idle <= now

    async def _bookkeeping(self, statement: Executable) -> None:
        """A session's expired row deleted or its `last_seen_at` refreshed: one short
        statement of its own. On SQLite it needs the one write lock, which the call flow's
        writes keep busy; if the lock stays taken past the busy timeout, the request goes on
        and a later one does it (`_TOUCH_EVERY` is far below any idle limit)."""
        try:
            async with self._database.system_session() as session, session.begin():
                await session.execute(statement)
        except OperationalError as exc:
            log.warning(
                "session bookkeeping left for a later request (database busy): %s", exc.orig
            )

    async def sign_out(self, token: str) -> None:
        async with self._database.system_session() as session, session.begin():
            await session.execute(
                delete(UserSession).where(UserSession.token_sha256 == token_digest(token))
            )

    async def sign_out_user(self, user_id: int) -> None:
        """End every session of a user (password changed, role changed, deactivated)."""
        async with self._database.system_session() as session, session.begin():
            await session.execute(delete(UserSession).where(UserSession.user_id == user_id))

    async def _rehash(self, tenant_id: int, user_id: int, password: str) -> None:
        secret = await self.passwords.hash(password)
        async with self._database.tenant_session(tenant_id) as session, session.begin():
            user = await session.get(User, user_id)
            if user is not None:
                user.password_hash = secret
