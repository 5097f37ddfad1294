from __future__ import annotations

import pytest
from sqlalchemy import select

from pbx.admin.errors import NotFound
from pbx.admin.memberships import PutMember, members, put_member, remove_member
from pbx.audit import By
from pbx.db.database import Database
from pbx.db.models import AuditEntry, Queue, User
from tests.factories import make_tenant

ADMIN = By("admin:boss", None)


async def _tenant_with_queue_and_agent(database: Database) -> tuple[int, int, int]:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    async with database.tenant_session(tenant) as session, session.begin():
        queue = Queue(name="support", strategy="linear", ring_timeout_seconds=5)
        dana = User(username="dana", display_name="Dana", role="agent")
        session.add_all([queue, dana])
        await session.flush()
        return tenant, queue.id, dana.id


async def _actions(database: Database, tenant: int) -> list[str]:
    async with database.tenant_session(tenant) as session:
        return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def test_putting_an_agent_in_a_queue_twice_keeps_one_membership_with_the_latest_penalty(
    database: Database,
) -> None:
    tenant, queue, dana = await _tenant_with_queue_and_agent(database)

    for penalty in (1, 4):
        async with database.tenant_session(tenant) as session, session.begin():
            await put_member(session, tenant_id=tenant, actor=ADMIN,
                             command=PutMember(queue, dana, penalty=penalty))  # fmt: skip

    async with database.tenant_session(tenant) as session:
        rows = await members(session, queue)
    assert [(row.user_id, row.penalty) for row in rows] == [(dana, 4)]
    assert await _actions(database, tenant) == ["queue.member.put", "queue.member.put"]


async def test_a_membership_names_a_queue_and_an_agent_the_tenant_has(database: Database) -> None:
    tenant, queue, dana = await _tenant_with_queue_and_agent(database)

    async with database.tenant_session(tenant) as session:
        with pytest.raises(NotFound) as no_queue:
            await put_member(session, tenant_id=tenant, actor=ADMIN,
                             command=PutMember(queue + 1000, dana))  # fmt: skip
        with pytest.raises(NotFound) as no_agent:
            await put_member(session, tenant_id=tenant, actor=ADMIN,
                             command=PutMember(queue, dana + 1000))  # fmt: skip

    assert (no_queue.value.what, no_agent.value.what) == ("queue", "agent")


async def test_removing_a_membership_that_is_not_there_is_not_found_and_audits_nothing(
    database: Database,
) -> None:
    tenant, queue, dana = await _tenant_with_queue_and_agent(database)

    with pytest.raises(NotFound, match="membership"):
        async with database.tenant_session(tenant) as session, session.begin():
            await remove_member(session, tenant_id=tenant, actor=ADMIN, queue_id=queue,
                                agent_id=dana)  # fmt: skip

    assert await _actions(database, tenant) == []
