"""Credits: the limit rule (totals over a period), grants, approvals, the report, and the
identity gate."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from billing_bridge.credit_limits import period_around, stays_within_zero
from billing_bridge.credits import (
    GRANTED,
    PENDING,
    REJECTED,
    AlreadyDecided,
    BelowZero,
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


def test_a_credit_that_takes_the_agents_period_total_over_the_limit_waits() -> None:
    assert credit_status("agent", 500, "ILS", "ILS", LIMITS, used_minor=1_500) == GRANTED
    assert credit_status("agent", 501, "ILS", "ILS", LIMITS, used_minor=1_500) == PENDING
    assert credit_status("agent", 1, "ILS", "ILS", LIMITS, 5_000, used_minor=5_000) == PENDING
    assert credit_status("admin", 9_000, "ILS", "ILS", LIMITS, used_minor=10**9) == GRANTED


def test_a_credit_that_takes_the_accounts_period_total_over_its_limit_waits() -> None:
    def status(amount: int, account_used: int, account_limit: int | None) -> str:
        return credit_status("agent", amount, "ILS", "ILS", LIMITS, account_used_minor=
                             account_used, account_limit=account_limit)  # fmt: skip

    assert status(1_000, 2_000, 3_000) == GRANTED
    assert status(1_001, 2_000, 3_000) == PENDING
    assert status(1_000, 0, 0) == PENDING  # a zero total: every credit on it waits
    assert status(2_000, 10**9, None) == GRANTED  # no total per account set


def test_a_limit_period_starts_at_midnight_in_the_businesss_time_zone() -> None:
    # 23:30 on Tuesday 10 March 2026 in Jerusalem (UTC+2) is 21:30 UTC.
    moment = datetime(2026, 3, 10, 21, 30, tzinfo=UTC)

    day = period_around("day", moment, "Asia/Jerusalem")
    assert (day.start, day.end) == (datetime(2026, 3, 9, 22, tzinfo=UTC),
                                    datetime(2026, 3, 10, 22, tzinfo=UTC))  # fmt: skip
    assert period_around("day", moment, "UTC").start == datetime(2026, 3, 10, tzinfo=UTC)
    week = period_around("week", moment, "Asia/Jerusalem")  # from Monday 9 March
    assert (week.start, week.end) == (datetime(2026, 3, 8, 22, tzinfo=UTC),
                                      datetime(2026, 3, 15, 22, tzinfo=UTC))  # fmt: skip
    month = period_around("month", moment, "Asia/Jerusalem")
    assert (month.start, month.end) == (datetime(2026, 2, 28, 22, tzinfo=UTC),
                                        datetime(2026, 3, 31, 21, tzinfo=UTC))  # DST since 27th


def test_the_day_the_clocks_change_is_one_period_of_23_hours() -> None:
    day = period_around("day", datetime(2026, 3, 29, 12, tzinfo=UTC), "Europe/London")
    assert day.end - day.start == timedelta(hours=23)


def test_an_unreadable_period_or_time_zone_falls_back_to_the_safe_side() -> None:
    moment = datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert period_around("fortnight", moment, "UTC").name == "month"  # the longest
    assert period_around("day", moment, "Mars/Olympus").start == datetime(2026, 3, 10,
                                                                          tzinfo=UTC)


def test_a_credit_may_take_the_balance_to_zero_but_below_only_where_allowed() -> None:
    assert stays_within_zero(10_000, 10_000, False)
    assert not stays_within_zero(10_000, 10_001, False)
    assert not stays_within_zero(-5, 1, False)  # already in credit
    assert stays_within_zero(10_000, 50_000, True)


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

    async def balance(self, account_id: int | None = None) -> int:
        async with self.database.tenant_session(self.tenant_id) as session:
            return (await session.get(Account, account_id or self.account_id)).balance_minor

    async def set_balance(self, balance_minor: int) -> None:
        """As a payment or an invoice would change it, behind the credits' back."""
        async with self.database.tenant_session(self.tenant_id) as session, session.begin():
            await session.execute(update(Account).where(Account.id == self.account_id)
                                  .values(balance_minor=balance_minor))  # fmt: skip

    async def settle(self, **settings: Any) -> None:
        """Change the business's money settings (as the admin API does)."""
        async with self.database.system_session() as session, session.begin():
            await session.execute(update(Tenant).where(Tenant.id == self.tenant_id)
                                  .values(**settings))  # fmt: skip

    async def another_account(self, balance_minor: int = 10_000) -> int:
        customer = await make_customer(self.database, self.tenant_id, "C-2", "Omer Cohen", [],
                                       [{"currency": "ILS", "balance_minor": balance_minor}])
        async with self.database.tenant_session(self.tenant_id) as session:
            return await session.scalar(select(Account.id).where(Account.customer_id == customer))

    async def statuses(self) -> list[str]:
        async with self.database.tenant_session(self.tenant_id) as session:
            return list(await session.scalars(select(Credit.status).order_by(Credit.id)))

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
    await shop.set_balance(100_000)
    own = await shop.grant(shop.supervisor, 50_000)  # above the supervisor's limit
    assert own.status == PENDING

    with pytest.raises(NotAllowed):
        await shop.decide(own.id, True, shop.supervisor)
    with pytest.raises(NotAllowed):
        await shop.decide(own.id, True, shop.agent)
    assert (await shop.decide(own.id, True, shop.admin)).status == GRANTED
    assert await shop.balance() == 100_000 - 50_000


async def test_an_admin_is_never_asked_for_approval(shop: Shop) -> None:
    await shop.set_balance(10_000_000)
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
    await shop.set_balance(100_000)
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
                                     date_to=NOW + timedelta(days=1),
                                     limits_at=NOW)  # fmt: skip

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
                                     date_to=NOW + timedelta(days=1),
                                     limits_at=NOW)  # fmt: skip
    assert report.by_reason == [] and report.by_agent == []
    assert await other.balance() == 10_000 and await ofek.audit() == []


# --- limits in total over a period, and never below zero ------------------------------------


async def test_credits_in_a_row_stop_at_the_agents_limit_for_the_day(shop: Shop) -> None:
    # As observed: six credits of a whole limit on one account, one after the other.
    await shop.settle(credit_limits={"agent": 5_000}, credits_below_zero=True)
    await shop.set_balance(8_990)

    statuses = [(await shop.grant(shop.agent, 5_000)).status for _ in range(6)]

    assert statuses == [GRANTED] + [PENDING] * 5
    assert await shop.balance() == 3_990
    assert [a[0] for a in await shop.audit()] == ["credit.grant"] + ["credit.request"] * 5


async def test_what_was_granted_at_once_counts_against_the_limit_until_the_period_ends(
    shop: Shop,
) -> None:
    await shop.set_balance(100_000)
    assert (await shop.grant(shop.agent, 1_500)).status == GRANTED
    assert (await shop.grant(shop.agent, 600)).status == PENDING  # 2,100 > 2,000
    assert (await shop.grant(shop.agent, 500)).status == GRANTED  # exactly 2,000
    assert (await shop.grant(shop.other_agent, 2_000)).status == GRANTED  # eli's own total
    approved = await shop.grant(shop.agent, 1_000, now=NOW + timedelta(hours=1))
    await shop.decide(approved.id, True, shop.supervisor, NOW + timedelta(hours=2))

    # A supervisor's approval was their decision: it leaves dana's total as it was.
    assert (await shop.grant(shop.agent, 1, now=NOW + timedelta(hours=3))).status == PENDING
    assert (await shop.grant(shop.agent, 2_000, now=NOW + timedelta(days=1))).status == GRANTED
    assert await shop.balance() == 100_000 - 1_500 - 500 - 2_000 - 1_000 - 2_000


async def test_the_period_follows_the_businesss_time_zone_and_setting(shop: Shop) -> None:
    await shop.set_balance(100_000)
    await shop.settle(timezone="Asia/Jerusalem")  # UTC+2 in March
    before_midnight = datetime(2026, 3, 10, 21, 30, tzinfo=UTC)  # 23:30 in Jerusalem
    assert (await shop.grant(shop.agent, 2_000, now=before_midnight)).status == GRANTED
    assert (await shop.grant(shop.agent, 1, now=before_midnight + timedelta(minutes=15))
            ).status == PENDING  # fmt: skip
    assert (await shop.grant(shop.agent, 2_000, now=before_midnight + timedelta(minutes=45))
            ).status == GRANTED  # 00:15 in Jerusalem: a new day  # fmt: skip

    await shop.settle(credit_period="week")  # Monday 9 March to Sunday 15 March
    assert (await shop.grant(shop.agent, 1, now=datetime(2026, 3, 13, 9, tzinfo=UTC))
            ).status == PENDING  # fmt: skip
    assert (await shop.grant(shop.agent, 2_000, now=datetime(2026, 3, 15, 22, tzinfo=UTC))
            ).status == GRANTED  # 00:00 on Monday 16 March in Jerusalem  # fmt: skip


async def test_credits_to_one_account_stop_at_its_total_whoever_grants_them(shop: Shop) -> None:
    await shop.settle(credit_account_limit_minor=3_000)
    other = await shop.another_account()
    assert (await shop.grant(shop.agent, 2_000)).status == GRANTED
    assert (await shop.grant(shop.other_agent, 1_500)).status == PENDING  # 3,500 on it
    assert (await shop.grant(shop.other_agent, 1_000)).status == GRANTED  # exactly 3,000
    assert (await shop.grant(shop.other_agent, 1_000, account_id=other)).status == GRANTED
    assert (await shop.grant(shop.admin, 4_000)).status == GRANTED  # admins never wait
    # The admin's 4,000 took the account's total to 7,000: nothing more today without approval.
    assert (await shop.grant(shop.agent, 1, now=NOW + timedelta(hours=1))).status == PENDING
    # The next day the account's total starts again.
    assert (await shop.grant(shop.agent, 1, now=NOW + timedelta(days=1))).status == GRANTED
    assert await shop.balance() == 10_000 - 2_000 - 1_000 - 4_000 - 1
    assert await shop.balance(other) == 9_000


async def test_a_credit_that_would_take_the_balance_below_zero_is_refused_and_changes_nothing(
    shop: Shop,
) -> None:
    with pytest.raises(BelowZero) as refused:
        await shop.grant(shop.admin, 10_001)  # even an admin's
    assert refused.value.code == "balance_below_zero" and "below zero" in refused.value.message
    with pytest.raises(BelowZero):
        await shop.grant(shop.agent, 10_001)  # not sent for approval either: it would be refused
    assert await shop.statuses() == [] and await shop.audit() == []
    assert await shop.balance() == 10_000

    assert (await shop.grant(shop.admin, 10_000)).status == GRANTED  # down to zero is fine
    assert await shop.balance() == 0


async def test_where_the_business_allows_it_a_credit_takes_the_balance_below_zero(
    shop: Shop,
) -> None:
    await shop.settle(credits_below_zero=True)
    assert (await shop.grant(shop.admin, 15_000)).status == GRANTED
    assert await shop.balance() == -5_000


async def test_an_approval_that_would_take_the_balance_below_zero_is_refused_and_it_waits_on(
    shop: Shop,
) -> None:
    credit = await shop.grant(shop.agent, 6_000)
    assert credit.status == PENDING
    await shop.set_balance(5_000)  # a payment came in meanwhile

    with pytest.raises(BelowZero):
        await shop.decide(credit.id, True, shop.supervisor)

    assert await shop.statuses() == [PENDING] and await shop.balance() == 5_000
    assert [a[0] for a in await shop.audit()] == ["credit.request"]
    assert (await shop.decide(credit.id, False, shop.supervisor)).status == REJECTED


async def test_credits_asked_for_at_the_same_moment_never_pass_a_limit_only_one_fits(
    shop: Shop,
) -> None:
    await shop.settle(credit_limits={"agent": 5_000})
    await shop.set_balance(100_000)
    other = await shop.another_account(100_000)  # the agent's total holds across accounts

    credits = await asyncio.gather(*(shop.grant(shop.agent, 5_000, account_id=account)
                                     for account in [shop.account_id, other] * 3))  # fmt: skip

    assert sorted(c.status for c in credits) == [GRANTED] + [PENDING] * 5
    assert await shop.balance() + await shop.balance(other) == 195_000


async def test_two_agents_at_the_same_moment_never_pass_the_accounts_total_together(
    shop: Shop,
) -> None:
    await shop.settle(credit_account_limit_minor=2_000)

    credits = await asyncio.gather(shop.grant(shop.agent, 2_000),
                                   shop.grant(shop.other_agent, 2_000))  # fmt: skip

    assert sorted(c.status for c in credits) == [GRANTED, PENDING]
    assert await shop.balance() == 8_000


async def test_credits_at_the_same_moment_never_take_the_balance_below_zero_together(
    shop: Shop,
) -> None:
    results = await asyncio.gather(shop.grant(shop.admin, 6_000), shop.grant(shop.admin, 6_000),
                                   return_exceptions=True)  # fmt: skip

    assert sorted(type(r).__name__ for r in results) == ["BelowZero", "Credit"]
    assert await shop.balance() == 4_000


async def test_the_report_shows_what_each_agent_granted_in_the_period_against_their_limit(
    shop: Shop,
) -> None:
    await shop.set_balance(100_000)
    async with shop.database.tenant_session(shop.tenant_id) as session, session.begin():
        await session.execute(update(User).where(User.id == shop.other_agent.user_id)
                              .values(credit_limit_minor=3_000))  # fmt: skip
        session.add(User(username="gil", display_name="Gil", role="agent", active=False))
    await shop.grant(shop.agent, 1_500)
    await shop.grant(shop.agent, 100, now=NOW - timedelta(days=1))  # yesterday's
    waiting = await shop.grant(shop.agent, 5_000)
    await shop.decide(waiting.id, True, shop.supervisor)  # sam's decision, not dana's
    await shop.grant(shop.other_agent, 3_000)
    await shop.grant(shop.supervisor, 4_000)
    await shop.grant(shop.admin, 9_000)

    async with shop.database.tenant_session(shop.tenant_id) as session:
        tenant = await session.get(Tenant, shop.tenant_id)
        report = await credit_report(session, tenant, date_from=NOW - timedelta(days=7),
                                     date_to=NOW + timedelta(days=1), limits_at=NOW)

    assert (report.limit_period.name, report.limit_period.start, report.limit_period.end) == (
        "day", datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC))
    assert [(u.agent, u.role, u.used_minor, u.limit_minor, u.remaining_minor)
            for u in report.against_limits] == [
        ("dana", "agent", 1_500, 2_000, 500),
        ("eli", "agent", 3_000, 3_000, 0),  # his own limit
        ("sam", "supervisor", 4_000, 20_000, 16_000),
    ]  # gil is inactive and granted nothing; ada is an admin: no limit  # fmt: skip
