"""Webhook subscriptions over HTTP: an admin's business's own, the secret shown once, every
change audited; agents, supervisors, API keys and other businesses refused; hostile bodies
answered with a 4xx naming the field."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pbx.db.models import AuditEntry, Tenant, User, WebhookSubscription
from tests.http.conftest import password_hash
from tests.http.support import ApiClient
from tests.http.test_hostile_input import HOSTILE_PATH_IDS
from tests.platform.conftest import PASSWORD, Platform
from tests.webhooks_out.conftest import Receiver

OFEK, OTHER = "+97237630100", "+97237630199"
PATH = "/webhooks/subscriptions"


async def _tenant_id(platform: Platform, slug: str) -> int:
    async with platform.database.system_session() as session:
        found = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        assert found is not None
        return found


async def _create(admin: ApiClient, url: str, types: list[str] | None = None,
                  **extra: Any) -> dict[str, Any]:  # fmt: skip
    body = {"url": url, "event_types": types or ["*"], **extra}
    status, created = await admin.call("POST", PATH, body)
    assert status == 201, created
    return created


async def _user(platform: Platform, slug: str, username: str, role: str) -> ApiClient:
    tenant = await _tenant_id(platform, slug)
    async with platform.database.tenant_session(tenant) as session, session.begin():
        session.add(User(username=username, display_name=username.title(), role=role,
                         password_hash=password_hash(PASSWORD)))  # fmt: skip
    client = platform.client()
    await client.login(slug, username, PASSWORD)
    return client


async def test_an_admin_s_subscription_shows_its_secret_once_and_is_listed_without_it(
    platform: Platform, receiver: Receiver
) -> None:
    admin = await platform.admin_of("ofek", OFEK)

    created = await _create(admin, receiver.url, ["payment.succeeded", "credit.granted"],
                            description="Billing system")  # fmt: skip
    status, listed = await admin.call("GET", PATH)
    _, read = await admin.call("GET", f"{PATH}/{created['id']}")

    assert created["secret"].startswith("whsec_") and len(created["secret"]) >= 6 + 43
    assert status == 200 and [s["id"] for s in listed["items"]] == [created["id"]]
    assert created["secret"] not in str(listed) and "secret" not in read
    assert read["event_types"] == ["credit.granted", "payment.succeeded"]
    assert read["enabled"] and read["description"] == "Billing system"
    await admin.close()


async def test_an_admin_changes_rotates_and_deletes_a_subscription_each_audited(
    platform: Platform, receiver: Receiver
) -> None:
    admin = await platform.admin_of("ofek", OFEK)
    created = await _create(admin, receiver.url)
    one = f"{PATH}/{created['id']}"

    change = {"event_types": ["call.ended"], "enabled": False, "description": "Off"}
    s1, changed = await admin.call("PATCH", one, change)
    s2, enabled = await admin.call("PATCH", one, {"enabled": True})
    s3, rotated = await admin.call("POST", f"{one}/rotate-secret")
    s4, _ = await admin.call("DELETE", one)
    s5, _ = await admin.call("GET", one)

    assert (s1, s2, s3, s4, s5) == (200, 200, 200, 204, 404)
    assert changed["event_types"] == ["call.ended"] and not changed["enabled"]
    assert changed["disabled_reason"] == "disabled by an admin"
    assert enabled["enabled"] and enabled["disabled_reason"] is None
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    tenant = await _tenant_id(platform, "ofek")
    async with platform.database.tenant_session(tenant) as session:
        entries = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    actions = [e.action for e in entries if e.action.startswith("webhook_subscription.")]
    assert actions == ["webhook_subscription." + a for a in
                       ("create", "update", "update", "rotate_secret", "delete")]  # fmt: skip
    assert all(created["secret"] not in str(e.details) for e in entries)
    assert all(rotated["secret"] not in str(e.details) for e in entries)
    await admin.close()


async def test_another_business_s_subscription_is_not_found(
    platform: Platform, receiver: Receiver
) -> None:
    ofek = await platform.admin_of("ofek", OFEK)
    other = await platform.admin_of("other", OTHER)
    created = await _create(ofek, receiver.url)
    one = f"{PATH}/{created['id']}"

    answers = [
        (await other.call("GET", one))[0],
        (await other.call("PATCH", one, {"enabled": False}))[0],
        (await other.call("POST", f"{one}/rotate-secret"))[0],
        (await other.call("DELETE", one))[0],
        (await other.call("GET", f"{one}/deliveries"))[0],
        (await other.call("POST", f"{one}/redeliver", {"since": "2026-01-01T00:00:00Z"}))[0],
    ]
    _, theirs = await other.call("GET", PATH)

    assert answers == [404] * 6 and theirs["items"] == []
    _, mine = await ofek.call("GET", one)
    assert mine["enabled"]  # untouched
    await ofek.close()
    await other.close()


async def test_only_admins_manage_subscriptions_and_api_keys_are_refused(
    platform: Platform, receiver: Receiver
) -> None:
    admin = await platform.admin_of("ofek", OFEK)
    created = await _create(admin, receiver.url)
    agent = await _user(platform, "ofek", "amir", "agent")
    supervisor = await _user(platform, "ofek", "sara", "supervisor")
    status, key = await admin.call("POST", "/api-keys", {"name": "billing", "scopes":
                                   ["billing:read", "billing:write", "events:read"]})  # fmt: skip
    assert status == 201
    machine = platform.client(key["secret"])
    body = {"url": receiver.url, "event_types": ["*"]}

    for client, expected in ((agent, 403), (supervisor, 403), (machine, 401)):
        assert (await client.call("POST", PATH, body))[0] == expected
        assert (await client.call("GET", PATH))[0] == expected
        assert (await client.call("GET", f"{PATH}/{created['id']}/deliveries"))[0] == expected
        assert (await client.call("DELETE", f"{PATH}/{created['id']}"))[0] == expected
    async with platform.database.system_session() as session:
        count = len(list(await session.scalars(select(WebhookSubscription))))
    assert count == 1
    for client in (admin, agent, supervisor, machine):
        await client.close()


BAD_URLS = [
    "ftp://example.com/hook", "http://example.com/hook", "https://user:pw@example.com/",
    "https:///nohost", "https://example.com:99999/", "https://exa mple.com/",
    "javascript:alert(1)", "https://2130706433/", "https://example.com/" + "a" * 2000, "",
]  # fmt: skip


async def test_hostile_bodies_are_a_422_naming_the_field_and_change_nothing(
    platform: Platform, receiver: Receiver
) -> None:
    admin = await platform.admin_of("ofek", OFEK)
    created = await _create(admin, receiver.url)
    one = f"{PATH}/{created['id']}"
    bodies: list[tuple[dict[str, Any], str]] = [
        *(({"url": url, "event_types": ["*"]}, "url") for url in BAD_URLS),
        ({"url": receiver.url, "event_types": []}, "event_types"),
        ({"url": receiver.url, "event_types": ["payment.stolen"]}, "event_types"),
        ({"url": receiver.url, "event_types": ["*", "call.ended"]}, "event_types"),
        ({"url": receiver.url, "event_types": ["call.ended"] * 10_000}, "event_types"),
        ({"url": receiver.url, "event_types": "*"}, "event_types"),
        ({"url": receiver.url, "event_types": ["*"], "description": "x" * 201}, "description"),
        ({"url": receiver.url, "event_types": ["*"], "secret": "whsec_mine"}, "secret"),
        ({"url": 7, "event_types": ["*"]}, "url"),
    ]

    for body, field in bodies:
        status, answer = await admin.call("POST", PATH, body)
        assert status == 422, (body, answer)
        assert any(d["field"].startswith(field) for d in answer["error"]["details"]), answer
        status, answer = await admin.call("PATCH", one, body)
        assert status == 422, (body, answer)
    assert (await admin.call("PATCH", one, {"enabled": "false"}))[0] == 422
    _, listed = await admin.call("GET", PATH)
    assert len(listed["items"]) == 1 and listed["items"][0]["url"] == receiver.url
    await admin.close()


async def test_a_card_number_in_a_description_is_stored_masked(
    platform: Platform, receiver: Receiver
) -> None:
    admin = await platform.admin_of("ofek", OFEK)

    created = await _create(admin, receiver.url, description="card 4111 1111 1111 1111")

    assert "4111 1111 1111 1111" not in created["description"]
    assert created["description"].endswith("1111")
    await admin.close()


async def test_a_path_id_that_names_nothing_is_not_found(
    platform: Platform, receiver: Receiver
) -> None:
    admin = await platform.admin_of("ofek", OFEK)
    created = await _create(admin, receiver.url)

    for value in HOSTILE_PATH_IDS:
        assert (await admin.send("GET", f"{PATH}/{value}"))[0] == 404, value
        path = f"{PATH}/{created['id']}/deliveries/{value}"
        assert (await admin.send("GET", path))[0] == 404, value
    await admin.close()


async def test_a_business_has_at_most_sixteen_subscriptions(
    platform: Platform, receiver: Receiver
) -> None:
    admin = await platform.admin_of("ofek", OFEK)
    for _ in range(16):
        await _create(admin, receiver.url)

    status, _ = await admin.call("POST", PATH, {"url": receiver.url, "event_types": ["*"]})

    assert status == 409
    await admin.close()
