"""Credits: the limit rule, grants, approvals, the report, and the identity gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from billing_bridge.credits import (
    GRANTED,
    PENDING,
    REJECTED,
    AlreadyDecided,
    By,
    CreditNotFound,
    CreditRefused,
    NotAllowed,
    credit_report,
    credit_status,
    decide,
    grant_credit,
)
from billing_bridge.verification_gate import GateReason, gate, may_touch_money
from pbx.db.database import Database
from pbx.db.models import Account, AuditEntry, Credit, Tenant, User
from pbx.db.tenancy import CrossTenantAccess
from tests.factories import make_customer, make_tenant

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
LIMITS = {"agent": 2_000, "supervisor": 20_000}


# --- the limit rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "amount", "currency", "expected"),
    [
        ("agent", 1_500, "ILS", GRANTED),
        ("agent", 2_000, "ILS", GRANTED),  # the limit itself is within it
        ("agent", 2_001, "ILS", PENDING),
        ("supervisor", 20_000, "ILS", GRANTED),
        ("supervisor", 20_001, "ILS", PENDING),
        ("admin", 10_000_000, "ILS", GRANTED),  # admins are unlimited
        ("admin", 10_000_000, "EUR", GRANTED),
        ("agent", 100, "EUR", PENDING),  # limits are in the tenant's currency only
    ],
)
def test_a_credit_within_the_roles_limit_is_granted_and_above_it_waits(
    role: str, amount: int, currency: str, expected: str
) -> None:
    assert credit_status(role, amount, currency, "ILS", LIMITS) == expected


@pytest.mark.parametrize(
    ("personal", "amount", "currency", "expected"),
    [
        (5_000, 4_000, "ILS", GRANTED),  # above the role's 2,000: their own limit counts
        (1_000, 1_500, "ILS", PENDING),  # below the role's: their own limit still counts
        (0, 1_500, "ILS", GRANTED),  # none set: the role's
        (5_000, 4_000, "EUR", PENDING),  # no exchange rate: approval
    ],
)
def test_a_personal_limit_above_zero_replaces_the_roles(
    personal: int, amount: int, currency: str, expected: str
) -> None:
    assert credit_status("agent", amount, currency, "ILS", LIMITS, personal) == expected


@pytest.mark.parametrize("limits", [{}, {"supervisor": 5_000}, {"agent": "2000"},
                                    {"agent": -1}, {"agent": True}])  # fmt: skip
def test_a_role_without_a_usable_limit_needs_approval_for_any_credit(limits: dict) -> None:
    assert credit_status("agent", 1, "ILS", "ILS", limits) == PENDING


# --- the identity gate ----------------------------------------------------------------------


def test_the_gate_is_open_when_the_business_does_not_ask_for_verification() -> None:
    assert gate(False, None, False).reason is GateReason.NOT_REQUIRED
    assert may_touch_money(False, "failed", False)


@pytest.mark.parametrize("ivr", ["pin", "date_of_birth"])
def test_a_caller_verified_by_the_ivr_may_have_money_touched(ivr: str) -> None:
    assert gate(True, ivr, False).reason is GateReason.IVR


def test_an_agents_recorded_questions_open_the_gate_even_after_a_failed_pin() -> None:
    assert gate(True, None, True).reason is GateReason.AGENT
    assert gate(True, "failed", True).reason is GateReason.AGENT


def test_an_unverified_caller_is_stopped_with_a_message_saying_what_to_do() -> None:
    blocked = gate(True, None, False)
    assert not blocked.allowed and blocked.reason is GateReason.NOT_VERIFIED
    assert "verify the caller" in blocked.message
    failed = gate(True, "failed", False)
    assert not failed.allowed and failed.reason is GateReason.IVR_FAILED
    assert not may_touch_money(True, "failed", False)


# --- grants and decisions -------------------------------------------------------------------


@dataclass
class Shop:
    database: Database
    tenant_id: int
    account_id: int
    agent: By
    other_agent: By
    supervisor: By
    admin: By

    async def grant(self, by: By, amount: int, **changes: Any) -> Credit:
        arguments: dict[str, Any] = {
            "account_id": self.account_id, "amount_minor": amount, "currency": "ILS",
            "reason_code": "goodwill", "note": "line dropped twice", "call_id": None,
            "now": NOW,
        } | changes  # fmt: skip
        tenant_id = arguments.pop("tenant_id", self.tenant_id)
        async with self.database.tenant_session(tenant_id) as session, session.begin():
            tenant = await session.get(Tenant, tenant_id)
            return await grant_credit(session, tenant, by=by, **arguments)

    async def decide(self, credit_id: int, approve: bool, by: By,
                     now: datetime = NOW) -> Credit:  # fmt: skip
        async with self.database.tenant_session(self.tenant_id) as session, session.begin():
            tenant = await session.get(Tenant, self.tenant_id)
            return await decide(session, tenant, credit_id, approve, by, now)

    async def balance(self) -> int:
        async with self.database.tenant_session(self.tenant_id) as session:
            return (await session.get(Account, self.account_id)).balance_minor

    async def audit(self) -> list[tuple[str, str | None, str]]:
        async with self.database.tenant_session(self.tenant_id) as session:
            rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            return [(row.action, row.target_id, row.actor_label) for row in rows]


async def _people(database: Database, tenant_id: int) -> dict[str, By]:
    people = {"dana": "agent", "eli": "agent", "sam": "supervisor", "ada": "admin"}
    found = {}
    async with database.tenant_session(tenant_id) as session, session.begin():
        for name, role in people.items():
            user = User(username=name, display_name=name.title(), role=role)
            session.add(user)
            await session.flush()
            found[name] = By(user.id, role, f"{role}:{name}")
    return found


async def _shop(database: Database, slug: str = "ofek", did: str = "+97237770000") -> Shop:
    tenant_id = await make_tenant(database, slug, "IL", "ILS", [did])
    async with database.system_session() as session, session.begin():
        await session.execute(update(Tenant).where(Tenant.id == tenant_id)
                              .values(credit_limits=LIMITS))  # fmt: skip
    customer = await make_customer(database, tenant_id, "C-1", "Dana Levi", ["+972502345678"],
                                   [{"currency": "ILS", "balance_minor": 10_000}])  # fmt: skip
    async with database.tenant_session(tenant_id) as session:
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
    people = await _people(database, tenant_id)
    return Shop(database, tenant_id, account, people["dana"], people["eli"], people["sam"],
                people["ada"])  # fmt: skip


@pytest.fixture
async def shop(database: Database) -> Shop:
    return await _shop(database)


async def test_a_credit_within_the_agents_limit_is_granted_and_lowers_the_balance(
    shop: Shop,
) -> None:
    credit = await shop.grant(shop.agent, 1_500)

    assert (credit.status, credit.granted_by_id, credit.approved_by_id) == (
        GRANTED, shop.agent.user_id, None)  # fmt: skip
    assert await shop.balance() == 8_500
    assert await shop.audit() == [("credit.grant", str(credit.id), "agent:dana")]


async def test_an_agent_with_a_personal_limit_grants_within_it(shop: Shop) -> None:
    async with shop.database.tenant_session(shop.tenant_id) as session, session.begin():
        await session.execute(update(User).where(User.id == shop.agent.user_id)
                              .values(credit_limit_minor=5_000))  # fmt: skip

    assert (await shop.grant(shop.agent, 4_000)).status == GRANTED  # the role's limit is lower
    assert (await shop.grant(shop.other_agent, 4_000)).status == PENDING  # eli has none
    assert await shop.balance() == 6_000


async def test_above_the_limit_it_waits_and_a_supervisors_approval_lowers_the_balance_once(
    shop: Shop,
) -> None:
    credit = await shop.grant(shop.agent, 5_000, reason_code="retention_discount")
    assert credit.status == PENDING and await shop.balance() == 10_000

    approved = await shop.decide(credit.id, True, shop.supervisor, NOW + timedelta(minutes=5))

    assert (approved.status, approved.approved_by_id) == (GRANTED, shop.supervisor.user_id)
    assert approved.decided_at == NOW + timedelta(minutes=5)
    assert await shop.balance() == 5_000
    with pytest.raises(AlreadyDecided):
        await shop.decide(credit.id, True, shop.admin)
    with pytest.raises(AlreadyDecided):
        await shop.decide(credit.id, False, shop.admin)
    assert await shop.balance() == 5_000
    assert [a[0] for a in await shop.audit()] == ["credit.request", "credit.approve"]
    assert (await shop.audit())[1][2] == "supervisor:sam"


async def test_a_rejected_credit_leaves_the_balance_as_it_was(shop: Shop) -> None:
    credit = await shop.grant(shop.agent, 5_000)

    rejected = await shop.decide(credit.id, False, shop.admin)

    assert (rejected.status, rejected.approved_by_id) == (REJECTED, shop.admin.user_id)
    assert await shop.balance() == 10_000
    assert [a[0] for a in await shop.audit()] == ["credit.request", "credit.reject"]
    with pytest.raises(AlreadyDecided):
        await shop.decide(credit.id, True, shop.supervisor)


async def test_nobody_decides_their_own_request_and_agents_decide_nothing(shop: Shop) -> None:
    own = await shop.grant(shop.supervisor, 50_000)  # above the supervisor's limit
    assert own.status == PENDING

    with pytest.raises(NotAllowed):
        await shop.decide(own.id, True, shop.supervisor)
    with pytest.raises(NotAllowed):
        await shop.decide(own.id, True, shop.agent)
    assert (await shop.decide(own.id, True, shop.admin)).status == GRANTED
    assert await shop.balance() == 10_000 - 50_000  # a credit may take the account below zero


async def test_an_admin_is_never_asked_for_approval(shop: Shop) -> None:
    assert (await shop.grant(shop.admin, 9_000_000)).status == GRANTED


async def test_a_credit_in_another_currency_than_the_accounts_is_refused(shop: Shop) -> None:
    with pytest.raises(CreditRefused) as refused:
        await shop.grant(shop.agent, 100, currency="EUR")
    assert refused.value.field == "currency"
    with pytest.raises(CreditRefused):
        await shop.grant(shop.agent, 100, reason_code="because")
    with pytest.raises(CreditRefused):
        await shop.grant(shop.agent, 0)
    with pytest.raises(CreditNotFound):
        await shop.grant(shop.agent, 100, account_id=shop.account_id + 999)
    assert await shop.balance() == 10_000 and await shop.audit() == []


async def test_the_report_sums_granted_credits_by_reason_and_by_agent(shop: Shop) -> None:
    await shop.grant(shop.agent, 1_000, reason_code="retention_discount")
    await shop.grant(shop.agent, 500, reason_code="goodwill")
    await shop.grant(shop.other_agent, 2_000, reason_code="retention_discount")
    waiting = await shop.grant(shop.other_agent, 7_000, reason_code="retention_discount")
    refused = await shop.grant(shop.agent, 9_000, reason_code="billing_error")
    await shop.decide(refused.id, False, shop.supervisor)
    await shop.grant(shop.agent, 300, reason_code="goodwill", now=NOW - timedelta(days=40))
    # Asked for before the window, approved inside it: it cost money inside it.
    late = await shop.grant(shop.other_agent, 4_000, reason_code="service_outage",
                            now=NOW - timedelta(days=40))  # fmt: skip
    await shop.decide(late.id, True, shop.supervisor, now=NOW)

    async with shop.database.tenant_session(shop.tenant_id) as session:
        tenant = await session.get(Tenant, shop.tenant_id)
        report = await credit_report(session, tenant, date_from=NOW - timedelta(days=1),
                                     date_to=NOW + timedelta(days=1))  # fmt: skip

    assert [(r.reason_code, r.currency, r.count, r.total_minor) for r in report.by_reason] == [
        ("goodwill", "ILS", 1, 500),
        ("retention_discount", "ILS", 2, 3_000),
        ("service_outage", "ILS", 1, 4_000),
    ]
    assert [(r.agent_id, r.agent, r.count, r.total_minor) for r in report.by_agent] == [
        (shop.agent.user_id, "dana", 2, 1_500),
        (shop.other_agent.user_id, "eli", 2, 6_000),
    ]
    assert [(r.currency, r.count, r.total_minor) for r in report.retention_cost] == [
        ("ILS", 2, 3_000)]  # fmt: skip
    assert waiting.status == PENDING


async def test_one_business_never_reaches_anothers_credits(database: Database) -> None:
    ofek = await _shop(database)
    other = await _shop(database, "other", "+97237770001")
    theirs = await other.grant(other.agent, 5_000)

    with pytest.raises(CreditNotFound):  # their account, from our side
        await ofek.grant(ofek.agent, 100, account_id=other.account_id)
    with pytest.raises(CreditNotFound):  # their credit, decided by our supervisor
        await ofek.decide(theirs.id, True, ofek.supervisor)
    with pytest.raises(CrossTenantAccess):  # their tenant row in our session
        async with database.tenant_session(ofek.tenant_id) as session:
            tenant = await session.get(Tenant, other.tenant_id)
            await grant_credit(session, tenant, account_id=ofek.account_id, amount_minor=1,
                               currency="ILS", reason_code="goodwill", note=None, call_id=None,
                               by=ofek.agent, now=NOW)  # fmt: skip
    async with database.tenant_session(ofek.tenant_id) as session:
        tenant = await session.get(Tenant, ofek.tenant_id)
        report = await credit_report(session, tenant, date_from=NOW - timedelta(days=1),
                                     date_to=NOW + timedelta(days=1))  # fmt: skip
    assert report.by_reason == [] and report.by_agent == []
    assert await other.balance() == 10_000 and await ofek.audit() == []
