"""A business in Vilnius (DST on 29 March 2026) whose customer Dana owes 100.01 EUR, all of
it overdue, with an agent, a supervisor and helpers to read what happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select

from billing_bridge.collections.access import Staff
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    AuditEntry,
    BillingEvent,
    Call,
    PaymentPlan,
    PlanInstalment,
    Promise,
    User,
)
from tests.factories import make_customer, make_tenant

# Promises are made at NOW for the day Vilnius moves its clocks to +03:00 (28 March 2027),
# unless a test pays by card, which happens at the real time: then it promises from TODAY.
NOW = datetime(2027, 3, 20, 10, 0, tzinfo=UTC)
DST_DAY = date(2027, 3, 28)
TODAY = datetime.now(UTC)
OWED = 10_001
CALLER = "+37060000001"


@dataclass
class Shop:
    database: Database
    tenant_id: int
    customer_id: int
    account_id: int
    agent: Staff
    other_agent: Staff
    supervisor: Staff


async def open_shop(database: Database, slug: str = "vilnius") -> Shop:
    tenant = await make_tenant(database, slug, "LT", "EUR", [f"+3705200{len(slug):04d}"],
                               timezone="Europe/Vilnius")  # fmt: skip
    customer = await make_customer(database, tenant, "C-1", "Dana", [CALLER], [{
        "currency": "EUR", "balance_minor": OWED,
        "invoices": [{"amount_minor": OWED, "status": "open",
                      "due_on": date(2026, 3, 1)}],
    }])  # fmt: skip
    async with database.tenant_session(tenant) as session, session.begin():
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
        users = [User(username=n, display_name=n, role=r) for n, r in
                 (("avi", "agent"), ("bella", "agent"), ("sam", "supervisor"))]  # fmt: skip
        session.add_all(users)
        await session.flush()
        avi, bella, sam = (Staff(u.id, f"{u.role}:{u.username}", u.role != "agent")
                           for u in users)  # fmt: skip
    assert account is not None
    return Shop(database, tenant, customer, account, avi, bella, sam)


async def answered_call(shop: Shop, staff: Staff, channel: str = "chan-1") -> int:
    """A call from Dana that `staff` is answering now (as the call log has it)."""
    async with shop.database.tenant_session(shop.tenant_id) as session, session.begin():
        call = Call(channel_id=channel, caller_number=CALLER, caller_raw=CALLER,
                    match="unique", customer_id=shop.customer_id, agent_id=staff.user_id,
                    arrived_at=NOW, answered_at=NOW)  # fmt: skip
        session.add(call)
        await session.flush()
        return call.id


async def event_types(shop: Shop) -> list[str]:
    async with shop.database.tenant_session(shop.tenant_id) as session:
        types = await session.scalars(select(BillingEvent.type).order_by(BillingEvent.seq))
        return [t for t in types if t.split(".")[0] in ("promise", "plan")]


async def audit_actions(shop: Shop) -> list[str]:
    async with shop.database.tenant_session(shop.tenant_id) as session:
        actions = await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
        return [a for a in actions if a.split(".")[0] in ("promise", "plan")]


async def promise(shop: Shop, promise_id: int) -> Promise:
    async with shop.database.tenant_session(shop.tenant_id) as session:
        found = await session.get(Promise, promise_id)
        assert found is not None
        return found


async def plan(shop: Shop, plan_id: int) -> tuple[PaymentPlan, list[PlanInstalment]]:
    async with shop.database.tenant_session(shop.tenant_id) as session:
        found = await session.get(PaymentPlan, plan_id)
        rows = await session.scalars(select(PlanInstalment).where(PlanInstalment.plan_id ==
                                                                  plan_id)
                                     .order_by(PlanInstalment.number))  # fmt: skip
        assert found is not None
        return found, list(rows.all())


async def balance(shop: Shop) -> int:
    async with shop.database.tenant_session(shop.tenant_id) as session:
        account = await session.get(Account, shop.account_id)
        assert account is not None
        return account.balance_minor
