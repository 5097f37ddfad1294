"""A route's language through /api/v1/routes: checked (he, lt, en), stored, audited, and
read by the call flow, which sets the caller channel's language from it."""

from __future__ import annotations

from sqlalchemy import select

from pbx.db.models import AuditEntry
from tests.http.conftest import Site
from tests.http.support import ApiClient

SUPPORT = {"name": "support", "strategy": "linear", "ring_timeout_seconds": 5}
DID = "+97235550100"


async def test_a_route_language_is_stored_audited_and_read_by_the_call_flow(
    site: Site, admin: ApiClient
) -> None:
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    status, created = await admin.call(
        "POST", "/routes", {"did": DID, "queue_id": queue["id"], "language": "lt"}
    )
    assert status == 201 and created["language"] == "lt"

    await site.world.until(lambda: site.world.flow.config.routes.get(DID) is not None, "loaded")
    assert site.world.flow.config.routes[DID].language == "lt"
    status, updated = await admin.call(
        "PUT", f"/routes/{created['id']}", {"did": DID, "queue_id": queue["id"]}
    )
    assert status == 200 and updated["language"] is None  # back to the business's
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        entries = list(await session.scalars(
            select(AuditEntry).where(AuditEntry.target_type == "route").order_by(AuditEntry.id)
        ))  # fmt: skip
    assert [entry.details["language"] for entry in entries] == ["lt", None]


async def test_a_route_language_prompts_do_not_ship_in_is_a_422(admin: ApiClient) -> None:
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    for bad in ("fr", "HE", "", 7):
        status, body = await admin.call(
            "POST", "/routes", {"did": DID, "queue_id": queue["id"], "language": bad}
        )
        assert status == 422, (bad, body)
