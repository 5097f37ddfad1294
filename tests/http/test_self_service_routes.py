"""A route's self-service menu through /api/v1/routes: checked, stored, audited, and live."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pbx.callflow.self_service_config import Identify, SelfServiceMenu
from pbx.db.models import AuditEntry
from tests.http.conftest import PASSWORD, Site
from tests.http.support import ApiClient

SUPPORT = {"name": "support", "strategy": "linear", "ring_timeout_seconds": 5}
DID = "+97235550100"


@pytest.fixture
async def admin(site: Site):
    await site.user("boss", "admin")
    api = site.client()
    await api.login("ofek", "boss", PASSWORD)
    yield api
    await api.close()


async def test_a_route_offers_self_service_and_the_call_flow_reads_it(
    site: Site, admin: ApiClient
) -> None:
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    menu = {"balance": True, "card": True, "mandate": False, "identify": "pin",
            "attempts": 2, "identify_attempts": 3}  # fmt: skip
    status, created = await admin.call(
        "POST", "/routes", {"did": DID, "queue_id": queue["id"], "self_service": menu}
    )
    assert status == 201 and created["self_service"] == menu

    await site.world.until(lambda: site.world.flow.config.routes.get(DID) is not None, "loaded")
    route = site.world.flow.config.routes[DID]
    assert route.self_service == SelfServiceMenu(True, True, False, Identify.PIN, 2, 3)

    status, updated = await admin.call(
        "PUT", f"/routes/{created['id']}", {"did": DID, "queue_id": queue["id"]}
    )
    assert status == 200 and updated["self_service"] is None
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        entries = list(await session.scalars(
            select(AuditEntry).where(AuditEntry.target_type == "route").order_by(AuditEntry.id)
        ))  # fmt: skip
    assert entries[0].details["self_service"] == menu  # the change is in the audit log


async def test_a_self_service_menu_that_offers_nothing_or_bad_values_is_a_422(
    admin: ApiClient,
) -> None:
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    route = {"did": DID, "queue_id": queue["id"]}
    for bad in (
        {"balance": False},
        {"identify": "voice"},
        {"attempts": 0},
        {"identify_attempts": 9},
        {"card": "yes"},
    ):
        status, error = await admin.call("POST", "/routes", route | {"self_service": bad})
        assert status == 422 and error["error"]["details"][0]["field"].startswith(
            "self_service"), bad
    status, listed = await admin.call("GET", "/routes")
    assert status == 200 and listed["items"] == []  # nothing half-made
