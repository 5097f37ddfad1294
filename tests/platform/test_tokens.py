"""Platform tokens: shown once and kept hashed, they reach the platform API and nothing else;
a user's session does not reach the platform API; a revoked token stops working at once."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pbx.auth.sessions import token_digest
from pbx.db.models import PlatformToken
from pbx.http.api import PREFIX
from pbx.http.app import build_api
from pbx.platform import tokens
from pbx.platform.errors import Invalid, TokenNameTaken, UnknownToken
from tests.factories import make_customer
from tests.platform.conftest import Platform

PLATFORM_PREFIX = PREFIX + "/platform/"


def _operations(platform_only: bool) -> list[tuple[str, str]]:
    """Every operation of the document (path ids filled in), platform ones or the others."""
    found = []
    for template, operations in build_api().document()["paths"].items():
        if template.startswith(PLATFORM_PREFIX) != platform_only:
            continue
        for method, operation in operations.items():
            if "security" in operation:  # public ones (sign-in, set-password) need nobody
                path = re.sub(r"\{\w+\}", "1", template.removeprefix(PREFIX))
                found.append((method.upper(), path))
    return found


async def test_a_token_is_kept_only_as_its_hash(platform: Platform) -> None:
    async with platform.database.system_session() as session:
        row = await session.scalar(select(PlatformToken).where(PlatformToken.name == "ops"))
    assert row is not None and platform.token not in row.token_sha256
    assert row.token_sha256 == token_digest(platform.token)


async def test_a_platform_token_reaches_nothing_under_a_business(platform: Platform) -> None:
    done = await platform.business("ofek", "+97237630100")
    await make_customer(platform.database, done.tenant.id, "C-1", "Sara", ["+972502345678"])
    api = platform.client(platform.token)
    status, answer = await api.call("GET", "/customers", q="Sara")
    assert status == 401 and answer["error"]["code"] == "unauthenticated"
    answered = set()
    for method, path in _operations(platform_only=False):
        if path in ("/auth/logout",):
            continue
        status, _ = await api.send(method, path, b"{}")
        answered.add(status)
    assert answered == {401}
    await api.close()


async def test_a_users_session_does_not_reach_the_platform_api(platform: Platform) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    answered = set()
    for method, path in _operations(platform_only=True):
        status, _ = await admin.send(method, path, b"{}")
        answered.add(status)
    assert answered == {401}
    status, _ = await admin.call("GET", "/auth/me")
    assert status == 200  # the session itself still works where it belongs
    await admin.close()


async def test_a_revoked_token_stops_working_at_once(platform: Platform) -> None:
    api = platform.client(platform.token)
    status, _ = await api.call("GET", "/platform/tenants")
    assert status == 200
    await tokens.revoke_token(platform.database, "ops", "cli:tester", datetime.now(UTC))
    status, _ = await api.call("GET", "/platform/tenants")
    assert status == 401
    await api.close()


async def test_a_token_is_listed_with_when_it_was_last_used(platform: Platform) -> None:
    [before] = await tokens.list_tokens(platform.database)
    assert before.last_used_at is None
    api = platform.client(platform.token)
    await api.call("GET", "/platform/tenants")
    await api.close()
    [after] = await tokens.list_tokens(platform.database)
    assert after.last_used_at is not None and after.revoked_at is None


async def test_a_token_that_is_not_one_of_ours_is_refused(platform: Platform) -> None:
    for secret in ("llp_not-a-token", "not even the prefix", platform.token + "x", ""):
        api = platform.client(secret or None)
        status, _ = await api.call("GET", "/platform/tenants")
        assert status == 401, secret
        await api.close()


async def test_token_names_are_unique_and_checked_and_only_active_ones_are_revoked(
    platform: Platform,
) -> None:
    now = datetime.now(UTC)
    with pytest.raises(TokenNameTaken):
        await tokens.create_token(platform.database, "ops", "cli:tester", now)
    for bad in ("Ops", "", "a b", "x" * 65):
        with pytest.raises(Invalid):
            await tokens.create_token(platform.database, bad, "cli:tester", now)
    revoked = await tokens.revoke_token(platform.database, "ops", "cli:noa", now)
    assert (revoked.revoked_at, revoked.revoked_by) == (now, "cli:noa")
    with pytest.raises(UnknownToken):
        await tokens.revoke_token(platform.database, "ops", "cli:tester", now)
    (listed,) = [view for view in await tokens.list_tokens(platform.database)
                 if view.name == "ops"]  # fmt: skip
    assert listed.revoked_by == "cli:noa" and listed.created_by == "cli:tester"


async def test_a_platform_change_with_a_session_cookie_and_no_origin_is_refused_as_cross_site(
    platform: Platform,
) -> None:
    api = platform.client(platform.token)
    api._http.cookie_jar.update_cookies({"ll_session": "a browser's session"})
    status, answer = await api.call("POST", "/platform/tenants/nobody/disable")
    assert status == 403 and answer["error"]["code"] == "bad_origin"
    await api.close()
