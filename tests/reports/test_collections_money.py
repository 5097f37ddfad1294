"""The money report's promises and plans: made, kept and broken promises, plans created and
instalments collected or failed, per agent, the queue of the call they were taken in and
method, and the amount collected per call handled, equal what the raw rows say (on both
databases), narrowed by agent and queue."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import (
    Account,
    AccountEntry,
    Call,
    Payment,
    PaymentPlan,
    PlanInstalment,
    Promise,
)
from pbx.reports.money import COLLECTIONS_KINDS, CollectedPerCall, MoneyQuery, money_report
from pbx.reports.periods import Interval, Period, period
from tests.factories import make_customer, make_tenant
from tests.reports.calls import staff

VILNIUS = ZoneInfo("Europe/Vilnius")
DAY = date(2026, 5, 4)
Key = tuple[str, str | None, int | None, int | None, str]
PerCallKey = tuple[int | None, int | None, str | None]


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
            arrived = start + timedelta(hours=6 * n)  # the first and last outside the day
            call = Call(channel_id=f"ch-{n}", caller_raw="+37061234567", match="none",
                        queue_id=rng.choice([*business.queues, None]),
                        agent_id=rng.choice(business.agents), arrived_at=arrived,
                        answered_at=None if n == 3 else arrived + timedelta(minutes=1),
                        ended_at=None if n == 2 else arrived + timedelta(minutes=9))  # fmt: skip
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
        for n in range(30):  # some before the agent answered (the caller's own, in the IVR)
            call, account = rng.choice(calls), rng.choice(accounts)
            at = call.arrived_at + timedelta(seconds=rng.randrange(20 * 60))
            payment = Payment(account_id=account.id, amount_minor=rng.randrange(1, 90000),
                              currency=account.currency, method="card", provider="sandbox",
                              status="succeeded", idempotency_key=f"pay-{n}", created_at=at,
                              call_id=call.id)  # fmt: skip
            session.add(payment)
            await session.flush()
            session.add(AccountEntry(account_id=account.id, kind="payment",
                                     amount_minor=-payment.amount_minor,
                                     currency=account.currency, balance_after_minor=0,
                                     payment_id=payment.id, created_at=at))  # fmt: skip
    return business.agents


async def _vilnius_day(database: Database) -> tuple[int, list[int], Period]:
    """A Lithuanian business with the promises, plans, calls and payments above, and its day."""
    tenant = await make_tenant(database, "vilnius", "LT", "EUR", [], timezone="Europe/Vilnius")
    agents = await _promises_and_plans(database, tenant)
    return tenant, agents, period(VILNIUS, DAY, DAY, Interval.DAY)


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
    tenant, agents, span = await _vilnius_day(database)

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


async def _expected_per_call(
    database: Database, tenant: int, start: datetime, end: datetime, agents: tuple[int, ...] = ()
) -> dict[PerCallKey, list[int]]:
    """Calls answered by an agent and ended that arrived in the period (one is still going),
    and the payments taken in them once answered, from the raw rows."""
    async with database.tenant_session(tenant) as session:
        handled = {c.id: c for c in await session.scalars(select(Call))
                   if c.answered_at is not None and c.agent_id is not None
                   and c.ended_at is not None and start <= c.arrived_at < end
                   and (not agents or c.agent_id in agents)}  # fmt: skip
        payments = {p.id: p for p in await session.scalars(select(Payment))}
        entries = list(await session.scalars(select(AccountEntry)))
    calls: dict[tuple[int | None, int | None], int] = defaultdict(int)
    for c in handled.values():
        calls[(c.agent_id, c.queue_id)] += 1
        calls[(None, None)] += 1
    amounts: dict[PerCallKey, int] = defaultdict(int)
    for entry in entries:
        payment = payments.get(entry.payment_id)  # type: ignore[arg-type]
        call = handled.get(payment.call_id) if payment and payment.call_id else None
        if entry.kind == "payment" and call and payment.created_at >= call.answered_at:  # type: ignore[union-attr,operator]
            for key in ((call.agent_id, call.queue_id), (None, None)):
                amounts[(*key, entry.currency)] += -entry.amount_minor
    expected = {key: [calls[key[:2]], minor, minor // calls[key[:2]]]
                for key, minor in amounts.items()}  # fmt: skip
    for key, n in calls.items():
        if not any(k[:2] == key for k in amounts):
            expected[(*key, None)] = [n, 0, 0]
    return expected


async def test_the_amount_collected_per_call_handled_equals_the_raw_rows(
    database: Database,
) -> None:
    tenant, agents, span = await _vilnius_day(database)

    report = await money_report(database, tenant, MoneyQuery(span))
    mine = await money_report(database, tenant, MoneyQuery(span, agents=(agents[0],)))

    def got(rows: list[CollectedPerCall]) -> dict[PerCallKey, list[int]]:
        return {(r.agent_id, r.queue_id, r.currency): [r.calls, r.amount_minor,
                                                       r.per_call_minor] for r in rows}  # fmt: skip

    expected = await _expected_per_call(database, tenant, span.start, span.end)
    assert got(report.per_call) == expected
    totals = [r for r in report.per_call if r.agent_id is None]
    # of six: one not answered, two out of the day, one still going
    assert {r.calls for r in totals} == {2}
    assert report.per_call[-len(totals):] == totals and len(totals) == 2  # EUR and ILS
    assert got(mine.per_call) == await _expected_per_call(database, tenant, span.start,
                                                          span.end, (agents[0],))  # fmt: skip
