"""Reminders through /api/v1: the schedule set by an admin (checked whole, audited, hostile
bodies refused with 422 and nothing written), a supervisor's collections hold, the account's
reminders, and the customers' doors: the signed opt-out link and the SMS gateway's STOP.
Every answer is checked against the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from billing_bridge.reminders import planner
from pbx.auth.ratelimit import MemorySignInLimits
from pbx.auth.sessions import SessionStore
from pbx.bus import MemoryBus
from pbx.db.database import Database
from pbx.db.models import AuditEntry, Customer, OutboxMessage, ReminderSettings, User
from pbx.http.api import PREFIX
from pbx.http.app import build_api
from pbx.http.context import ApiContext
from tests.http.conftest import PASSWORD, PASSWORDS, SIGN_IN_POLICY, _serve, password_hash
from tests.http.support import ApiClient
from tests.reminders.support import DUE, Shop, at, open_shop

INBOUND_TOKEN = "inbound-token-0123456789"
SCHEDULE = {
    "steps": [{"day": 1, "channel": "email"}, {"day": 5, "channel": "sms"},
              {"day": 10, "channel": "worklist"}],
    "templates": {"en": {"sms": {"body": "{business}: pay {amount} at {pay_link}. "
                                         "STOP or {opt_out_link}"}}},
    "quiet_from": "20:00", "quiet_until": "09:00", "holidays": ["2027-04-01"],
}  # fmt: skip


@dataclass
class Office:
    shop: Shop
    url: str
    clients: dict[str, ApiClient]

    async def as_(self, name: str) -> ApiClient:
        """A client signed in as `name` (on first use: a sign-in costs a password hash)."""
        if name not in self.clients:
            self.clients[name] = ApiClient(self.url, build_api().document())
            if name != "anyone":
                await self.clients[name].login("vilnius", name, PASSWORD)
        return self.clients[name]


@pytest.fixture
async def office(database: Database) -> AsyncIterator[Office]:
    shop = await open_shop(database)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        session.add_all(User(username=n, display_name=n, role=r,
                             password_hash=password_hash())
                        for n, r in (("ada", "admin"), ("sam", "supervisor"), ("avi", "agent")))
    context = ApiContext(
        database, SessionStore(database, passwords=PASSWORDS, lifetime_s=3600, idle_s=600),
        MemorySignInLimits(SIGN_IN_POLICY), MemoryBus(), reminder_links=shop.links,
        sms_inbound_token=INBOUND_TOKEN,
    )  # fmt: skip
    runner, port = await _serve(context, 0)
    office = Office(shop, f"http://127.0.0.1:{port}", {})
    try:
        yield office
    finally:
        for client in office.clients.values():
            await client.close()
        await runner.cleanup()


async def _audited(office: Office, action: str) -> int:
    async with office.shop.database.tenant_session(office.shop.tenant_id) as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEntry)
                                         .where(AuditEntry.action == action)) or 0)  # fmt: skip


async def test_an_admin_sets_the_schedule_and_it_is_audited(office: Office) -> None:
    status, body = await (await office.as_("ada")).call("PUT", "/admin/reminders", SCHEDULE)
    assert status == 200, body
    assert body["enabled"] and [s["day"] for s in body["steps"]] == [1, 5, 10]
    assert body["quiet_from"] == "20:00" and body["holidays"] == ["2027-04-01"]
    assert (await (await office.as_("sam")).call("GET", "/admin/reminders"))[1] == body
    assert await _audited(office, "reminders.schedule") == 2  # the shop's, then this one


async def test_only_an_admin_changes_the_schedule(office: Office) -> None:
    assert (await (await office.as_("sam")).call("PUT", "/admin/reminders", SCHEDULE))[0] == 403
    assert (await (await office.as_("avi")).call("GET", "/admin/reminders"))[0] == 403
    assert (await (await office.as_("anyone")).call("GET", "/admin/reminders"))[0] == 401


HOSTILE = [
    {"steps": []},
    {"steps": [{"day": 1, "channel": "email"}, {"day": 1, "channel": "sms"}]},
    {"steps": [{"day": "1", "channel": "email"}]},
    {"steps": [{"day": 0, "channel": "email"}]},
    {"steps": [{"day": 1, "channel": "fax"}]},
    {"steps": [{"day": 1, "channel": "email", "extra": 1}]},
    {"quiet_from": "25:00"},
    {"quiet_from": "08:00", "quiet_until": "08:00"},
    {"holidays": ["2027-02-30"]},
    {"templates": {"de": {"sms": {"body": "{pay_link} {opt_out_link}"}}}},
    {"templates": {"en": {"sms": {"body": "pay {pay_link}"}}}},
    {"templates": {"en": {"sms": {"body": "{pay_link} {opt_out_link} {customer.__class__}"}}}},
    {"templates": {"en": {"sms": {"body": "{pay_link!r} {opt_out_link}"}}}},
    {"templates": {"en": {"sms": {"body": "{pay_link} {opt_out_link} {"}}}},
    {"templates": {"en": {"email": {"subject": "", "body": "{pay_link} {opt_out_link}"}}}},
    {"templates": {"en": {"sms": {"body": "card 4242424242424242 {pay_link} {opt_out_link}"}}}},
    {"templates": {"en": {"sms": {"body": "\u202e{pay_link} {opt_out_link}"}}}},
    {"templates": {"en": {"sms": {"body": "x" * 481 + "{pay_link} {opt_out_link}"}}}},
]  # fmt: skip


async def test_a_hostile_schedule_is_refused_and_nothing_changes(office: Office) -> None:
    ada = await office.as_("ada")
    before = (await ada.call("GET", "/admin/reminders"))[1]
    for change in HOSTILE:
        status, body = await ada.call("PUT", "/admin/reminders", SCHEDULE | change)
        assert status == 422, (change, body)
        assert (await ada.call("GET", "/admin/reminders"))[1] == before
    assert await _audited(office, "reminders.schedule") == 1


async def test_a_body_that_is_not_json_is_refused(office: Office) -> None:
    status, _ = await (await office.as_("ada")).send("PUT", "/admin/reminders", b"{not json")
    assert status in (400, 422)


async def test_removing_the_schedule_stops_what_was_planned(office: Office) -> None:
    _, account = await office.shop.customer("dana", DUE)
    await planner.plan(office.shop.database, at(DUE + timedelta(days=1), 7))
    status, body = await (await office.as_("ada")).call("DELETE", "/admin/reminders")
    assert (status, body["enabled"]) == (200, False)
    [row] = await office.shop.rows(account)
    assert (row.status, row.stop_reason) == ("stopped", "no_schedule")
    async with office.shop.database.tenant_session(office.shop.tenant_id) as session:
        assert await session.scalar(select(ReminderSettings)) is None


async def test_a_supervisor_holds_an_account_and_its_reminders_stop(office: Office) -> None:
    _, account = await office.shop.customer("dana", DUE)
    await planner.plan(office.shop.database, at(DUE + timedelta(days=1), 7))
    sam, avi = await office.as_("sam"), await office.as_("avi")
    hold = f"/accounts/{account}/collections-hold"
    assert (await avi.call("PUT", hold, {"reason": "disputes March"}))[0] == 403
    status, body = await sam.call("PUT", hold, {"reason": "disputes March"})
    assert (status, body["collections_hold"]) == (200, "disputes March")
    status, listed = await avi.call("GET", f"/accounts/{account}/reminders")
    assert [r["stop_reason"] for r in listed["reminders"]] == ["dispute"]
    status, body = await sam.call("DELETE", hold)
    assert (status, body["collections_hold"]) == (200, None)
    assert (await sam.call("PUT", "/accounts/999999/collections-hold", {"reason": "x"}))[0] == 404
    assert (await sam.call("PUT", hold, {"reason": ""}))[0] == 422
    assert await _audited(office, "account.collections_hold") == 1
    assert await _audited(office, "account.collections_released") == 1


async def test_another_business_cannot_hold_or_read_this_ones_account(
    office: Office, database: Database
) -> None:
    _, account = await office.shop.customer("dana", DUE)
    other = await open_shop(database, slug="kaunas")
    async with database.tenant_session(other.tenant_id) as session, session.begin():
        session.add(User(username="kim", display_name="kim", role="admin",
                         password_hash=password_hash(PASSWORD)))  # fmt: skip
    client = ApiClient(office.url, build_api().document())
    await client.login("kaunas", "kim", PASSWORD)
    try:
        assert (await client.call("PUT", f"/accounts/{account}/collections-hold",
                                  {"reason": "x"}))[0] == 404  # fmt: skip
        assert (await client.call("GET", f"/accounts/{account}/reminders"))[1]["reminders"] == []
    finally:
        await client.close()


async def test_the_opt_out_link_opts_the_customer_out_once(office: Office) -> None:
    customer, _ = await office.shop.customer("dana", DUE)
    link = await office.shop.links.link(office.shop.tenant_id, customer)
    token = link.rsplit("/", 1)[1]
    anyone = await office.as_("anyone")
    status, body = await anyone.call("GET", f"/reminders/opt-out/{token}")
    assert (status, body) == (200, {"opted_out": True, "already": False})
    assert (await anyone.call("GET", f"/reminders/opt-out/{token}"))[1]["already"]
    forged = f"{office.shop.tenant_id}.{customer + 1}.{token.split('.')[2]}"
    assert (await anyone.call("GET", f"/reminders/opt-out/{forged}"))[0] == 404
    assert (await anyone.call("GET", "/reminders/opt-out/junk"))[0] == 404
    assert link.startswith("https://pay.example" + PREFIX + "/reminders/opt-out/")


async def _inbound(
    office: Office, body: bytes, token: str | None = INBOUND_TOKEN
) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.post(
        office.url + PREFIX + "/sms/inbound", data=body, headers=headers
    ) as response:  # fmt: skip
        data = await response.json()
        (await office.as_("anyone")).check("POST", "/sms/inbound", response.status, data)
        return response.status, data


async def test_a_stop_reply_through_the_gateway_opts_out_the_texted_customer(
    office: Office,
) -> None:
    customer, _ = await office.shop.customer("dana", DUE - timedelta(days=4),
                                             phone="+37060000001")  # fmt: skip
    now = at(DUE + timedelta(days=1), 9)
    await planner.plan(office.shop.database, now)
    await office.shop.reminders().send_due(now)
    reply = json.dumps({"id": "in-1", "from": "+37060000001", "to": "Vilnius",
                        "text": "STOP"}).encode()  # fmt: skip
    assert (await _inbound(office, reply, token=None))[0] == 401
    assert (await _inbound(office, reply, "wrong"))[0] == 401
    assert (await _inbound(office, b"{nope"))[0] == 400
    status, body = await _inbound(office, reply)
    assert (status, body) == (200, {"stop": True, "opted_out": 1})
    async with office.shop.database.tenant_session(office.shop.tenant_id) as session:
        row = await session.get(Customer, customer)
        assert row is not None and row.reminders_opted_out_at is not None
        assert len((await session.scalars(select(OutboxMessage))).all()) == 1


async def test_without_an_inbound_token_there_is_no_inbound_endpoint(
    database: Database,
) -> None:
    context = ApiContext(
        database, SessionStore(database, passwords=PASSWORDS, lifetime_s=3600, idle_s=600),
        MemorySignInLimits(SIGN_IN_POLICY), MemoryBus(),
    )  # fmt: skip
    runner, port = await _serve(context, 0)
    try:
        async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{port}{PREFIX}/sms/inbound", data=b"{}",
            headers={"Authorization": "Bearer "},
        ) as response:  # fmt: skip
            assert response.status == 404
        async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}{PREFIX}/reminders/opt-out/1.1.{'a' * 43}"
        ) as response:  # fmt: skip
            assert response.status == 404
    finally:
        await runner.cleanup()
