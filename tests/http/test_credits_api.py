"""Credits, approvals, the report, money settings and identity before money, through /api/v1.

Every response is checked against the OpenAPI document by the ApiClient.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from billing_bridge.verification import hash_pin
from pbx.db.models import Account, AuditEntry, Call, Customer, InboundRoute
from pbx.simulator.ari.scripts import Call as SimCall
from tests.factories import make_customer
from tests.http.conftest import Site, signed_in, staff_support
from tests.http.support import ApiClient

CALLER = "+972502345678"


@dataclass
class Money:
    clients: dict[str, ApiClient]
    dana: int  # the caller's account
    omer: int  # another customer's account

    def __getitem__(self, name: str) -> ApiClient:
        return self.clients[name]


@pytest.fixture
async def money(site: Site) -> AsyncIterator[Money]:
    """Queue support with agents avi (1001) and bella (1002), supervisor sam, admin boss, a
    route, the caller Dana (+972502345678) and Omer, each with an account owing 100.00 ILS."""
    world = site.world
    await staff_support(site)
    await site.user("boss", "admin")
    dana = await make_customer(world.database, world.tenant_id, "C-1", "Dana", [CALLER],
                               [{"currency": "ILS", "balance_minor": 10_000}])  # fmt: skip
    other = await make_customer(world.database, world.tenant_id, "C-2", "Omer", [],
                                [{"currency": "ILS", "balance_minor": 10_000}])  # fmt: skip
    async with world.database.tenant_session(world.tenant_id) as session:
        accounts = [await session.scalar(select(Account.id).where(Account.customer_id == c))
                    for c in (dana, other)]  # fmt: skip
    await world.flow.reload_config()
    clients = await signed_in(site, "avi", "bella", "sam", "boss")
    yield Money(clients, *accounts)
    for client in clients.values():
        await client.close()


async def _balance(site: Site, account_id: int) -> int:
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        return (await session.get(Account, account_id)).balance_minor


async def _actions(site: Site) -> list[str]:
    """The audit log's actions, sign-ins left out."""
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        actions = await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
        return [action for action in actions if not action.startswith("auth.")]


SETTINGS = {"money_needs_verification": False, "credit_limits": {"agent": 2_000},
            "credit_period": "day", "credit_account_limit_minor": None,
            "credits_below_zero": False}  # fmt: skip


async def _limits(money: Money, needs_verification: bool = False, **changes: object) -> None:
    status, _ = await money["boss"].call("PUT", "/admin/money-settings", SETTINGS | {
        "money_needs_verification": needs_verification} | changes)  # fmt: skip
    assert status == 200


async def test_only_an_admin_sets_the_money_settings_and_the_change_is_audited(
    site: Site, money: Money
) -> None:
    settings = SETTINGS | {
        "money_needs_verification": True,
        "credit_limits": {"agent": 2_000, "supervisor": 20_000},
        "credit_period": "week", "credit_account_limit_minor": 5_000,
    }  # fmt: skip
    assert (await money["sam"].call("PUT", "/admin/money-settings", settings))[0] == 403
    bad = settings | {"credit_limits": {"admin": 5}}
    assert (await money["boss"].call("PUT", "/admin/money-settings", bad))[0] == 422
    negative = settings | {"credit_limits": {"agent": -1}}
    assert (await money["boss"].call("PUT", "/admin/money-settings", negative))[0] == 422

    status, saved = await money["boss"].call("PUT", "/admin/money-settings", settings)

    assert status == 200 and saved == settings | {"currency": "ILS", "billing_ack_hours": 48}
    assert (await money["sam"].call("GET", "/admin/money-settings"))[1] == saved
    assert (await money["avi"].call("GET", "/admin/money-settings"))[0] == 403
    assert await _actions(site) == ["tenant.money_settings"]


async def test_an_agent_grants_within_the_limit_and_a_supervisor_approves_the_rest(
    site: Site, money: Money
) -> None:
    avi, bella, sam = money["avi"], money["bella"], money["sam"]
    account = money.dana
    await _limits(money)
    small = {"account_id": account, "amount_minor": 1_500, "reason_code": "goodwill",
             "note": "two dropped calls"}  # fmt: skip

    status, granted = await avi.call("POST", "/credits", small)
    assert status == 201 and granted["status"] == "granted"
    assert granted["currency"] == "ILS" and granted["call_record_id"] is None
    assert await _balance(site, account) == 8_500
    status, waiting = await avi.call("POST", "/credits", small | {"amount_minor": 5_000})
    assert status == 201 and waiting["status"] == "pending_approval"
    assert await _balance(site, account) == 8_500

    path = f"/credits/{waiting['id']}"
    assert (await avi.call("POST", path + "/approve"))[0] == 403  # agents decide nothing
    assert [c["id"] for c in (await avi.call("GET", "/credits"))[1]["items"]] == [
        waiting["id"], granted["id"]]  # fmt: skip
    assert (await bella.call("GET", "/credits"))[1]["items"] == []  # agents see their own
    status, pending = await sam.call("GET", "/credits", status="pending_approval")
    assert status == 200 and [c["id"] for c in pending["items"]] == [waiting["id"]]
    assert (await sam.call("GET", "/credits", status="maybe"))[0] == 422

    status, approved = await sam.call("POST", path + "/approve")
    assert status == 200 and approved["status"] == "granted"
    assert approved["decided_by_id"] is not None and approved["decided_at"] is not None
    assert await _balance(site, account) == 3_500
    status, again = await money["boss"].call("POST", path + "/reject")
    assert status == 409 and again["error"]["code"] == "conflict"
    assert await _balance(site, account) == 3_500  # lowered once
    assert (await sam.call("POST", "/credits/999999/approve"))[0] == 404
    assert await _actions(site) == [
        "tenant.money_settings", "credit.grant", "credit.request", "credit.approve"]  # fmt: skip


async def test_a_supervisor_cannot_approve_their_own_request_and_a_rejection_costs_nothing(
    site: Site, money: Money
) -> None:
    sam, boss = money["sam"], money["boss"]
    account = money.dana
    await _limits(money)  # supervisors have no limit set: everything waits

    status, own = await sam.call("POST", "/credits", {
        "account_id": account, "amount_minor": 100, "reason_code": "billing_error"})  # fmt: skip
    assert status == 201 and own["status"] == "pending_approval"

    status, body = await sam.call("POST", f"/credits/{own['id']}/approve")
    assert status == 403 and "someone else" in body["error"]["message"]
    status, rejected = await boss.call("POST", f"/credits/{own['id']}/reject")
    assert status == 200 and rejected["status"] == "rejected"
    assert await _balance(site, account) == 10_000


async def test_a_credit_in_the_wrong_currency_or_for_no_account_is_refused(
    site: Site, money: Money
) -> None:
    avi = money["avi"]
    credit = {"account_id": money.dana, "amount_minor": 100,
              "reason_code": "goodwill"}  # fmt: skip

    status, body = await avi.call("POST", "/credits", credit | {"currency": "EUR"})
    assert status == 422 and body["error"]["details"][0]["field"] == "currency"
    assert (await avi.call("POST", "/credits", credit | {"reason_code": "friend"}))[0] == 422
    assert (await avi.call("POST", "/credits", credit | {"amount_minor": 0}))[0] == 422
    assert (await avi.call("POST", "/credits", credit | {"account_id": 999_999}))[0] == 404
    assert await _actions(site) == []


async def test_the_credit_report_sums_by_reason_and_agent_for_supervisors(
    site: Site, money: Money
) -> None:
    avi, sam = money["avi"], money["sam"]
    await _limits(money, credit_limits={"agent": 5_000})
    account = money.dana
    for amount, reason in ((1_000, "retention_discount"), (500, "goodwill"),
                           (1_500, "retention_discount")):  # fmt: skip
        credit = {"account_id": account, "amount_minor": amount, "reason_code": reason}
        assert (await avi.call("POST", "/credits", credit))[0] == 201
    now = datetime.now(UTC)
    period = {"from": (now - timedelta(hours=1)).isoformat(),
              "to": (now + timedelta(hours=1)).isoformat()}  # fmt: skip

    assert (await avi.call("GET", "/reports/credits", **period))[0] == 403
    assert (await sam.call("GET", "/reports/credits", to=period["to"]))[0] == 422
    status, report = await sam.call("GET", "/reports/credits", **period)

    assert status == 200
    assert [(r["reason_code"], r["count"], r["total_minor"]) for r in report["by_reason"]] == [
        ("goodwill", 1, 500), ("retention_discount", 2, 2_500)]  # fmt: skip
    assert [(r["agent"], r["count"], r["total_minor"]) for r in report["by_agent"]] == [
        ("avi", 3, 3_000)]  # fmt: skip
    assert report["retention_cost"] == [{"currency": "ILS", "count": 2, "total_minor": 2_500}]
    assert report["limit_period"]["period"] == "day"
    assert report["limit_period"]["currency"] == "ILS"
    uses = {r["agent"]: r for r in report["against_limits"]}
    assert {k: v for k, v in uses["avi"].items() if k != "agent_id"} == {
        "agent": "avi", "role": "agent", "used_minor": 3_000, "limit_minor": 5_000,
        "remaining_minor": 2_000}  # fmt: skip
    assert (uses["bella"]["used_minor"], uses["bella"]["remaining_minor"]) == (0, 5_000)
    assert (uses["sam"]["limit_minor"], uses["sam"]["remaining_minor"]) == (None, 0)
    assert "boss" not in uses  # admins have no limit
    yesterday = (now - timedelta(days=1)).isoformat()
    status, before = await sam.call("GET", "/reports/credits", **period, at=yesterday)
    assert status == 200 and {r["agent"]: r["used_minor"] for r in before["against_limits"]
                              }["avi"] == 0  # fmt: skip
    for bad in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "yesterday"):
        assert (await sam.call("GET", "/reports/credits", **period, at=bad))[0] == 422
        assert (await sam.call("GET", "/reports/credits", **(period | {"from": bad})))[0] == 422


async def _connected_call(site: Site, money: Money) -> SimCall:
    world = site.world
    await money["avi"].call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    call = await world.call("0502345678")
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
    return call


async def test_a_credit_in_a_call_waits_until_the_agent_records_the_callers_verification(
    site: Site, money: Money
) -> None:
    world, avi, bella = site.world, money["avi"], money["bella"]
    await _limits(money, needs_verification=True)
    call = await _connected_call(site, money)
    account = money.dana
    credit = {"account_id": account, "amount_minor": 1_000, "reason_code": "service_outage",
              "call_id": call.channel_id}  # fmt: skip

    status, body = await avi.call("POST", "/credits", credit)
    assert status == 403 and body["error"]["code"] == "caller_not_verified"
    assert "verify the caller" in body["error"]["message"]
    assert await _balance(site, account) == 10_000

    verification = f"/calls/{call.channel_id}/verification"
    asked = {"questions": ["date_of_birth", "last_payment"]}
    assert (await bella.call("POST", verification, asked))[0] == 403  # not her call
    assert (await avi.call("POST", verification, {"questions": ["17/05/1980"]}))[0] == 422
    assert (await avi.call("POST", verification, {"questions": []}))[0] == 422
    status, verified = await avi.call("POST", verification, asked)
    assert status == 200 and verified == {"call_id": call.channel_id,
                                          "verified": "agent_questions", **asked}  # fmt: skip

    status, granted = await avi.call("POST", "/credits", credit)
    assert status == 201 and granted["status"] == "granted"
    assert await _balance(site, account) == 9_000
    omer = credit | {"account_id": money.omer}  # not the caller's account
    assert (await avi.call("POST", "/credits", omer))[0] == 404
    assert (await bella.call("POST", "/credits", credit))[0] == 403  # not her call

    async with world.database.tenant_session(world.tenant_id) as session:
        row = await session.scalar(select(Call).where(Call.channel_id == call.channel_id))
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "call.verify"))
    assert row.verified == "agent_questions" and granted["call_record_id"] == row.id
    assert entry.details["questions"] == ["date_of_birth", "last_payment"]
    assert entry.target_id == str(row.id)


async def test_a_credit_for_the_caller_without_naming_the_call_still_waits_for_verification(
    site: Site, money: Money
) -> None:
    avi, bella = money["avi"], money["bella"]
    await _limits(money, needs_verification=True)
    call = await _connected_call(site, money)
    credit = {"account_id": money.dana, "amount_minor": 1_000, "reason_code": "goodwill"}

    status, body = await avi.call("POST", "/credits", credit)  # no call_id: still in the call
    assert status == 403 and body["error"]["code"] == "caller_not_verified"
    assert await _balance(site, money.dana) == 10_000
    # Off the call, the credit is back-office work: another customer's account, or another
    # agent who is not talking to Dana.
    omer = credit | {"account_id": money.omer}
    assert (await avi.call("POST", "/credits", omer))[0] == 201
    assert (await bella.call("POST", "/credits", credit))[0] == 201

    asked = {"questions": ["date_of_birth"]}
    assert (await avi.call("POST", f"/calls/{call.channel_id}/verification", asked))[0] == 200
    status, granted = await avi.call("POST", "/credits", credit)
    assert status == 201 and granted["call_record_id"] is not None  # tied to the call


async def test_a_caller_who_keyed_their_pin_may_be_credited_at_once(
    site: Site, money: Money
) -> None:
    world, avi = site.world, money["avi"]
    await _limits(money, needs_verification=True)
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        await session.execute(update(Customer).where(Customer.customer_ref == "C-1")
                              .values(pin_hash=hash_pin("2468")))  # fmt: skip
        route = await session.scalar(select(InboundRoute))
        route.verification = "pin"
    await world.flow.reload_config()
    await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    call = await world.call("0502345678")
    await world.until(lambda: "sound:ledgerline-enter-pin" in call.heard, "asked for the PIN")
    await call.press("2468#")
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")

    status, granted = await avi.call("POST", "/credits", {
        "account_id": money.dana, "amount_minor": 1_000, "reason_code": "goodwill",
        "call_id": call.channel_id,
    })  # fmt: skip

    assert status == 201 and granted["status"] == "granted"


async def test_without_the_setting_a_credit_in_a_call_needs_no_verification(
    site: Site, money: Money
) -> None:
    await _limits(money, needs_verification=False)
    call = await _connected_call(site, money)
    status, granted = await money["avi"].call("POST", "/credits", {
        "account_id": money.dana, "amount_minor": 5_000,
        "reason_code": "late_fee_waiver", "call_id": call.channel_id,
    })  # fmt: skip
    assert status == 201 and granted["status"] == "pending_approval"  # above avi's limit
    assert (await money["avi"].call("POST", "/credits", {
        "account_id": money.dana, "amount_minor": 100,
        "reason_code": "goodwill", "call_id": "no-such-call",
    }))[0] == 404  # fmt: skip


# --- limits in total over a period, and never below zero ------------------------------------


BAD_SETTINGS = [
    {"credit_period": "year"}, {"credit_period": None},
    {"credit_account_limit_minor": True}, {"credit_account_limit_minor": "5000"},
    {"credit_account_limit_minor": 5000.0}, {"credit_account_limit_minor": -1},
    {"credit_account_limit_minor": 2**63}, {"credit_limits": {"agent": "2000"}},
    {"credit_limits": {"agent": 2000.0}}, {"credit_limits": {"agent": False}},
    {"credits_below_zero": "yes"}, {"credits_below_zero": 1},
    {"money_needs_verification": "true"}, {"billing_ack_hours": 0},
    {"billing_ack_hours": 721}, {"billing_ack_hours": "48"}, {"billing_ack_hours": 48.0},
    {"billing_ack_hours": True},
]  # fmt: skip


async def test_money_settings_take_only_strict_bounded_values_and_a_refusal_changes_nothing(
    site: Site, money: Money
) -> None:
    for change in BAD_SETTINGS:  # one site for all: each refusal leaves the same settings
        status, body = await money["boss"].call("PUT", "/admin/money-settings",
                                                SETTINGS | change)  # fmt: skip
        assert status == 422, change
        assert body["error"]["details"][0]["field"].startswith(next(iter(change))), change

    assert (await money["boss"].call("GET", "/admin/money-settings"))[1] == {
        "money_needs_verification": False, "credit_limits": {}, "credit_period": "day",
        "credit_account_limit_minor": None, "credits_below_zero": False, "currency": "ILS",
        "billing_ack_hours": 48}
    assert await _actions(site) == []


async def test_every_money_setting_is_required_in_a_change(site: Site, money: Money) -> None:
    for field in ("credit_period", "credit_account_limit_minor", "credits_below_zero"):
        partial = {k: v for k, v in SETTINGS.items() if k != field}
        status, body = await money["boss"].call("PUT", "/admin/money-settings", partial)
        assert status == 422 and body["error"]["details"][0]["field"] == field
    assert await _actions(site) == []


async def test_a_settings_change_is_audited_with_what_it_was_and_what_it_became(
    site: Site, money: Money
) -> None:
    await _limits(money, credit_period="month", credit_account_limit_minor=7_000,
                  credits_below_zero=True)  # fmt: skip

    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        entry = await session.scalar(select(AuditEntry)
                                     .where(AuditEntry.action == "tenant.money_settings"))
    new = ("credit_period", "credit_account_limit_minor", "credits_below_zero")
    assert [entry.details["before"][k] for k in new] == ["day", None, False]
    assert [entry.details["after"][k] for k in new] == ["month", 7_000, True]


async def _set_balance(site: Site, account_id: int, balance_minor: int) -> None:
    async with site.world.database.tenant_session(site.world.tenant_id) as session, \
            session.begin():  # fmt: skip
        await session.execute(update(Account).where(Account.id == account_id)
                              .values(balance_minor=balance_minor))  # fmt: skip


async def test_an_agents_credits_in_a_row_stop_at_their_limit_for_the_day(
    site: Site, money: Money
) -> None:
    # As observed: a 5,000 limit, six credits of 5,000 on one account from 8,990.
    await _limits(money, credit_limits={"agent": 5_000}, credits_below_zero=True)
    await _set_balance(site, money.dana, 8_990)
    credit = {"account_id": money.dana, "amount_minor": 5_000, "reason_code": "goodwill"}

    answers = [await money["avi"].call("POST", "/credits", credit) for _ in range(6)]

    assert [(status, body["status"]) for status, body in answers] == [
        (201, "granted")] + [(201, "pending_approval")] * 5  # fmt: skip
    assert await _balance(site, money.dana) == 3_990


async def test_a_credit_that_would_take_the_balance_below_zero_is_refused_with_409(
    site: Site, money: Money
) -> None:
    await _limits(money, credit_limits={"agent": 5_000})  # below zero is not allowed
    await _set_balance(site, money.dana, 8_990)
    credit = {"account_id": money.dana, "amount_minor": 5_000, "reason_code": "goodwill"}
    assert (await money["avi"].call("POST", "/credits", credit))[0] == 201

    status, body = await money["avi"].call("POST", "/credits", credit)

    assert status == 409 and body["error"]["code"] == "balance_below_zero"
    assert "3990" in body["error"]["message"] and "below zero" in body["error"]["message"]
    assert await _balance(site, money.dana) == 3_990
    assert await _actions(site) == ["tenant.money_settings", "credit.grant"]
    boss = {"account_id": money.dana, "amount_minor": 3_991, "reason_code": "billing_error"}
    assert (await money["boss"].call("POST", "/credits", boss))[0] == 409  # admins too


async def test_an_approval_that_would_take_the_balance_below_zero_is_refused_and_it_waits_on(
    site: Site, money: Money
) -> None:
    await _limits(money)
    status, waiting = await money["avi"].call("POST", "/credits", {
        "account_id": money.dana, "amount_minor": 6_000, "reason_code": "goodwill"})  # fmt: skip
    assert status == 201 and waiting["status"] == "pending_approval"
    await _set_balance(site, money.dana, 5_000)  # paid meanwhile

    status, body = await money["sam"].call("POST", f"/credits/{waiting['id']}/approve")

    assert status == 409 and body["error"]["code"] == "balance_below_zero"
    assert await _balance(site, money.dana) == 5_000
    _, pending = await money["sam"].call("GET", "/credits", status="pending_approval")
    assert [c["id"] for c in pending["items"]] == [waiting["id"]]


async def test_credits_posted_at_the_same_moment_never_pass_the_agents_limit(
    site: Site, money: Money
) -> None:
    await _limits(money, credit_limits={"agent": 5_000})
    await _set_balance(site, money.dana, 100_000)
    await _set_balance(site, money.omer, 100_000)
    credits = [{"account_id": account, "amount_minor": 5_000, "reason_code": "goodwill"}
               for account in (money.dana, money.omer) * 3]  # fmt: skip

    answers = await asyncio.gather(*(money["avi"].call("POST", "/credits", c) for c in credits))

    assert sorted(body["status"] for _, body in answers) == (
        ["granted"] + ["pending_approval"] * 5)  # fmt: skip
    assert await _balance(site, money.dana) + await _balance(site, money.omer) == 195_000


async def test_a_credit_in_a_call_counts_against_the_agents_total_and_the_accounts(
    site: Site, money: Money
) -> None:
    await _limits(money, credit_limits={"agent": 5_000}, credit_account_limit_minor=3_000)
    call = await _connected_call(site, money)
    credit = {"account_id": money.dana, "amount_minor": 2_000, "reason_code": "goodwill",
              "call_id": call.channel_id}  # fmt: skip

    granted = [(await money["avi"].call("POST", "/credits", credit))[1]["status"]
               for _ in range(2)]  # fmt: skip
    # 4,000 on Dana's account today is over its 3,000; avi's own total is still within.
    assert granted == ["granted", "pending_approval"]
    omer = {"account_id": money.omer, "amount_minor": 3_000, "reason_code": "goodwill"}
    status, body = await money["avi"].call("POST", "/credits", omer)  # off the call
    assert status == 201 and body["status"] == "granted"  # avi's 5,000 reached exactly
    status, body = await money["avi"].call("POST", "/credits", omer | {"amount_minor": 1})
    assert status == 201 and body["status"] == "pending_approval"
    status, body = await money["avi"].call("POST", "/credits", credit | {"amount_minor": 20_000})
    assert status == 409 and body["error"]["code"] == "balance_below_zero"  # through the desk
    assert await _balance(site, money.dana) == 8_000
