"""A business's API keys: the secret shown once and kept only as its hash, scopes, last use
recorded at most once a minute, revocation, and one business's keys out of another's reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from pbx.admin import api_keys
from pbx.admin.errors import NotFound
from pbx.audit import By
from pbx.auth.sessions import token_digest
from pbx.db.database import Database
from pbx.db.models import ApiKey, AuditEntry, Tenant
from tests.factories import make_tenant

NOW = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
BOSS = By("admin:boss")
READ = api_keys.NewKey("billing sync", frozenset({"billing:read"}))


async def _create(database: Database, tenant: int, key: api_keys.NewKey = READ
                  ) -> tuple[api_keys.KeyView, str]:  # fmt: skip
    async with database.tenant_session(tenant) as session, session.begin():
        return await api_keys.create_key(session, tenant_id=tenant, actor=BOSS, key=key,
                                         now=NOW)  # fmt: skip


async def _revoke(database: Database, tenant: int, key_id: int) -> api_keys.KeyView:
    async with database.tenant_session(tenant) as session, session.begin():
        return await api_keys.revoke_key(session, tenant_id=tenant, actor=BOSS, key_id=key_id,
                                         now=NOW)  # fmt: skip


async def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])

    view, secret = await _create(database, tenant)

    assert secret.startswith("llk_") and len(secret) >= 40
    assert view.prefix == secret[:12] and view.scopes == ("billing:read",)
    async with database.system_session() as session:
        rows = (await session.execute(text("SELECT * FROM api_keys"))).all()
    assert len(rows) == 1
    assert all(secret not in str(value) for value in rows[0])
    assert token_digest(secret) in rows[0]
    async with database.tenant_session(tenant) as session:
        listed = await api_keys.list_keys(session)
        audit = await session.scalar(select(AuditEntry.action))
    assert [key.name for key in listed] == ["billing sync"]
    assert "secret" not in vars(listed[0])
    assert audit == "api_key.create"


async def test_a_key_names_its_business_and_scopes(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    _, secret = await _create(database, tenant, api_keys.NewKey(
        "events", frozenset({"events:read", "billing:write"})))  # fmt: skip

    caller = await api_keys.caller_for(database, secret, NOW)

    assert caller is not None
    assert (caller.tenant_id, caller.scopes) == (tenant, {"events:read", "billing:write"})
    assert caller.label == "api-key:events" and caller.user_id is None


async def test_an_unknown_or_malformed_key_names_nobody(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    _, secret = await _create(database, tenant)

    for wrong in (secret + "x", secret[:-1], "llk_", "llp_" + secret[4:], "llk_\udc80",
                  "llk_" + "a" * 500):  # fmt: skip
        assert await api_keys.caller_for(database, wrong, NOW) is None


async def test_last_use_is_recorded_at_most_once_a_minute(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    view, secret = await _create(database, tenant)

    for at in (NOW, NOW + timedelta(seconds=59), NOW + timedelta(seconds=60)):
        await api_keys.caller_for(database, secret, at)
        async with database.tenant_session(tenant) as session:
            row = await session.get(ApiKey, view.id)
            assert row is not None
            used = row.last_used_at
        assert used == (NOW if at < NOW + timedelta(seconds=60) else at)


async def test_a_revoked_key_is_refused_and_kept_in_the_list(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    view, secret = await _create(database, tenant)

    revoked = await _revoke(database, tenant, view.id)
    again = await _revoke(database, tenant, view.id)

    assert revoked.revoked_at == NOW and again.revoked_at == NOW
    assert await api_keys.caller_for(database, secret, NOW) is None
    async with database.tenant_session(tenant) as session:
        assert [key.revoked_at for key in await api_keys.list_keys(session)] == [NOW]
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["api_key.create", "api_key.revoke"]


async def test_a_disabled_business_s_keys_are_refused(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    _, secret = await _create(database, tenant)
    async with database.system_session() as session, session.begin():
        business = await session.get(Tenant, tenant)
        assert business is not None
        business.disabled = True

    assert await api_keys.caller_for(database, secret, NOW) is None


async def test_another_business_cannot_revoke_a_key(database: Database) -> None:
    ofek = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    other = await make_tenant(database, "other", "IL", "ILS", ["+97235550199"])
    view, secret = await _create(database, ofek)

    with pytest.raises(NotFound):
        await _revoke(database, other, view.id)

    assert await api_keys.caller_for(database, secret, NOW) is not None
    async with database.tenant_session(other) as session:
        assert await api_keys.list_keys(session) == []


async def test_a_name_is_taken_once_per_business(database: Database) -> None:
    ofek = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    other = await make_tenant(database, "other", "IL", "ILS", ["+97235550199"])
    await _create(database, ofek)

    with pytest.raises(api_keys.KeyNameTaken):
        await _create(database, ofek)
    await _create(database, other)
