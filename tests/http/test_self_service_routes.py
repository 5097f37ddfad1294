"""A route's self-service menu through /api/v1/routes: checked, stored, audited, and live
(the promise to pay among its options, off unless turned on)."""

from __future__ import annotations

from sqlalchemy import select

from pbx.callflow.self_service import OPTION_AGENT
from pbx.callflow.self_service_config import Identify, SelfServiceMenu
from pbx.db.models import AuditEntry
from tests.factories import make_customer
from tests.http.conftest import Site
from tests.http.support import ApiClient

SUPPORT = {"name": "support", "strategy": "linear", "ring_timeout_seconds": 5}
DID = "+97235550100"


async def test_a_route_offers_self_service_and_the_call_flow_reads_it(
    site: Site, admin: ApiClient
) -> None:
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    menu = {"balance": True, "card": True, "mandate": False, "identify": "pin",
            "attempts": 2, "identify_attempts": 3, "promise": True}  # fmt: skip
    status, created = await admin.call(
        "POST", "/routes", {"did": DID, "queue_id": queue["id"], "self_service": menu}
    )
    assert status == 201 and created["self_service"] == menu

    await site.world.until(lambda: site.world.flow.config.routes.get(DID) is not None, "loaded")
    route = site.world.flow.config.routes[DID]
    assert route.self_service == SelfServiceMenu(True, True, False, Identify.PIN, 2, 3,
                                                 promise=True)  # fmt: skip

    status, updated = await admin.call(
        "PUT", f"/routes/{created['id']}", {"did": DID, "queue_id": queue["id"]}
    )
    assert status == 200 and updated["self_service"] is None
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        entries = list(await session.scalars(
            select(AuditEntry).where(AuditEntry.target_type == "route").order_by(AuditEntry.id)
        ))  # fmt: skip
    assert entries[0].details["self_service"] == menu  # the change is in the audit log


async def test_a_bad_self_service_menu_is_a_422_and_a_good_one_offers_no_promise_unasked(
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
        {"promise": 1},
        {"balance": False, "promise": False},
    ):
        status, error = await admin.call("POST", "/routes", route | {"self_service": bad})
        assert status == 422 and error["error"]["details"][0]["field"].startswith(
            "self_service"), bad
    status, listed = await admin.call("GET", "/routes")
    assert status == 200 and listed["items"] == []  # nothing half-made
    status, created = await admin.call("POST", "/routes", route | {
        "self_service": {"balance": True}})  # fmt: skip
    assert status == 201 and created["self_service"]["promise"] is False  # off by default


async def test_queue_stats_count_the_calls_self_service_resolved_today(
    site: Site, admin: ApiClient
) -> None:
    world = site.world
    await make_customer(world.database, world.tenant_id, "C-1", "Dana", ["+972502345678"],
                        [{"currency": "ILS", "balance_minor": 1_000, "status": "active"}])
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    await admin.call("POST", "/routes", {"did": DID, "queue_id": queue["id"],
                                         "self_service": {"balance": True}})  # fmt: skip
    await world.until(lambda: world.flow.config.routes.get(DID) is not None, "loaded")

    satisfied = await world.call()  # hears the balance and hangs up
    await world.until(lambda: OPTION_AGENT in satisfied.heard, "the menu")
    await satisfied.press("1")
    await world.until(lambda: satisfied.heard.count(OPTION_AGENT) == 2, "the menu again")
    await satisfied.hangup()
    wants_agent = await world.call()  # asks for an agent at once
    await world.until(lambda: OPTION_AGENT in wants_agent.heard, "the menu")
    await wants_agent.press("0")
    await world.until(lambda: world.phase_of(wants_agent) == "queued", "queued")
    await world.record_when(satisfied, lambda r: r.ended_at is not None, "ended")

    status, stats = await admin.call("GET", "/queue-stats")
    assert status == 200 and stats["self_service"] == {"used": 2, "resolved": 1}
    assert stats["items"][0]["waiting"] == 1
