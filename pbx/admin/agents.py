"""Agents (users) as configuration: the rules that keep an admin from locking themselves out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin.errors import Conflict, NotFound
from pbx.audit import Actor, Target, record
from pbx.db.models import User


class OwnAccess(Conflict):
    """An admin removing their own admin role, deactivating or deleting themselves."""


@dataclass(frozen=True)
class AgentSettings:
    """A user as an admin sets them; the password travels apart, already hashed."""

    username: str
    display_name: str
    role: str = "agent"
    endpoint: str | None = None
    skills: dict[str, int] = field(default_factory=dict)
    active: bool = True
    credit_limit_minor: int = 0
    email: str | None = None  # where they are told what needs them (an admin: webhooks)


@dataclass(frozen=True)
class AgentChange:
    """An updated user, and whether their sessions must end (role, activity or password)."""

    agent: User
    access_changed: bool


def check_own_access(actor: Actor, agent_id: int, *, role: str, active: bool) -> None:
    """An admin may change other users' role and activity, never drop their own."""
    if agent_id == actor.user_id and (role != "admin" or not active):
        raise OwnAccess("you cannot remove your own admin role or deactivate yourself")


async def all_agents(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.username)))


async def get_agent(session: AsyncSession, agent_id: int) -> User:
    row = await session.get(User, agent_id)
    if row is None:
        raise NotFound("agent")
    return row


async def create_agent(
    session: AsyncSession, *, tenant_id: int, actor: Actor, settings: AgentSettings,
    password_hash: str | None,
) -> User:  # fmt: skip
    row = User(**asdict(settings), password_hash=password_hash)
    session.add(row)
    await session.flush()
    record(session, tenant_id=tenant_id, actor=actor, action="agent.create",
           target=Target("user", row.id), details=asdict(settings))  # fmt: skip
    return row


async def update_agent(
    session: AsyncSession, *, tenant_id: int, actor: Actor, agent_id: int,
    settings: AgentSettings, password_hash: str | None,
) -> AgentChange:  # fmt: skip
    """Replace a user's settings (never the admin's own access); a new password replaces the
    old one, none keeps it."""
    row = await get_agent(session, agent_id)
    check_own_access(actor, row.id, role=settings.role, active=settings.active)
    changed = password_hash is not None or (row.role, row.active) != (
        settings.role, settings.active,
    )  # fmt: skip
    for name, value in asdict(settings).items():
        setattr(row, name, value)
    if password_hash is not None:
        row.password_hash = password_hash
    details = asdict(settings) | {"password_changed": password_hash is not None}
    record(session, tenant_id=tenant_id, actor=actor, action="agent.update",
           target=Target("user", row.id), details=details)  # fmt: skip
    return AgentChange(row, changed)


async def delete_agent(
    session: AsyncSession, *, tenant_id: int, actor: Actor, agent_id: int
) -> None:
    """Delete another user, audited in the session's transaction."""
    row = await get_agent(session, agent_id)
    if row.id == actor.user_id:
        raise OwnAccess("you cannot delete yourself")
    record(session, tenant_id=tenant_id, actor=actor, action="agent.delete",
           target=Target("user", row.id), details={"username": row.username})  # fmt: skip
    await session.delete(row)
