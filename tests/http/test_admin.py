"""Configuration through /api/v1: validated, audited, tenant-scoped, and live at once."""

from __future__ import annotations

import aiohttp
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from pbx.acd.agents import AgentState
from pbx.db.models import AuditEntry
from pbx.http.app import build_api
from tests.factories import make_tenant
from tests.http.conftest import PASSWORD, Site
from tests.http.support import ApiClient

SUPPORT = {"name": "support", "strategy": "linear", "ring_timeout_seconds": 5}


def test_the_openapi_document_is_well_formed() -> None:
    document = build_api().document()
    assert document["openapi"].startswith("3.1")
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len({op["operationId"] for op in operations}) == len(operations)
    assert all(op["responses"] for op in operations)


async def test_a_queue_is_created_read_updated_and_deleted(admin: ApiClient) -> None:
    status, created = await admin.call("POST", "/queues", SUPPORT)
    assert status == 201 and created["strategy"] == "linear"
    queue = f"/queues/{created['id']}"

    assert (await admin.call("GET", queue))[1]["name"] == "support"
    status, updated = await admin.call("PUT", queue, SUPPORT | {"strategy": "rrmemory"})
    assert status == 200 and updated["strategy"] == "rrmemory"
    assert [q["name"] for q in (await admin.call("GET", "/queues"))[1]["items"]] == ["support"]
    assert (await admin.call("DELETE", queue))[0] == 204
    assert (await admin.call("GET", queue))[0] == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Support Desk"}, "name"),
        ({"name": "q", "strategy": "roundrobin"}, "strategy"),
        ({"name": "q", "ring_timeout_seconds": 0}, "ring_timeout_seconds"),
        ({"name": "q", "max_wait_seconds": 60}, "(body)"),  # overflow target missing
        ({"name": "q", "surprise": 1}, "surprise"),
        ({"name": "q", "required_skills": {"hebrew": 500}}, "required_skills.hebrew"),
    ],
)
async def test_bad_queue_settings_get_a_422_naming_the_field(
    admin: ApiClient, body: dict, field: str
) -> None:
    status, error = await admin.call("POST", "/queues", body)
    assert status == 422
    assert field in [d["field"] for d in error["error"]["details"]]


async def test_malformed_json_and_a_non_object_body_are_clear_errors(
    site: Site, admin: ApiClient
) -> None:
    headers = {"Authorization": f"Bearer {admin.token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(site.url + "/api/v1/queues", data=b"{nope", headers=headers) as response,
    ):
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "bad_json"
    assert (await admin.call("POST", "/queues", ["support"]))[0] == 422


async def test_references_are_checked_and_conflicts_are_409(admin: ApiClient) -> None:
    overflow_to_nowhere = SUPPORT | {"max_wait_seconds": 60, "overflow_kind": "queue",
                                     "overflow_target": "ghost"}  # fmt: skip
    assert (await admin.call("POST", "/queues", overflow_to_nowhere))[0] == 422
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    assert (await admin.call("POST", "/queues", SUPPORT))[0] == 409  # same name

    status, route = await admin.call(
        "POST", "/routes", {"did": "+97235550100", "queue_id": queue["id"]}
    )
    assert status == 201 and route["did"] == "+97235550100"
    status, error = await admin.call("DELETE", f"/queues/{queue['id']}")
    assert status == 409 and "route" in error["error"]["message"]
    assert (await admin.call("POST", "/routes", {"did": "+97235550101", "queue_id": 999_999}))[
        0
    ] == 422
    assert (await admin.call("POST", "/routes", {"did": "12345", "queue_id": queue["id"]}))[
        0
    ] == 422


async def test_another_business_cannot_see_or_take_this_ones_numbers(
    site: Site, admin: ApiClient
) -> None:
    other = await make_tenant(site.world.database, "saule", "LT", "EUR", ["+37052000000"])
    await site.user("jonas", "admin", tenant_id=other)
    rival = site.client()
    try:
        await rival.login("saule", "jonas", PASSWORD)
        _, queue = await admin.call("POST", "/queues", SUPPORT)
        _, theirs = await rival.call("POST", "/queues", SUPPORT)  # same name, another business
        steal = await rival.call(
            "POST", "/routes", {"did": "+97235550100", "queue_id": theirs["id"]}
        )
        peek = await rival.call("GET", f"/queues/{queue['id']}")
    finally:
        await rival.close()
    assert steal[0] == 409 and peek[0] == 404


async def test_agents_memberships_hours_and_routes_round_trip(admin: ApiClient) -> None:
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    status, agent = await admin.call("POST", "/agents", {
        "username": "avi", "display_name": "Avi", "endpoint": "PJSIP/1001",
        "skills": {"hebrew": 5}, "password": "a long enough password",
    })  # fmt: skip
    assert status == 201 and agent["has_password"] and "password" not in agent
    assert (await admin.call("POST", "/agents", {"username": "x", "display_name": "X",
                                                 "endpoint": "ring me"}))[0] == 422  # fmt: skip

    member = {"agent_id": agent["id"], "penalty": 1, "position": 2}
    status, _ = await admin.call("PUT", f"/queues/{queue['id']}/members/{agent['id']}", member)
    assert status == 200
    _, members = await admin.call("GET", f"/queues/{queue['id']}/members")
    assert members["items"] == [member | {"queue_id": queue["id"]}]

    bad_hours = {"name": "office", "timezone": "Asia/Jerusalem",
                 "weekly": [{"days": ["someday"], "open": "08:00", "close": "17:00"}]}  # fmt: skip
    assert (await admin.call("POST", "/business-hours", bad_hours))[0] == 422
    hours = bad_hours | {
        "weekly": [{"days": ["sunday", 0, 1, 2, 3], "open": "08:00", "close": "17:00"}]
    }
    status, stored_hours = await admin.call("POST", "/business-hours", hours)
    assert status == 201

    route = {
        "did": "+97235550100", "queue_id": queue["id"], "business_hours_id": stored_hours["id"],
        "closed_kind": "voicemail", "closed_target": "2000", "verification": "pin",
    }  # fmt: skip
    status, created = await admin.call("POST", "/routes", route)
    defaults = {"collections_queue_id": None, "verification_attempts": 3, "menu": None,
                "recording_policy": "all", "recording_announcement": None,
                "self_service": None, "language": None}  # fmt: skip
    assert status == 201 and created == route | defaults | {"id": created["id"]}
    assert (await admin.call("DELETE", f"/queues/{queue['id']}/members/{agent['id']}"))[0] == 204


async def test_every_change_is_audited_with_who_and_what(site: Site, admin: ApiClient) -> None:
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    await admin.call("PUT", f"/queues/{queue['id']}", SUPPORT | {"wrapup_seconds": 30})
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        query = select(AuditEntry).where(AuditEntry.target_type == "queue")
        entries = list(await session.scalars(query.order_by(AuditEntry.id)))
    assert [e.action for e in entries] == ["queue.create", "queue.update"]
    assert entries[1].actor_label == "admin:boss"
    assert entries[1].details["before"]["wrapup_seconds"] == 0
    assert entries[1].details["after"]["wrapup_seconds"] == 30


async def test_a_change_through_the_api_reaches_a_waiting_caller_at_once(
    site: Site, admin: ApiClient
) -> None:
    world = site.world
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    await admin.call("POST", "/routes", {"did": "+97235550100", "queue_id": queue["id"]})
    _, agent = await admin.call("POST", "/agents", {"username": "avi", "display_name": "Avi",
                                                    "endpoint": "PJSIP/1001"})  # fmt: skip
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    world.agents["avi"] = str(agent["id"])
    await world.flow.agent_available(str(agent["id"]))
    call = await world.call()
    await world.until(lambda: world.phase_of(call) == "queued", "waiting: avi is in no queue")

    await admin.call(
        "PUT", f"/queues/{queue['id']}/members/{agent['id']}", {"agent_id": agent["id"]}
    )

    await world.until(lambda: world.connected_to(call) == str(agent["id"]), "served")
    assert world.state_of("avi") is AgentState.ON_CALL


async def test_a_route_menu_must_name_existing_queues(admin: ApiClient) -> None:
    _, queue = await admin.call("POST", "/queues", SUPPORT)
    route = {"did": "+97235550100", "queue_id": queue["id"],
             "menu": {"options": {"1": "support", "2": "ghost"}}}  # fmt: skip

    status, error = await admin.call("POST", "/routes", route)
    assert status == 422 and error["error"]["details"][0]["field"] == "menu.options.2"
    assert (await admin.call("POST", "/routes", route | {"menu": {"options": {"11": "x"}}}))[
        0
    ] == 422

    status, created = await admin.call(
        "POST", "/routes", route | {"menu": {"options": {"1": "support"}}}
    )
    assert status == 201 and created["menu"] == {
        "prompt": "ledgerline-menu",
        "options": {"1": "support"},
    }


async def test_an_admin_cannot_delete_demote_or_deactivate_themselves(admin: ApiClient) -> None:
    _, me = await admin.call("GET", "/auth/me")
    mine = f"/agents/{me['user_id']}"
    _, before = await admin.call("GET", mine)
    settings = {"username": "boss", "display_name": before["display_name"], "role": "admin"}

    deleted = await admin.call("DELETE", mine)
    demoted = await admin.call("PUT", mine, settings | {"role": "supervisor"})
    deactivated = await admin.call("PUT", mine, settings | {"active": False})

    assert [deleted[0], demoted[0], deactivated[0]] == [409, 409, 409]
    assert "yourself" in deleted[1]["error"]["message"]
    assert (await admin.call("GET", mine)) == (200, before)
