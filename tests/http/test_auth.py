"""Sign-in, sessions, roles and the login rate limit over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from argon2 import PasswordHasher
from multidict import CIMultiDictProxy
from sqlalchemy import select, update

from pbx.auth.passwords import PasswordWorkers
from pbx.auth.sessions import SessionStore, token_digest
from pbx.db.models import AuditEntry, User, UserSession
from pbx.http.api import PREFIX
from pbx.http.proxies import parse_networks
from tests.http.conftest import PASSWORD, Site


async def raw_login(
    site: Site, username: str, password: str, headers: dict[str, str] | None = None
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    """Sign in as a browser or a proxy would, with the headers given; status, body, headers."""
    async with aiohttp.ClientSession() as http, http.post(
        f"{site.url}{PREFIX}/auth/login", headers=headers or {},
        json={"tenant": "ofek", "username": username, "password": password},
    ) as response:  # fmt: skip
        return response.status, await response.json(), response.headers


async def raw_call(
    site: Site, method: str, path: str, headers: dict[str, str]
) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(
        method, f"{site.url}{PREFIX}{path}", headers=headers
    ) as response:
        body = await response.json() if response.status != 204 else None
        return response.status, body


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


async def test_wrong_passwords_for_a_user_from_one_address_make_that_address_wait(
    site: Site,
) -> None:
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


async def test_correct_sign_ins_from_one_address_never_lock_anyone_out(site: Site) -> None:
    """Behind one TLS proxy every agent signs in from the same address."""
    for name in ("dana", "avi"):
        await site.user(name, "agent")
    statuses = []
    for name in ("dana", "avi") * 4:  # eight sign-ins; five attempts per address used to be all
        status, _, _ = await raw_login(site, name, PASSWORD)
        statuses.append(status)
    assert statuses == [200] * 8


async def test_wrong_passwords_from_one_address_leave_the_user_free_to_sign_in_elsewhere(
    site: Site,
) -> None:
    await site.user("dana", "agent")
    site.context.trusted_proxies = parse_networks(["127.0.0.1"])  # the tests' TLS proxy
    attacker, office = {"X-Forwarded-For": "192.0.2.66"}, {"X-Forwarded-For": "198.51.100.7"}
    answers = [await raw_login(site, "dana", "not the password", attacker) for _ in range(6)]
    assert [status for status, _, _ in answers] == [401] * 5 + [429]
    assert 1 <= int(answers[-1][2]["Retry-After"]) <= 60
    status, _, _ = await raw_login(site, "dana", PASSWORD, office)
    assert status == 200
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "auth.login"))
    assert entry is not None and entry.details["address"] == "198.51.100.7"


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


# --- cookies: CSRF and Secure --------------------------------------------------------------


def session_cookie(headers: CIMultiDictProxy[str]) -> str:
    (cookie,) = [c for c in headers.getall("Set-Cookie") if c.startswith("ll_session=")]
    return cookie


async def test_a_cookie_change_from_another_site_is_refused_whatever_authorization_comes_along(
    site: Site,
) -> None:
    await site.user("dana", "agent")
    _, _, headers = await raw_login(site, "dana", PASSWORD)
    cookie = {"Cookie": session_cookie(headers).split(";")[0], "Origin": "https://evil.example"}
    for authorization in ("Basic ZGFuYTpwYXNzd29yZA==", "Bearer forged", "Bearer", "token"):
        status, answer = await raw_call(
            site, "POST", "/auth/logout", cookie | {"Authorization": authorization}
        )
        assert (status, answer["error"]["code"]) == (403, "bad_origin"), authorization
    assert (await raw_call(site, "GET", "/auth/me", cookie))[0] == 200  # still signed in
    # A valid bearer token is the credential: no Origin asked, and the cookie is ignored.
    await site.user("boss", "admin")
    _, boss, _ = await raw_login(site, "boss", PASSWORD)
    bearer = cookie | {"Authorization": f"Bearer {boss['token']}"}
    assert (await raw_call(site, "GET", "/auth/me", bearer))[1]["username"] == "boss"
    assert (await raw_call(site, "POST", "/auth/logout", bearer))[0] == 204
    assert (await raw_call(site, "GET", "/auth/me", cookie))[1]["username"] == "dana"


async def test_the_session_cookie_is_secure_when_a_trusted_proxy_says_https(site: Site) -> None:
    await site.user("dana", "agent")
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    _, _, untrusted = await raw_login(site, "dana", PASSWORD, https)
    site.context.trusted_proxies = parse_networks(["127.0.0.0/8"])
    _, _, trusted = await raw_login(site, "dana", PASSWORD, https)
    _, _, plain = await raw_login(site, "dana", PASSWORD, {"X-Forwarded-Proto": "http"})
    assert "secure" not in session_cookie(untrusted).lower()  # anyone can send the header
    assert "secure" in session_cookie(trusted).lower()
    assert "secure" not in session_cookie(plain).lower()


async def test_the_session_cookie_can_be_made_secure_by_setting(site: Site) -> None:
    await site.user("dana", "agent")
    site.context.force_secure_cookie = True
    _, _, headers = await raw_login(site, "dana", PASSWORD)
    assert "secure" in session_cookie(headers).lower()


# --- passwords off the event loop ------------------------------------------------------------


async def test_sign_ins_and_new_passwords_are_hashed_outside_the_serving_process(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    await site.user("boss", "admin")

    def not_here(*args: object, **kwargs: object) -> str:
        raise AssertionError("argon2 ran in the process that serves requests")

    monkeypatch.setattr(PasswordHasher, "verify", not_here)  # this process only: the
    monkeypatch.setattr(PasswordHasher, "hash", not_here)  # workers are spawned apart
    api = site.client()
    try:
        assert (await raw_login(site, "boss", "not the password"))[0] == 401
        await api.login("ofek", "boss", PASSWORD)
        status, agent = await api.call("POST", "/agents", {
            "username": "dana", "display_name": "Dana", "password": "a new password!"})  # fmt: skip
        assert status == 201
        changed = {"username": "dana", "display_name": "Dana", "password": "another password"}
        assert (await api.call("PUT", f"/agents/{agent['id']}", changed))[0] == 200
    finally:
        await api.close()
    assert (await raw_login(site, "dana", "another password"))[0] == 200


async def test_sign_ins_beyond_the_password_workers_queue_are_answered_503_with_retry_after(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    await site.user("dana", "agent")
    workers = PasswordWorkers(workers=1, queue=1)
    monkeypatch.setattr(site.context.sessions, "passwords", workers)
    try:
        with workers.admitted(), workers.admitted():  # two sign-ins in progress
            status, body, headers = await raw_login(site, "dana", PASSWORD)
            assert (status, body["error"]["code"]) == (503, "sign_in_busy")
            assert headers["Retry-After"] == "1"
        assert (await raw_login(site, "dana", PASSWORD))[0] == 200
    finally:
        workers.close()


async def test_desk_sessions_checked_together_end_and_refresh_as_each_would_alone(
    site: Site,
) -> None:
    for name in ("avi", "bella", "carmel"):
        await site.user(name, "agent")
    tokens = {}
    for name in ("avi", "bella", "carmel"):
        api = site.client()
        try:
            tokens[name] = (await api.login("ofek", name, PASSWORD))["token"]
        finally:
            await api.close()
    database, store = site.world.database, site.context.sessions
    async with database.system_session() as session, session.begin():
        await session.execute(update(User).where(User.username == "carmel").values(active=False))

    def later_by(seconds: int) -> SessionStore:
        moment = datetime.now(UTC) + timedelta(seconds=seconds)
        return SessionStore(database, passwords=store.passwords, lifetime_s=3600,
                            idle_s=600, clock=lambda: moment)  # fmt: skip

    all_tokens = [*tokens.values(), "not-a-session"]
    a_while_later = await later_by(120).still_signed_in(all_tokens)
    async with database.system_session() as session:
        seen = {row.token_sha256: row.last_seen_at for row in await session.scalars(
            select(UserSession))}  # fmt: skip
    idle_too_long = await later_by(120 + 601).still_signed_in(all_tokens)
    async with database.system_session() as session:
        left = set(await session.scalars(select(UserSession.token_sha256)))

    assert a_while_later == {tokens["avi"], tokens["bella"]}  # carmel deactivated
    refreshed = datetime.now(UTC) + timedelta(seconds=60)
    assert all(seen[token_digest(tokens[n])] > refreshed for n in ("avi", "bella"))
    assert idle_too_long == set()
    assert not left & {token_digest(t) for t in tokens.values()}  # ended: deleted
