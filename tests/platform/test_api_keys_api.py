"""API keys over HTTP: an admin creates (the secret shown once), lists and revokes a key; a
machine client reads its own business's customers with a `billing:read` key and nothing else;
sessions and platform tokens are refused where a key is needed, and keys everywhere else."""

from __future__ import annotations

from sqlalchemy import select

from pbx.db.models import Tenant, User
from pbx.http.api import PREFIX
from tests.factories import make_customer
from tests.http.conftest import password_hash
from tests.http.support import ApiClient
from tests.http.test_hostile_input import HOSTILE_PATH_IDS
from tests.platform.conftest import PASSWORD, Platform

OFEK, OTHER = "+97237630100", "+97237630199"


async def _tenant_id(platform: Platform, slug: str) -> int:
    async with platform.database.system_session() as session:
        found = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        assert found is not None
        return found


async def _business(platform: Platform, slug: str, did: str) -> ApiClient:
    """The business's signed-in admin; the business has a customer whose reference is
    `slug`-1."""
    admin = await platform.admin_of(slug, did)
    await make_customer(platform.database, await _tenant_id(platform, slug), f"{slug}-1",
                        f"{slug.title()} Customer", [did])  # fmt: skip
    return admin


async def _key(admin: ApiClient, *scopes: str, name: str = "billing") -> dict:
    status, body = await admin.call("POST", "/api-keys", {"name": name, "scopes": list(scopes)})
    assert status == 201, body
    return body


async def test_an_admin_s_new_key_is_shown_once_and_listed_without_it(
    platform: Platform,
) -> None:
    admin = await _business(platform, "ofek", OFEK)

    created = await _key(admin, "billing:read", "events:read")
    status, listed = await admin.call("GET", "/api-keys")

    assert created["secret"].startswith("llk_") and created["prefix"] == created["secret"][:12]
    assert status == 200 and [key["name"] for key in listed["items"]] == ["billing"]
    assert created["secret"] not in str(listed)
    assert listed["items"][0]["scopes"] == ["billing:read", "events:read"]
    await admin.close()


async def test_a_key_reads_its_own_business_s_customer_and_records_its_use(
    platform: Platform,
) -> None:
    admin = await _business(platform, "ofek", OFEK)
    await _business(platform, "other", OTHER)
    machine = platform.client((await _key(admin, "billing:read"))["secret"])

    status, customer = await machine.call("GET", "/billing/customers/ofek-1")
    theirs, _ = await machine.call("GET", "/billing/customers/other-1")
    _, listed = await admin.call("GET", "/api-keys")

    assert status == 200 and customer["name"] == "Ofek Customer" and customer["phones"] == [OFEK]
    assert theirs == 404
    assert listed["items"][0]["last_used_at"] is not None
    await admin.close()
    await machine.close()


async def test_a_key_without_the_scope_is_forbidden(platform: Platform) -> None:
    admin = await _business(platform, "ofek", OFEK)
    machine = platform.client((await _key(admin, "billing:write", "events:read"))["secret"])

    status, body = await machine.call("GET", "/billing/customers/ofek-1")

    assert status == 403 and "billing:read" in body["error"]["message"]
    await admin.close()
    await machine.close()


async def test_a_revoked_or_unknown_key_is_refused(platform: Platform) -> None:
    admin = await _business(platform, "ofek", OFEK)
    created = await _key(admin, "billing:read")
    machine = platform.client(created["secret"])

    status, revoked = await admin.call("POST", f"/api-keys/{created['id']}/revoke")

    assert status == 200 and revoked["revoked_at"] is not None
    assert (await machine.call("GET", "/billing/customers/ofek-1"))[0] == 401
    for wrong in ("llk_" + "A" * 43, created["secret"] + "x", "llk_"):
        assert (await machine.call("GET", "/billing/customers/ofek-1", token=wrong))[0] == 401
    await admin.close()
    await machine.close()


async def test_sessions_and_platform_tokens_cannot_use_a_key_s_route(
    platform: Platform,
) -> None:
    admin = await _business(platform, "ofek", OFEK)
    operator = platform.client(platform.token)

    assert (await admin.call("GET", "/billing/customers/ofek-1"))[0] == 401
    assert (await operator.call("GET", "/billing/customers/ofek-1"))[0] == 401
    await admin.close()
    await operator.close()


async def test_a_key_is_refused_everywhere_a_key_is_not_named(
    platform: Platform,
) -> None:
    admin = await _business(platform, "ofek", OFEK)
    machine = platform.client((await _key(admin, "billing:read", "billing:write"))["secret"])

    for method, path in (("GET", "/api-keys"), ("GET", "/auth/me"), ("GET", "/queues"),
                         ("GET", "/platform/tenants"), ("POST", "/api-keys/1/revoke")):  # fmt: skip
        assert (await machine.call(method, path))[0] == 401, path
    await admin.close()
    await machine.close()


async def test_only_the_key_s_own_admins_manage_it(platform: Platform) -> None:
    ofek = await _business(platform, "ofek", OFEK)
    other = await _business(platform, "other", OTHER)
    created = await _key(ofek, "billing:read")
    machine = platform.client(created["secret"])

    status, _ = await other.call("POST", f"/api-keys/{created['id']}/revoke")
    _, theirs = await other.call("GET", "/api-keys")

    assert status == 404 and theirs["items"] == []
    assert (await machine.call("GET", "/billing/customers/ofek-1"))[0] == 200
    await ofek.close()
    await other.close()
    await machine.close()


async def test_an_agent_cannot_create_a_key_and_a_name_is_taken_once(
    platform: Platform,
) -> None:
    admin = await _business(platform, "ofek", OFEK)
    await _key(admin, "billing:read")

    taken = {"name": "billing", "scopes": ["events:read"]}
    status, _ = await admin.call("POST", "/api-keys", taken)
    unknown, _ = await admin.call("POST", "/api-keys", {"name": "x", "scopes": ["admin"]})
    none, _ = await admin.call("POST", "/api-keys", {"name": "x", "scopes": []})

    assert (status, unknown, none) == (409, 422, 422)
    tenant = await _tenant_id(platform, "ofek")
    async with platform.database.tenant_session(tenant) as session, session.begin():
        session.add(User(username="amir", display_name="Amir", role="agent",
                         password_hash=password_hash(PASSWORD)))  # fmt: skip
    agent = platform.client()
    await agent.login("ofek", "amir", PASSWORD)
    body = {"name": "x", "scopes": ["events:read"]}
    assert (await agent.call("POST", "/api-keys", body))[0] == 403
    assert (await agent.call("GET", "/api-keys"))[0] == 403
    await admin.close()
    await agent.close()


async def test_hostile_references_on_a_key_s_route_get_a_documented_4xx(
    platform: Platform,
) -> None:
    admin = await _business(platform, "ofek", OFEK)
    machine = platform.client((await _key(admin, "billing:read"))["secret"])
    _, document = await machine.call("GET", "/openapi.json")
    templates = [path.removeprefix(PREFIX) for path, operations in document["paths"].items()
                 if path.startswith(PREFIX + "/billing/") and "get" in operations]  # fmt: skip

    for template in templates:
        for value in [*HOSTILE_PATH_IDS, "x" * 5000, "ofek-1%00", "%E2%80%AEofek-1"]:
            status, _ = await machine.send("GET", template.replace("{ref}", value))
            assert status == 404, (template, value)
    await admin.close()
    await machine.close()
