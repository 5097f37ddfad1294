from __future__ import annotations

import pytest

from pbx.admin.errors import NotFound
from pbx.admin.hours import Hours, create_hours, delete_hours, get_hours, update_hours
from pbx.audit import By
from pbx.db.database import Database
from tests.factories import make_tenant

ADMIN = By("admin:boss", None)
WEEKDAYS = Hours("office", "Asia/Jerusalem", [{"days": [0, 1, 2, 3, 6], "open": "08:00",
                                               "close": "18:00"}])  # fmt: skip


async def test_business_hours_are_replaced_whole(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", [])
    async with database.tenant_session(tenant) as session, session.begin():
        hours_id = (await create_hours(session, tenant_id=tenant, actor=ADMIN,
                                       hours=WEEKDAYS)).id  # fmt: skip

    holiday = Hours("office", "Asia/Jerusalem", [], ["2026-04-02"])
    async with database.tenant_session(tenant) as session, session.begin():
        await update_hours(session, tenant_id=tenant, actor=ADMIN, hours_id=hours_id,
                           hours=holiday)  # fmt: skip

    async with database.tenant_session(tenant) as session:
        row = await get_hours(session, hours_id)
        assert (row.weekly, row.closed_dates) == ([], ["2026-04-02"])


async def test_business_hours_that_are_not_there_are_not_found(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", [])

    async with database.tenant_session(tenant) as session:
        with pytest.raises(NotFound, match="business hours"):
            await get_hours(session, 1)
        with pytest.raises(NotFound, match="business hours"):
            await delete_hours(session, tenant_id=tenant, actor=ADMIN, hours_id=1)
