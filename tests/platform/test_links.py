"""One-time links: an admin invites a user or resets a password, and the user sets one with
the link's token, POSTed with the password. A link works once, expires, is replaced by a
newer one, and never carries a password."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import AuditEntry, User, UserToken
from pbx.platform import links, tenants
from pbx.platform.errors import LinkNotValid
from tests.platform.conftest import OPERATOR, PASSWORD, Platform, token_of

NEW_PASSWORD = "another long password"


async def _agent(admin, username: str = "avi") -> int:  # type: ignore[no-untyped-def]
    status, agent = await admin.call("POST", "/agents", {"username": username,
                                                         "display_name": "Avi"})  # fmt: skip
    assert status == 201
    return agent["id"]


async def _set(platform: Platform, token: str, password: str = NEW_PASSWORD) -> int:
    client = platform.client()
    status, _ = await client.call("POST", "/auth/set-password",
                                  {"token": token, "password": password})  # fmt: skip
    await client.close()
    return status


async def _signs_in(platform: Platform, username: str, password: str) -> bool:
    client = platform.client()
    status, _ = await client.call("POST", "/auth/login", {"tenant": "ofek", "username": username,
                                                          "password": password})  # fmt: skip
    await client.close()
    return status == 200


async def test_an_invited_user_sets_a_password_through_the_link_and_signs_in(
    platform: Platform,
) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    agent = await _agent(admin)
    status, link = await admin.call("POST", f"/agents/{agent}/invitation")
    assert status == 201 and link["purpose"] == "invite"
    assert "password" not in link["url"].split("#")[0]  # the token rides in the fragment
    assert await _set(platform, token_of(link["url"])) == 204
    assert await _signs_in(platform, "avi", NEW_PASSWORD)
    await admin.close()


async def test_a_link_works_once(platform: Platform) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    agent = await _agent(admin)
    _, link = await admin.call("POST", f"/agents/{agent}/invitation")
    token = token_of(link["url"])
    assert await _set(platform, token) == 204
    assert await _set(platform, token, "a third long password") == 410
    assert await _signs_in(platform, "avi", NEW_PASSWORD)
    assert not await _signs_in(platform, "avi", "a third long password")
    await admin.close()


async def test_an_expired_link_is_refused(platform: Platform) -> None:
    done = await platform.business("ofek", "+97237630100")
    long_ago = datetime.now(UTC) - timedelta(days=8)
    async with platform.database.system_session() as session, session.begin():
        link = await links.issue(session, tenant_id=done.tenant.id, user_id=done.admin_id,
                                 purpose="invite", now=long_ago)  # fmt: skip
    assert await _set(platform, link.token) == 410
    assert not await _signs_in(platform, "dana", NEW_PASSWORD)


async def test_a_newer_link_replaces_the_one_before(platform: Platform) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    agent = await _agent(admin)
    _, first = await admin.call("POST", f"/agents/{agent}/invitation")
    _, second = await admin.call("POST", f"/agents/{agent}/invitation")
    assert await _set(platform, token_of(first["url"])) == 410
    assert await _set(platform, token_of(second["url"])) == 204
    await admin.close()


async def test_a_reset_stops_the_old_password_and_signs_the_user_out(platform: Platform) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    agent = await _agent(admin)
    _, invite = await admin.call("POST", f"/agents/{agent}/invitation")
    await _set(platform, token_of(invite["url"]))
    user = platform.client()
    await user.login("ofek", "avi", NEW_PASSWORD)
    status, reset = await admin.call("POST", f"/agents/{agent}/password-reset")
    assert status == 201 and reset["purpose"] == "reset"
    status, _ = await user.call("GET", "/auth/me")
    assert status == 401
    assert not await _signs_in(platform, "avi", NEW_PASSWORD)
    assert await _set(platform, token_of(reset["url"]), "the password after reset") == 204
    assert await _signs_in(platform, "avi", "the password after reset")
    await user.close()
    await admin.close()


async def test_an_invitation_for_a_user_with_a_password_is_refused(platform: Platform) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    status, me = await admin.call("GET", "/auth/me")
    status, answer = await admin.call("POST", f"/agents/{me['user_id']}/invitation")
    assert status == 409 and "reset" in answer["error"]["message"]
    await admin.close()


async def test_links_are_kept_hashed_and_used_once_with_an_audit_entry(platform: Platform) -> None:
    done = await platform.business("ofek", "+97237630100")
    assert await _set(platform, done.link.token) == 204
    async with platform.database.system_session() as session:
        rows = list(await session.scalars(select(UserToken)))
        audit = list(await session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "auth.password_set")))  # fmt: skip
        user = await session.get(User, done.admin_id)
    assert [row.token_sha256 != done.link.token and row.used_at is not None for row in rows] == [
        True
    ]
    assert audit == ["auth.password_set"]
    assert user is not None and user.password_hash and PASSWORD not in user.password_hash


async def test_a_short_password_or_an_unknown_token_is_refused(platform: Platform) -> None:
    done = await platform.business("ofek", "+97237630100")
    assert await _set(platform, done.link.token, "short") == 422
    assert await _set(platform, "no-such-token") == 410
    assert await _set(platform, done.link.token) == 204  # the refusals did not use it up


async def test_an_admin_cannot_issue_links_for_another_businesss_users(
    platform: Platform,
) -> None:
    other = await platform.business("saule", "+37052140100", admin="ona")
    admin = await platform.admin_of("ofek", "+97237630100")
    for kind in ("invitation", "password-reset"):
        status, _ = await admin.call("POST", f"/agents/{other.admin_id}/{kind}")
        assert status == 404, kind
    async with platform.database.system_session() as session:
        user = await session.get(User, other.admin_id)
        assert user is not None and user.password_hash is None
    assert await _set(platform, other.link.token) == 204  # ona's own link still works
    await admin.close()


async def test_a_set_password_link_never_carries_the_password_in_its_query(
    platform: Platform,
) -> None:
    done = await platform.business("ofek", "+97237630100")
    url = done.link.url("https://desk.example")
    assert url == f"https://desk.example/#set-password={done.link.token}"
    assert "?" not in url


async def test_of_two_redemptions_at_once_one_sets_the_password(
    postgres_database: Database,
) -> None:
    now = datetime.now(UTC)
    command = tenants.NewTenant("ofek", "Ofek", "IL", "ILS", "UTC", ("+97237630100",), "dana")
    done = await tenants.create_tenant(postgres_database, command, actor=OPERATOR, now=now)
    results = await asyncio.gather(
        links.redeem(postgres_database, done.link.token, "hash-one", now),
        links.redeem(postgres_database, done.link.token, "hash-two", now),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["LinkNotValid", "PasswordSet"]
    assert any(isinstance(result, LinkNotValid) for result in results)
