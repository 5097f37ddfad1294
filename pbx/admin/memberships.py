"""Queue memberships (an agent in a queue, with a penalty and a position) as configuration."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin.errors import NotFound
from pbx.audit import Actor, Target, record
from pbx.db.models import Queue, QueueMember, User


@dataclass(frozen=True)
class PutMember:
    """Add an agent to a queue, or change their penalty (lower rings first) and position."""

    queue_id: int
    agent_id: int
    penalty: int = 0
    position: int = 0


async def members(session: AsyncSession, queue_id: int) -> list[QueueMember]:
    """A queue's members in the order they are rung by position."""
    if await session.get(Queue, queue_id) is None:
        raise NotFound("queue")
    rows = await session.scalars(
        select(QueueMember).where(QueueMember.queue_id == queue_id)
        .order_by(QueueMember.position, QueueMember.user_id)
    )  # fmt: skip
    return list(rows)


async def put_member(
    session: AsyncSession, *, tenant_id: int, actor: Actor, command: PutMember
) -> QueueMember:
    """The membership, created or changed, audited in the session's transaction."""
    if await session.get(Queue, command.queue_id) is None:
        raise NotFound("queue")
    if await session.get(User, command.agent_id) is None:
        raise NotFound("agent")
    row = await _membership(session, command.queue_id, command.agent_id)
    if row is None:
        row = QueueMember(queue_id=command.queue_id, user_id=command.agent_id)
        session.add(row)
    row.penalty, row.position = command.penalty, command.position
    await session.flush()
    details = {key: value for key, value in asdict(command).items() if key != "queue_id"}
    record(session, tenant_id=tenant_id, actor=actor, action="queue.member.put",
           target=Target("queue", command.queue_id), details=details)  # fmt: skip
    return row


async def remove_member(
    session: AsyncSession, *, tenant_id: int, actor: Actor, queue_id: int, agent_id: int
) -> None:
    """Take an agent out of a queue, audited in the session's transaction."""
    row = await _membership(session, queue_id, agent_id)
    if row is None:
        raise NotFound("membership")
    record(session, tenant_id=tenant_id, actor=actor, action="queue.member.delete",
           target=Target("queue", row.queue_id), details={"agent_id": row.user_id})  # fmt: skip
    await session.delete(row)


async def _membership(session: AsyncSession, queue_id: int, agent_id: int) -> QueueMember | None:
    return await session.scalar(select(QueueMember).where(
        QueueMember.queue_id == queue_id, QueueMember.user_id == agent_id))  # fmt: skip
