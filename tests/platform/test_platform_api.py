"""The platform API: businesses created, listed, read, changed, disabled and enabled with a
platform token, each change audited in the business it changed, naming the token."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from pbx.db.models import AuditEntry, InboundNumber, Tenant, User
from pbx.http.context import CONFIG_TOPIC
from tests.platform.conftest import PASSWORD, Platform, token_of

NEW = {"slug": "acme", "name": "Acme Energy", "region": "IL", "currency": "ILS",
       "timezone": "Asia/Jerusalem", "dids": ["+97237630100", "+97237630101"],
       "admin": {"username": "dana", "display_name": "Dana Levi"}}  # fmt: skip


async def _audit(platform: Platform, slug: str) -> list[tuple[str, str]]:
    async with platform.database.system_session() as session:
        tenant = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.tenant_id == tenant).order_by(AuditEntry.id)
        )
        return [(row.action, row.actor_label) for row in rows]


async def test_a_platform_token_creates_a_business_whose_admin_sets_a_password_and_signs_in(
    platform: Platform,
) -> None:
    api = platform.client(platform.token)
    status, made = await api.call("POST", "/platform/tenants", NEW)
    assert status == 201
    assert made["tenant"]["slug"] == "acme" and made["tenant"]["dids"] == NEW["dids"]
    assert made["set_password_url"].startswith(platform.url + "/#set-password=")
    user = platform.client()
    status, _ = await user.call("POST", "/auth/set-password",
                                {"token": token_of(made["set_password_url"]),
                                 "password": PASSWORD})  # fmt: skip
    assert status == 204
    signed = await user.login("acme", "dana", PASSWORD)
    assert signed["user"]["role"] == "admin"
    await user.close()
    await api.close()


async def test_a_business_is_listed_read_and_changed(platform: Platform) -> None:
    api = platform.client(platform.token)
    await api.call("POST", "/platform/tenants", NEW)
    status, listed = await api.call("GET", "/platform/tenants")
    assert status == 200 and [t["slug"] for t in listed["items"]] == ["acme"]
    change = {"name": "Acme 2", "timezone": "Europe/Vilnius", "add_dids": ["+37052140100"],
              "remove_dids": ["+97237630101"]}  # fmt: skip
    status, changed = await api.call("PATCH", "/platform/tenants/acme", change)
    assert status == 200
    assert (changed["name"], changed["timezone"]) == ("Acme 2", "Europe/Vilnius")
    assert changed["dids"] == ["+37052140100", "+97237630100"]
    status, read = await api.call("GET", "/platform/tenants/acme")
    assert read == changed
    status, _ = await api.call("GET", "/platform/tenants/nobody")
    assert status == 404
    await api.close()


async def test_every_platform_change_is_audited_in_its_business_naming_the_token(
    platform: Platform,
) -> None:
    api = platform.client(platform.token)
    await api.call("POST", "/platform/tenants", NEW)
    await api.call("PATCH", "/platform/tenants/acme", {"name": "Acme 2"})
    await api.call("POST", "/platform/tenants/acme/disable")
    await api.call("POST", "/platform/tenants/acme/enable")
    assert await _audit(platform, "acme") == [
        ("agent.create", "platform:ops"), ("tenant.create", "platform:ops"),
        ("tenant.update", "platform:ops"), ("tenant.disable", "platform:ops"),
        ("tenant.enable", "platform:ops"),
    ]  # fmt: skip
    await api.close()


async def test_a_change_or_a_disable_is_announced_so_every_process_reloads_its_routes(
    platform: Platform,
) -> None:
    heard: list[dict[str, Any]] = []

    async def hear(message: dict[str, Any]) -> None:
        heard.append(message)

    platform.bus.subscribe(CONFIG_TOPIC, hear)
    api = platform.client(platform.token)
    _, made = await api.call("POST", "/platform/tenants", NEW)
    await api.call("PATCH", "/platform/tenants/acme", {"remove_dids": ["+97237630101"]})
    await api.call("POST", "/platform/tenants/acme/disable")
    tenant = made["tenant"]["id"]
    assert heard == [{"tenant_id": tenant, "what": "tenant"}] * 2
    await api.close()


async def test_bad_input_is_a_422_naming_every_field_and_nothing_is_created(
    platform: Platform,
) -> None:
    api = platform.client(platform.token)
    bad = NEW | {"slug": "Acme!", "region": "XX", "currency": "SHEKEL", "timezone": "Mars/Base",
                 "dids": ["03-763-0100"], "admin": {"username": "no spaces please"}}  # fmt: skip
    status, answer = await api.call("POST", "/platform/tenants", bad)
    assert status == 422
    fields = [problem["field"] for problem in answer["error"]["details"]]
    assert fields == ["slug", "region", "currency", "timezone", "did", "admin"]
    assert await _count(platform, Tenant) == 0 and await _count(platform, User) == 0
    await api.close()


async def test_a_number_another_business_holds_is_a_409_and_nothing_is_created(
    platform: Platform,
) -> None:
    api = platform.client(platform.token)
    await platform.business("ofek", "+97237630100")
    taken = NEW | {"dids": ["+97237630199", "+97237630100"]}
    status, answer = await api.call("POST", "/platform/tenants", taken)
    assert status == 409 and "+97237630100" in answer["error"]["message"]
    assert "ofek" not in answer["error"]["message"]
    assert await _count(platform, Tenant) == 1 and await _count(platform, InboundNumber) == 1
    status, _ = await api.call("POST", "/platform/tenants", NEW | {"slug": "ofek",
                                                                   "dids": ["+97237630199"]})
    assert status == 409
    status, _ = await api.call("PATCH", "/platform/tenants/ofek",
                               {"remove_dids": ["+97237630199"]})  # fmt: skip
    assert status == 422
    await api.close()


async def _count(platform: Platform, model: Any) -> int:
    async with platform.database.system_session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0
