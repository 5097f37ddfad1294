"""A business's language (what its callers hear): set by `ledgerline tenant create/update
--language` and the platform API, checked against the languages the prompts ship in,
audited, and en when unset."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pbx.db.models import AuditEntry, Tenant
from tests.platform.conftest import Platform
from tests.platform.test_cli import _in_process
from tests.platform.test_platform_api import NEW


async def _language(platform: Platform, slug: str) -> str | None:
    async with platform.database.system_session() as session:
        return await session.scalar(select(Tenant.language).where(Tenant.slug == slug))


async def test_the_cli_sets_a_business_language_and_refuses_one_prompts_do_not_ship_in(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await platform.business("ofek", "+97237630100")

    assert await _in_process(platform, "tenant", "update", "ofek", "--language", "HE") == 0
    assert await _language(platform, "ofek") == "he"
    assert await _in_process(platform, "tenant", "update", "ofek", "--language", "fr") == 1

    assert "ledgerline: language: 'fr' is not one of he, lt, en" in capsys.readouterr().err
    assert await _language(platform, "ofek") == "he"  # nothing half-changed


async def test_the_platform_api_creates_reads_and_changes_a_business_language(
    platform: Platform,
) -> None:
    api = platform.client(platform.token)
    status, made = await api.call("POST", "/platform/tenants", {**NEW, "language": "lt"})
    assert status == 201 and made["tenant"]["language"] == "lt"

    status, changed = await api.call("PATCH", "/platform/tenants/acme", {"language": "he"})
    assert status == 200 and changed["language"] == "he"
    status, refused = await api.call("PATCH", "/platform/tenants/acme", {"language": "xx"})
    assert status == 422, refused
    assert await _language(platform, "acme") == "he"
    async with platform.database.system_session() as session:
        details = list(await session.scalars(
            select(AuditEntry.details).where(AuditEntry.action.in_(
                ("tenant.create", "tenant.update"))).order_by(AuditEntry.id)
        ))  # fmt: skip
    assert [d.get("language") for d in details] == ["lt", "he"]
    await api.close()


async def test_a_business_without_a_language_speaks_english(platform: Platform) -> None:
    api = platform.client(platform.token)
    status, made = await api.call("POST", "/platform/tenants", NEW)

    assert status == 201 and made["tenant"]["language"] == "en"
    assert await _language(platform, "acme") is None
    await api.close()
