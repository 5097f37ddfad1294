"""Agents (users) as configuration: the rules that keep an admin from locking themselves out."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin.errors import Conflict, NotFound
from pbx.audit import Actor, Target, record
from pbx.db.models import User


class OwnAccess(Conflict):
    """An admin removing their own admin role, deactivating or deleting themselves."""


def check_own_access(actor: Actor, agent_id: int, *, role: str, active: bool) -> None:
    """An admin may change other users' role and activity, never drop their own."""
    if agent_id == actor.user_id and (role != "admin" or not active):
        raise OwnAccess("you cannot remove your own admin role or deactivate yourself")


async def delete_agent(
    session: AsyncSession, *, tenant_id: int, actor: Actor, agent_id: int
) -> None:
    """Delete another user, audited in the session's transaction."""
    row = await session.get(User, agent_id)
    if row is None:
        raise NotFound("agent")
    if row.id == actor.user_id:
        raise OwnAccess("you cannot delete yourself")
    record(session, tenant_id=tenant_id, actor=actor, action="agent.delete",
           target=Target("user", row.id), details={"username": row.username})  # fmt: skip
    await session.delete(row)
