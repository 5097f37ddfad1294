from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pbx.admin.errors import BadReference, NotFound
from pbx.admin.queues import (
    QueueInUse,
    QueueSettings,
    create_queue,
    delete_queue,
    update_queue,
)
from pbx.audit import By
from pbx.db.database import Database
from pbx.db.models import AuditEntry, InboundNumber, InboundRoute, Queue
from tests.factories import make_tenant

ADMIN = By("admin:boss", None)


async def _tenant_with_queue(database: Database, routed: bool) -> tuple[int, int]:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    async with database.tenant_session(tenant) as session, session.begin():
        queue = Queue(name="support", strategy="linear", ring_timeout_seconds=5)
        session.add(queue)
        await session.flush()
        if routed:
            number = await session.scalar(select(InboundNumber.id))
            session.add(InboundRoute(inbound_number_id=number, queue_id=queue.id))
        return tenant, queue.id


async def _counts(database: Database, tenant: int) -> tuple[int, int]:
    async with database.tenant_session(tenant) as session:
        queues = await session.scalar(select(func.count()).select_from(Queue))
        audits = await session.scalar(select(func.count()).select_from(AuditEntry))
        return int(queues or 0), int(audits or 0)


async def test_a_queue_no_route_uses_is_deleted_and_audited(database: Database) -> None:
    tenant, queue = await _tenant_with_queue(database, routed=False)

    async with database.tenant_session(tenant) as session, session.begin():
        await delete_queue(session, tenant_id=tenant, actor=ADMIN, queue_id=queue)

    assert await _counts(database, tenant) == (0, 1)


async def test_a_queue_a_route_uses_is_not_deleted_and_nothing_is_audited(
    database: Database,
) -> None:
    tenant, queue = await _tenant_with_queue(database, routed=True)

    with pytest.raises(QueueInUse, match="support"):
        async with database.tenant_session(tenant) as session, session.begin():
            await delete_queue(session, tenant_id=tenant, actor=ADMIN, queue_id=queue)

    assert await _counts(database, tenant) == (1, 0)


async def test_deleting_a_queue_that_does_not_exist_is_not_found(database: Database) -> None:
    tenant, queue = await _tenant_with_queue(database, routed=False)

    with pytest.raises(NotFound):
        async with database.tenant_session(tenant) as session, session.begin():
            await delete_queue(session, tenant_id=tenant, actor=ADMIN, queue_id=queue + 1000)


async def test_a_queues_update_is_audited_with_its_settings_before_and_after(
    database: Database,
) -> None:
    tenant, queue = await _tenant_with_queue(database, routed=False)

    async with database.tenant_session(tenant) as session, session.begin():
        await update_queue(session, tenant_id=tenant, actor=ADMIN, queue_id=queue,
                           settings=QueueSettings("support", ring_timeout_seconds=9))  # fmt: skip

    async with database.tenant_session(tenant) as session:
        entry = await session.scalar(select(AuditEntry))
    assert entry is not None and entry.action == "queue.update"
    assert entry.details["before"]["ring_timeout_seconds"] == 5
    assert entry.details["before"]["id"] == queue
    assert entry.details["after"]["ring_timeout_seconds"] == 9


async def test_a_queue_overflowing_to_a_queue_the_tenant_lacks_is_not_created(
    database: Database,
) -> None:
    tenant, _ = await _tenant_with_queue(database, routed=False)
    settings = QueueSettings("sales", overflow_kind="queue", overflow_target="ghost")

    with pytest.raises(BadReference):
        async with database.tenant_session(tenant) as session, session.begin():
            await create_queue(session, tenant_id=tenant, actor=ADMIN, settings=settings)

    assert await _counts(database, tenant) == (1, 0)
