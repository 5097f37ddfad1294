"""What an action on a live call needs from the database: its audit entry, and the queue a
call is transferred to. The live call itself is in Asterisk and the call flow's memory
(reached through the desk), so its audit entry is the only row such an action writes."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import select

from pbx.audit import Target, record
from pbx.auth.roles import Principal, Role
from pbx.callflow.config import queue_key
from pbx.calls.errors import BadReference, Forbidden
from pbx.db.database import Database
from pbx.db.models import Queue


def check_acts_for(who: Principal, agent_id: int) -> None:
    """An agent acts for themselves only (their state, their calls); a supervisor for anyone
    of the business."""
    if who.user_id != agent_id and not who.at_least(Role.SUPERVISOR):
        raise Forbidden("agents may only act for themselves")


async def record_action(
    database: Database, who: Principal, action: str, target: Target,
    details: Mapping[str, Any] | None = None,
) -> None:  # fmt: skip
    """The audit entry of an action done (`call.hold`, `agent.state`, ...), in a
    transaction of its own: the action changed no row here to commit it with."""
    async with database.tenant_session(who.tenant_id) as session, session.begin():
        record(session, tenant_id=who.tenant_id, actor=who, action=action, target=target,
               details=details)  # fmt: skip


async def queue_keys(database: Database, tenant_id: int, ids: Collection[int]) -> dict[int, str]:
    """The ACD key of each of `ids` that is a queue of this business (the session is scoped
    to it: another business's queue is not found, exactly as a missing one)."""
    if not ids:
        return {}
    async with database.tenant_autocommit(tenant_id) as session:
        rows = await session.execute(select(Queue.id, Queue.name).where(Queue.id.in_(ids)))
        return {queue_id: queue_key(tenant_id, name) for queue_id, name in rows}


async def transfer_queue(database: Database, tenant_id: int, queue_id: int) -> str:
    """The ACD key of the queue a call is transferred to, which must be the business's."""
    keys = await queue_keys(database, tenant_id, (queue_id,))
    if queue_id not in keys:
        raise BadReference("queue_id", "no such queue")
    return keys[queue_id]
