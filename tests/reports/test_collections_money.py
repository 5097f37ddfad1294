"""The money report's promises and plans: made, kept and broken promises, plans created and
instalments collected or failed, per agent, the queue of the call they were taken in and
method, equal what the raw rows say (on both databases), narrowed by agent and queue."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import Account, Call, PaymentPlan, PlanInstalment, Promise
from pbx.reports.money import COLLECTIONS_KINDS, MoneyQuery, money_report
from pbx.reports.periods import Interval, period
from tests.factories import make_customer, make_tenant
from tests.reports.calls import staff

VILNIUS = ZoneInfo("Europe/Vilnius")
DAY = date(2026, 5, 4)
Key = tuple[str, str | None, int | None, int | None, str]


async def _promises_and_plans(database: Database, tenant: int, seed: int = 11) -> list[int]:
    business = await staff(database, tenant)
    rng = random.Random(seed)
    await make_customer(database, tenant, "C-1", "Dana", [],
                        [{"currency": rng.choice(["EUR", "ILS"])} for _ in range(40)])  # fmt: skip
    start = datetime(2026, 5, 3, 18, tzinfo=UTC)  # the evening before to the morning after
    moments = [start + timedelta(minutes=rng.randrange(36 * 60)) for _ in range(200)]
    async with database.tenant_session(tenant) as session, session.begin():
        accounts = list(await session.scalars(select(Account).order_by(Account.id)))
        calls = []
        for n in range(6):
            call = Call(channel_id=f"ch-{n}", caller_raw="+37061234567", match="none",
                        queue_id=rng.choice([*business.queues, None]),
                        agent_id=rng.choice(business.agents))  # fmt: skip
            session.add(call)
            calls.append(call)
        await session.flush()
        for account in accounts[:20]:
            status = rng.choice(["open", "kept", "broken", "cancelled"])
            session.add(Promise(
                account_id=account.id, amount_minor=rng.randrange(1, 50000),
                currency=account.currency, due_on=DAY, overdue_minor=1,
                method=rng.choice(["card_on_file", "pay_link", "bank_transfer"]), status=status,
                call_id=rng.choice([c.id for c in calls] + [None]),
                created_by_id=rng.choice([*business.agents, None]), created_at=rng.choice(moments),
                decided_at=None if status == "open" else rng.choice(moments),
            ))  # fmt: skip
        for account in accounts[20:]:
            plan = PaymentPlan(
                account_id=account.id, total_minor=rng.randrange(1000, 90000),
                currency=account.currency, instalment_count=3, frequency="monthly",
                first_due_on=DAY, method=rng.choice(["mandate", "pay_link"]),
                consent_by_id=rng.choice(business.agents), consent_at=rng.choice(moments),
                consent_call_id=rng.choice([c.id for c in calls] + [None]),
                created_at=rng.choice(moments),
            )  # fmt: skip
            session.add(plan)
            await session.flush()
            for number in (1, 2, 3):
                status = rng.choice(["pending", "kept", "broken"])
                session.add(PlanInstalment(
                    plan_id=plan.id, number=number, due_on=DAY, status=status,
                    amount_minor=rng.randrange(100, 30000),
                    decided_at=None if status == "pending" else rng.choice(moments),
                ))  # fmt: skip
    return business.agents


async def _expected(database: Database, tenant: int, start: datetime,
                    end: datetime) -> dict[Key, list[int]]:  # fmt: skip
    sums: dict[Key, list[int]] = defaultdict(lambda: [0, 0])

    def add(kind: str, method: str, agent: int | None, queue: int | None, currency: str,
            amount: int) -> None:  # fmt: skip
        row = sums[(kind, method, agent, queue, currency)]
        row[0] += 1
        row[1] += amount

    async with database.tenant_session(tenant) as session:
        queue_of = {c.id: c.queue_id for c in await session.scalars(select(Call))}
        for p in await session.scalars(select(Promise)):
            queue = queue_of.get(p.call_id)  # type: ignore[arg-type]
            if start <= p.created_at < end:
                add("promise_made", p.method, p.created_by_id, queue, p.currency, p.amount_minor)
            if p.status in ("kept", "broken") and start <= p.decided_at < end:  # type: ignore[operator]
                add(f"promise_{p.status}", p.method, p.created_by_id, queue, p.currency,
                    p.amount_minor)  # fmt: skip
        plans = {p.id: p for p in await session.scalars(select(PaymentPlan))}
        for plan in plans.values():
            if start <= plan.created_at < end:
                add("plan_created", plan.method, plan.consent_by_id,
                    queue_of.get(plan.consent_call_id), plan.currency, plan.total_minor)  # type: ignore[arg-type]  # fmt: skip
        for i in await session.scalars(select(PlanInstalment)):
            plan = plans[i.plan_id]
            if i.status in ("kept", "broken") and start <= i.decided_at < end:  # type: ignore[operator]
                kind = "instalment_collected" if i.status == "kept" else "instalment_failed"
                add(kind, plan.method, plan.consent_by_id, queue_of.get(plan.consent_call_id),  # type: ignore[arg-type]
                    plan.currency, i.amount_minor)  # fmt: skip
    return dict(sums)


async def test_promises_and_plans_made_and_decided_in_the_day_equal_the_raw_rows(
    database: Database,
) -> None:
    tenant = await make_tenant(database, "vilnius", "LT", "EUR", [], timezone="Europe/Vilnius")
    agents = await _promises_and_plans(database, tenant)
    span = period(VILNIUS, DAY, DAY, Interval.DAY)

    report = await money_report(database, tenant, MoneyQuery(span))

    got = {(f.kind, f.channel, f.agent_id, f.queue_id, f.currency): [f.count, f.amount_minor]
           for f in report.figures if f.kind in COLLECTIONS_KINDS}  # fmt: skip
    expected = await _expected(database, tenant, span.start, span.end)
    assert got == expected
    assert {key[0] for key in expected} == set(COLLECTIONS_KINDS)

    mine = await money_report(database, tenant, MoneyQuery(span, agents=(agents[0],)))
    assert {(f.kind, f.channel, f.agent_id, f.queue_id, f.currency): [f.count, f.amount_minor]
            for f in mine.figures if f.kind in COLLECTIONS_KINDS} == {
        key: value for key, value in expected.items() if key[2] == agents[0]
    }  # fmt: skip
    queue = next(key[3] for key in expected if key[3] is not None)
    narrowed = await money_report(database, tenant, MoneyQuery(span, queues=(queue,)))
    assert {f.queue_id for f in narrowed.figures} == {queue}
