from __future__ import annotations

import pytest

from pbx.admin.errors import BadReference
from pbx.admin.references import check_overflow, check_route
from pbx.db.database import Database
from pbx.db.models import Queue
from tests.factories import make_tenant

ROUTE = {"business_hours_id": None, "menu_options": {}, "closed_kind": None,
         "closed_target": None}  # fmt: skip


async def _tenant_with_queue(database: Database) -> tuple[int, int]:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    async with database.tenant_session(tenant) as session, session.begin():
        queue = Queue(name="support", strategy="linear", ring_timeout_seconds=5)
        session.add(queue)
        await session.flush()
        return tenant, queue.id


async def test_references_to_the_tenants_own_queues_pass(database: Database) -> None:
    tenant, queue = await _tenant_with_queue(database)

    async with database.tenant_session(tenant) as session:
        await check_overflow(session, "queue", "support")
        await check_route(session, **ROUTE | {
            "queue_ids": {"queue_id": queue}, "menu_options": {"1": "support"},
            "closed_kind": "queue", "closed_target": "support",
        })  # fmt: skip


async def test_a_reference_to_a_missing_queue_names_the_field(database: Database) -> None:
    tenant, queue = await _tenant_with_queue(database)

    async with database.tenant_session(tenant) as session:
        with pytest.raises(BadReference) as overflow:
            await check_overflow(session, "queue", "ghost")
        with pytest.raises(BadReference) as collections:
            await check_route(session, **ROUTE | {
                "queue_ids": {"queue_id": queue, "collections_queue_id": queue + 1000}
            })  # fmt: skip
        with pytest.raises(BadReference) as menu:
            await check_route(session, **ROUTE | {
                "queue_ids": {"queue_id": queue}, "menu_options": {"2": "ghost"}
            })  # fmt: skip

    assert overflow.value.field == "overflow_target"
    assert collections.value.field == "collections_queue_id"
    assert menu.value.field == "menu.options.2"
