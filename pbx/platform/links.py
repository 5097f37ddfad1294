"""One-time links by which a user sets a password: an invitation (a new user, a business's
first admin) or a reset. The link carries a random token, never a password; only the token's
SHA-256 is kept, it expires, it works once, and a newer link for the same user replaces it.
The password is POSTed with the token (`redeem`), never put in a URL that is logged."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin.agents import get_agent
from pbx.audit import Actor, By, Target, record
from pbx.auth.sessions import token_digest
from pbx.db.database import Database
from pbx.db.models import Tenant, User, UserSession, UserToken
from pbx.platform.errors import LinkNotValid, LinkRefused

# `invite` or `reset`, as the HTTP layer calls either.
Issue = Callable[..., Awaitable["OneTimeLink"]]

LIFETIMES = {"invite": timedelta(days=7), "reset": timedelta(hours=24)}
# The page reads the token from the fragment, which browsers never send: the token is not in
# any request line a proxy or server logs; the page POSTs it with the new password.
LINK_PATH = "/#set-password="


@dataclass(frozen=True)
class OneTimeLink:
    token: str  # shown once, to be handed to the user
    purpose: str
    expires_at: datetime

    def url(self, base: str) -> str:
        return base.rstrip("/") + LINK_PATH + self.token


@dataclass(frozen=True)
class PasswordSet:
    tenant_id: int
    user_id: int


async def issue(
    session: AsyncSession, *, tenant_id: int, user_id: int, purpose: str, now: datetime
) -> OneTimeLink:
    """A new link for the user, in the caller's transaction; their earlier unused links stop
    working."""
    await session.execute(
        delete(UserToken).where(UserToken.user_id == user_id, UserToken.used_at.is_(None))
    )
    token = secrets.token_urlsafe(32)
    expires = now + LIFETIMES[purpose]
    session.add(UserToken(token_sha256=token_digest(token), user_id=user_id,
                          tenant_id=tenant_id, purpose=purpose, created_at=now,
                          expires_at=expires))  # fmt: skip
    return OneTimeLink(token, purpose, expires)


async def invite(
    session: AsyncSession, *, tenant_id: int, actor: Actor, agent_id: int, now: datetime
) -> OneTimeLink:
    """An invitation for a user of the tenant who has no password yet."""
    user = await get_agent(session, agent_id)
    if user.password_hash is not None:
        raise LinkRefused("the user has a password already: send a reset instead")
    return await _link(session, tenant_id, actor, user, "invite", now)


async def reset(
    session: AsyncSession, *, tenant_id: int, actor: Actor, agent_id: int, now: datetime
) -> OneTimeLink:
    """A reset: the user's password stops working at once (the caller signs them out) and
    they set a new one through the link."""
    user = await get_agent(session, agent_id)
    user.password_hash = None
    return await _link(session, tenant_id, actor, user, "reset", now)


async def _link(
    session: AsyncSession, tenant_id: int, actor: Actor, user: User, purpose: str,
    now: datetime,
) -> OneTimeLink:  # fmt: skip
    if not user.active:
        raise LinkRefused("the user is inactive: activate them first")
    link = await issue(session, tenant_id=tenant_id, user_id=user.id, purpose=purpose, now=now)
    details = {"expires_at": link.expires_at.isoformat()}
    record(session, tenant_id=tenant_id, actor=actor, action=f"agent.{purpose}_link",
           target=Target("user", user.id), details=details)  # fmt: skip
    return link


async def check(database: Database, token: str, now: datetime) -> None:
    """Raises `LinkNotValid` unless the token would set a password now: checked before the
    password is hashed, so an unknown token costs no hashing."""
    async with database.system_session() as session:
        row = await session.get(UserToken, token_digest(token))
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise LinkNotValid()


async def redeem(database: Database, token: str, password_hash: str, now: datetime) -> PasswordSet:
    """Set the password of the token's user and use the token up, in one transaction: of two
    redemptions at once, one wins and the other is `LinkNotValid`. The user's sessions end."""
    digest = token_digest(token)
    async with database.system_session() as session, session.begin():
        used = await session.execute(
            update(UserToken)
            .where(UserToken.token_sha256 == digest, UserToken.used_at.is_(None),
                   UserToken.expires_at > now)
            .values(used_at=now)
        )  # fmt: skip
        row = await session.get(UserToken, digest)
        if used.rowcount != 1 or row is None:  # type: ignore[attr-defined]
            raise LinkNotValid()
        user = await session.scalar(
            select(User).join(Tenant, Tenant.id == User.tenant_id)
            .where(User.id == row.user_id, User.tenant_id == row.tenant_id,
                   User.active.is_(True), Tenant.disabled.is_(False))
        )  # fmt: skip
        if user is None:
            raise LinkNotValid()
        user.password_hash = password_hash
        await session.execute(delete(UserSession).where(UserSession.user_id == user.id))
        record(session, tenant_id=row.tenant_id, actor=By(f"{user.role}:{user.username}", user.id),
               action="auth.password_set", target=Target("user", user.id),
               details={"link": row.purpose})  # fmt: skip
        return PasswordSet(row.tenant_id, user.id)
