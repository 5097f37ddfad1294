from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pbx.admin.errors import BadReference
from pbx.admin.routes import DidTaken, Route, create_route, did_owner, get_route
from pbx.audit import By
from pbx.db.database import Database
from pbx.db.models import AuditEntry, InboundNumber, InboundRoute, Queue
from tests.factories import make_tenant

ADMIN = By("admin:boss", None)
NEW_DID = "+97235550199"


async def _tenant_with_queue(database: Database) -> tuple[int, int]:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    async with database.tenant_session(tenant) as session, session.begin():
        queue = Queue(name="support", strategy="linear", ring_timeout_seconds=5)
        session.add(queue)
        await session.flush()
        return tenant, queue.id


async def _counts(database: Database, tenant: int) -> tuple[int, int, int]:
    async with database.tenant_session(tenant) as session:
        return tuple([int(await session.scalar(select(func.count()).select_from(model)) or 0)
                      for model in (InboundNumber, InboundRoute, AuditEntry)])  # type: ignore[return-value]  # fmt: skip


async def nobody(did: str) -> int | None:
    return None


async def test_a_did_used_for_the_first_time_becomes_the_tenants_and_the_route_is_audited(
    database: Database,
) -> None:
    tenant, queue = await _tenant_with_queue(database)

    async with database.tenant_session(tenant) as session, session.begin():
        view = await create_route(session, tenant_id=tenant, actor=ADMIN,
                                  route=Route(NEW_DID, queue), owner=nobody)  # fmt: skip

    async with database.tenant_session(tenant) as session:
        stored = await get_route(session, view.route.id)
    assert stored.did == NEW_DID
    assert await _counts(database, tenant) == (2, 1, 1)


async def test_another_businesss_did_is_not_available_and_nothing_is_created(
    database: Database,
) -> None:
    tenant, queue = await _tenant_with_queue(database)
    await make_tenant(database, "acme", "IL", "ILS", [NEW_DID])

    with pytest.raises(DidTaken) as refused:
        async with database.tenant_session(tenant) as session, session.begin():
            await create_route(session, tenant_id=tenant, actor=ADMIN,
                               route=Route(NEW_DID, queue),
                               owner=did_owner(database))  # fmt: skip

    assert str(refused.value) == f"{NEW_DID} is not available"  # not whose it is
    assert await _counts(database, tenant) == (1, 0, 0)


async def test_a_route_to_a_queue_the_tenant_lacks_names_the_field_and_creates_nothing(
    database: Database,
) -> None:
    tenant, queue = await _tenant_with_queue(database)
    route = Route(NEW_DID, queue, menu={"prompt": "ledgerline-menu", "options": {"1": "ghost"}})

    with pytest.raises(BadReference) as refused:
        async with database.tenant_session(tenant) as session, session.begin():
            await create_route(session, tenant_id=tenant, actor=ADMIN, route=route,
                               owner=nobody)  # fmt: skip

    assert refused.value.field == "menu.options.1"
    assert await _counts(database, tenant) == (1, 0, 0)
