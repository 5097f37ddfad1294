"""Promises and plans through /api/v1: in a call and on an account, by role and business,
kept by the billing system's external payment through the batch API, cancelled, listed;
hostile bodies refused with 4xx and nothing written. Every answer is checked against the
OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from pbx.db.models import Account, AuditEntry, BillingEvent, Call, Customer, Promise, User
from pbx.http.app import build_api
from tests.http.conftest import PASSWORD, password_hash
from tests.http.support import ApiClient
from tests.ingest.conftest import OFEK_DID, OTHER_DID, Door, Machine

TODAY = datetime.now(UTC).astimezone(ZoneInfo("Asia/Jerusalem")).date()
SOON = (TODAY + timedelta(days=10)).isoformat()
OVERDUE_ON = (TODAY - timedelta(days=20)).isoformat()


@dataclass
class Desk:
    door: Door
    tenant_id: int
    machine: Machine
    account: int  # Dana's, owing 100.01 ILS, all overdue
    other_account: int  # Omer's
    clients: dict[str, ApiClient]

    def __getitem__(self, name: str) -> ApiClient:
        return self.clients[name]


async def _user(door: Door, tenant: int, name: str, role: str) -> None:
    async with door.database.tenant_session(tenant) as session, session.begin():
        session.add(User(username=name, display_name=name.title(), role=role,
                         password_hash=password_hash(PASSWORD)))  # fmt: skip


async def _signed_in(door: Door, slug: str, *names: str) -> dict[str, ApiClient]:
    clients = {}
    for name in names:
        clients[name] = ApiClient(door.url, build_api().document())
        await clients[name].login(slug, name, PASSWORD)
    return clients


@pytest.fixture
async def desk(door: Door) -> AsyncIterator[Desk]:
    tenant = await door.business("ofek", OFEK_DID)
    machine = await door.key(tenant, "billing:write", "billing:read")
    lines = [
        {"type": "customer", "ref": "C-1", "name": "Dana", "phones": [], "version": 1},
        {"type": "customer", "ref": "C-2", "name": "Omer", "phones": [], "version": 1},
        {"type": "account", "ref": "A-1", "customer": "C-1", "balance": 10_001, "version": 1},
        {"type": "account", "ref": "A-2", "customer": "C-2", "balance": 5_000, "version": 1},
        {"type": "invoice", "ref": "I-1", "account": "A-1", "amount": 10_001,
         "issued": OVERDUE_ON, "due": OVERDUE_ON, "version": 1},
    ]  # fmt: skip
    assert (await machine.batch(lines)).status == 200
    for name, role in (("avi", "agent"), ("bella", "agent"), ("sam", "supervisor"),
                       ("boss", "admin")):  # fmt: skip
        await _user(door, tenant, name, role)
    async with door.database.tenant_session(tenant) as session:
        ids = dict((await session.execute(select(Account.account_ref, Account.id))).all())
    clients = await _signed_in(door, "ofek", "avi", "bella", "sam", "boss")
    yield Desk(door, tenant, machine, ids["A-1"], ids["A-2"], clients)
    for client in clients.values():
        await client.close()


async def _answering(desk: Desk, agent: str, channel: str = "chan-1") -> int:
    async with desk.door.database.tenant_session(desk.tenant_id) as session, session.begin():
        agent_id = await session.scalar(select(User.id).where(User.username == agent))
        customer = await session.scalar(select(Customer.id).where(Customer.customer_ref == "C-1"))
        now = datetime.now(UTC)
        call = Call(channel_id=channel, caller_raw="100", match="unique", customer_id=customer,
                    agent_id=agent_id, arrived_at=now, answered_at=now)  # fmt: skip
        session.add(call)
        await session.flush()
        return call.id


def _promise(desk: Desk, **changes: object) -> dict:
    return {"account_id": desk.account, "amount_minor": 6_000, "due_on": SOON,
            "method": "bank_transfer"} | changes  # fmt: skip


async def _count(desk: Desk, what: type) -> int:
    async with desk.door.database.tenant_session(desk.tenant_id) as session:
        return int(await session.scalar(select(func.count()).select_from(what)) or 0)


async def _events(desk: Desk) -> list[str]:
    async with desk.door.database.tenant_session(desk.tenant_id) as session:
        types = await session.scalars(select(BillingEvent.type).order_by(BillingEvent.seq))
        return [t for t in types if t.startswith(("promise.", "plan."))]


async def test_an_agent_records_a_promise_in_their_call_and_an_external_payment_keeps_it(
    desk: Desk,
) -> None:
    record_id = await _answering(desk, "avi")
    assert (await desk["bella"].call("POST", "/calls/chan-1/promises", _promise(desk)))[0] == 403
    assert (await desk["avi"].call("POST", "/calls/nope/promises", _promise(desk)))[0] == 404
    status, refused = await desk["avi"].call("POST", "/calls/chan-1/promises",
                                             _promise(desk, account_id=desk.other_account))
    assert status == 422 and refused["error"]["details"][0]["field"] == "account_id"

    status, made = await desk["avi"].call("POST", "/calls/chan-1/promises", _promise(desk))

    assert status == 201 and made["status"] == "open" and made["call_record_id"] == record_id
    assert (made["currency"], made["overdue_minor"]) == ("ILS", 10_001)
    status, twice = await desk["avi"].call("POST", "/calls/chan-1/promises", _promise(desk))
    assert status == 409 and twice["error"]["code"] == "promise_open"
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    reply = await desk.machine.batch([{"type": "external_payment", "reference": "BT-1",
                                       "account": "A-1", "amount": 6_000, "received_at": now}])
    assert reply.status == 200

    status, listed = await desk["sam"].call("GET", f"/accounts/{desk.account}/promises")
    assert status == 200
    [kept] = listed["promises"]
    assert (kept["status"], kept["paid_minor"]) == ("kept", 6_000)
    assert listed["counts"] == {"open": 0, "kept": 1, "broken": 0, "cancelled": 0}
    assert await _events(desk) == ["promise.created", "promise.kept"]


async def test_agents_act_only_while_answering_the_accounts_owner_supervisors_on_any(
    desk: Desk,
) -> None:
    path = f"/accounts/{desk.account}/promises"
    assert (await desk["avi"].call("POST", "/promises", _promise(desk)))[0] == 403
    assert (await desk["avi"].call("GET", path))[0] == 403
    await _answering(desk, "avi")
    assert (await desk["avi"].call("GET", path))[0] == 200
    status, made = await desk["avi"].call("POST", "/promises", _promise(desk))
    assert status == 201 and made["call_record_id"] is None
    assert (await desk["bella"].call("POST", f"/promises/{made['id']}/cancel",
                                     {"reason": "not mine"}))[0] == 403  # fmt: skip

    status, cancelled = await desk["sam"].call("POST", f"/promises/{made['id']}/cancel",
                                               {"reason": "paid at the branch"})  # fmt: skip

    assert status == 200 and cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "paid at the branch"
    again = await desk["sam"].call("POST", f"/promises/{made['id']}/cancel", {"reason": "x"})
    assert again[0] == 409 and again[1]["error"]["code"] == "not_open"
    assert await _events(desk) == ["promise.created", "promise.cancelled"]


async def test_another_business_sees_none_of_the_ids(desk: Desk) -> None:
    status, made = await desk["sam"].call("POST", "/promises", _promise(desk))
    assert status == 201
    other = await desk.door.business("gamma", OTHER_DID)
    await _user(desk.door, other, "zoe", "admin")
    zoe = (await _signed_in(desk.door, "gamma", "zoe"))["zoe"]
    try:
        assert (await zoe.call("GET", f"/accounts/{desk.account}/promises"))[0] == 404
        assert (await zoe.call("POST", f"/promises/{made['id']}/cancel",
                               {"reason": "x"}))[0] == 404  # fmt: skip
        status, body = await zoe.call("POST", "/promises", _promise(desk))
        assert status == 422 and body["error"]["details"][0]["field"] == "account_id"
    finally:
        await zoe.close()
    assert await _count(desk, Promise) == 1


async def test_a_plan_splits_the_overdue_amount_exactly_and_is_cancelled_with_a_reason(
    desk: Desk,
) -> None:
    body = {"account_id": desk.account, "instalment_count": 3, "frequency": "weekly",
            "first_due_on": SOON, "method": "pay_link"}  # fmt: skip

    status, plan = await desk["sam"].call("POST", "/plans", body)

    assert status == 201 and plan["total_minor"] == 10_001
    assert [i["amount_minor"] for i in plan["instalments"]] == [3334, 3334, 3333]
    assert plan["consent"]["call_record_id"] is None and plan["consent"]["by_id"]
    refused = await desk["sam"].call("POST", "/promises", _promise(desk))
    assert refused[0] == 409 and refused[1]["error"]["code"] == "plan_active"
    status, cancelled = await desk["sam"].call("POST", f"/plans/{plan['id']}/cancel",
                                               {"reason": "new contract"})  # fmt: skip
    assert status == 200 and {i["status"] for i in cancelled["instalments"]} == {"cancelled"}
    assert await _events(desk) == ["plan.created", "plan.cancelled"]


async def test_only_an_admin_changes_the_caps_and_the_change_is_audited(desk: Desk) -> None:
    caps = {"promise_max_days": 14, "promise_min_share_pct": 50}
    assert (await desk["sam"].call("GET", "/admin/collections-settings"))[1] == {
        "promise_max_days": 30, "promise_min_share_pct": 20}
    assert (await desk["sam"].call("PUT", "/admin/collections-settings", caps))[0] == 403
    assert (await desk["avi"].call("GET", "/admin/collections-settings"))[0] == 403

    status, saved = await desk["boss"].call("PUT", "/admin/collections-settings", caps)

    assert status == 200 and saved == caps
    refused = await desk["sam"].call("POST", "/promises", _promise(desk, amount_minor=5_000))
    assert refused[0] == 422 and refused[1]["error"]["details"][0]["field"] == "amount_minor"
    async with desk.door.database.tenant_session(desk.tenant_id) as session:
        [entry] = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "tenant.collections_settings"))).all()  # fmt: skip
    assert entry.details["after"] == caps


HOSTILE = [
    {"amount_minor": 2**63}, {"amount_minor": 10**30}, {"amount_minor": "6000"},
    {"amount_minor": True}, {"amount_minor": 6000.0}, {"amount_minor": -1},
    {"account_id": 2**63}, {"account_id": "1"}, {"account_id": None},
    {"due_on": "2027-02-30"}, {"due_on": 20270301}, {"due_on": "tomorrow"},
    {"method": "cash"}, {"surprise": 1},
]  # fmt: skip


async def test_a_hostile_promise_body_is_a_4xx_and_writes_nothing(desk: Desk) -> None:
    for changes in HOSTILE:
        status, body = await desk["sam"].call("POST", "/promises", _promise(desk, **changes))
        assert status == 422, (changes, body)
    for path in ("/promises/0/cancel", "/promises/%C2%B2/cancel", f"/promises/{2**63}/cancel",
                 "/plans/99/cancel"):  # fmt: skip
        assert (await desk["sam"].call("POST", path, {"reason": "x"}))[0] == 404, path
    assert await _count(desk, Promise) == 0


async def test_wrong_types_in_a_plan_or_settings_are_refused(desk: Desk) -> None:
    base = {"account_id": desk.account, "instalment_count": 3, "frequency": "weekly",
            "first_due_on": SOON, "method": "pay_link"}  # fmt: skip
    for changes in ({"instalment_count": 1}, {"instalment_count": 37},
                    {"instalment_count": "3"}, {"frequency": "daily"},
                    {"method": "mandate"}, {"mandate_id": 2**63}):  # fmt: skip
        assert (await desk["sam"].call("POST", "/plans", base | changes))[0] == 422, changes
    for caps in ({"promise_max_days": 0, "promise_min_share_pct": 20},
                 {"promise_max_days": 30, "promise_min_share_pct": 101},
                 {"promise_max_days": True, "promise_min_share_pct": 20}):  # fmt: skip
        assert (await desk["boss"].call("PUT", "/admin/collections-settings", caps))[0] == 422
    assert (await desk["sam"].call("POST", "/promises/1/cancel", {"reason": ""}))[0] == 422
