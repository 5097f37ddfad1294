"""Sign-in, sessions, roles and the login rate limit over HTTP."""

from __future__ import annotations

from sqlalchemy import select

from pbx.db.models import AuditEntry, User, UserSession
from tests.http.conftest import PASSWORD, Site


async def test_sign_in_gives_a_token_that_identifies_the_user(site: Site) -> None:
    user_id = await site.user("dana", "agent")
    api = site.client()
    try:
        body = await api.login("ofek", "dana", PASSWORD)
        status, me = await api.call("GET", "/auth/me")
    finally:
        await api.close()
    assert status == 200 and me == {"user_id": user_id, "tenant_id": site.world.tenant_id,
                                    "username": "dana", "role": "agent"}  # fmt: skip
    async with site.world.database.system_session() as session:
        stored = list(await session.scalars(select(UserSession.token_sha256)))
    assert stored and body["token"] not in stored  # only its digest is kept


async def test_wrong_password_unknown_user_and_unknown_tenant_look_the_same(site: Site) -> None:
    await site.user("dana", "agent")
    api = site.client()
    try:
        answers = [
            await api.call("POST", "/auth/login", {"tenant": t, "username": u, "password": p})
            for t, u, p in (("ofek", "dana", "wrong password!"), ("ofek", "nobody", PASSWORD),
                            ("nowhere", "dana", PASSWORD))
        ]  # fmt: skip
    finally:
        await api.close()
    assert {status for status, _ in answers} == {401}
    assert len({body["error"]["message"] for _, body in answers}) == 1


async def test_sign_in_is_rate_limited_per_user(site: Site) -> None:
    await site.user("dana", "agent")
    api = site.client()
    wrong = {"tenant": "ofek", "username": "dana", "password": "not the password"}
    try:
        statuses = [(await api.call("POST", "/auth/login", wrong))[0] for _ in range(6)]
        right = await api.call("POST", "/auth/login", wrong | {"password": PASSWORD})
    finally:
        await api.close()
    assert statuses == [401] * 5 + [429]
    assert right[0] == 429  # even the right password waits out the window


async def test_sign_out_ends_the_session(site: Site) -> None:
    await site.user("dana", "agent")
    api = site.client()
    try:
        await api.login("ofek", "dana", PASSWORD)
        assert (await api.call("POST", "/auth/logout"))[0] == 204
        status, body = await api.call("GET", "/auth/me")
    finally:
        await api.close()
    assert status == 401 and body["error"]["code"] == "unauthenticated"


async def test_no_token_and_a_forged_token_are_refused(site: Site) -> None:
    api = site.client()
    try:
        assert (await api.call("GET", "/queues"))[0] == 401
        assert (await api.call("GET", "/queues", token="forged"))[0] == 401
    finally:
        await api.close()


async def test_an_agent_cannot_reach_admin_operations(site: Site) -> None:
    await site.user("dana", "agent")
    api = site.client()
    try:
        await api.login("ofek", "dana", PASSWORD)
        status, body = await api.call("POST", "/queues", {"name": "x"})
        read = await api.call("GET", "/queues")
    finally:
        await api.close()
    assert status == 403 and "admin" in body["error"]["message"]
    assert read[0] == 403  # configuration is for supervisors and admins


async def test_a_deactivated_users_sessions_stop_at_once(site: Site) -> None:
    await site.user("boss", "admin")
    dana = await site.user("dana", "agent")
    admin, agent = site.client(), site.client()
    try:
        await admin.login("ofek", "boss", PASSWORD)
        await agent.login("ofek", "dana", PASSWORD)
        status, _ = await admin.call("PUT", f"/agents/{dana}", {
            "username": "dana", "display_name": "Dana", "active": False})  # fmt: skip
        after = await agent.call("GET", "/auth/me")
    finally:
        await admin.close()
        await agent.close()
    assert status == 200 and after[0] == 401


async def test_sign_ins_are_audited(site: Site) -> None:
    await site.user("dana", "agent")
    api = site.client()
    try:
        await api.login("ofek", "dana", PASSWORD)
    finally:
        await api.close()
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
        users = list(await session.scalars(select(User.password_hash)))
    assert "auth.login" in actions
    assert all(h.startswith("$argon2id$") for h in users)
