"""The due-date sweep: every business's open promises and pending instalments not paid in
full by the end of their date in the business's own time zone are broken (audited,
`promise.broken` / `plan.instalment_failed` emitted), a batch per transaction.

Run every few minutes by the service (`pbx/service.py`), safe to run again, late, or in
several processes at once: rows a payment holds at that moment are skipped (PostgreSQL's
SKIP LOCKED) and broken by the next pass if still unpaid; a row is decided once, by whoever
locks it first while it is still open. Locks are taken in the payments' order (a plan, then
its instalments), so the sweep and a payment never wait on each other in a circle.

An instalment the recurring collection run is charging (its charge unanswered, with the
provider, or refused with a retry left: `collection.instalments.collecting`) is the run's to
decide: the sweep leaves it pending, and the run breaks it when no attempt is left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from billing_bridge.collection.instalments import collecting
from billing_bridge.collections import rules
from billing_bridge.collections.plans import instalments_of
from billing_bridge.collections.settlement import break_promise, fail_instalment
from pbx.db.database import Database
from pbx.db.models import PaymentPlan, PlanInstalment, Promise, Tenant

BATCH = 500
EVERY_MINUTES = 10  # how often the service sweeps: a date's end is judged within this


@dataclass
class SweepReport:
    promises_broken: int = 0
    instalments_failed: int = 0

    def __str__(self) -> str:
        return (f"{self.promises_broken} promise(s) broken, "
                f"{self.instalments_failed} instalment(s) failed")  # fmt: skip


async def sweep(database: Database, now: datetime, *, tenant_id: int | None = None) -> SweepReport:
    """Break what each business (or the one given) left unpaid past its date, as of `now`."""
    async with database.system_session() as session:
        query = select(Tenant.id, Tenant.timezone).where(Tenant.disabled.is_(False))
        if tenant_id is not None:
            query = query.where(Tenant.id == tenant_id)
        businesses = (await session.execute(query.order_by(Tenant.id))).all()
    report = SweepReport()
    for business in businesses:
        today = rules.local_day(now, rules.zone_named(business.timezone))
        while await _promises(database, business.id, today, now, report) == BATCH:
            pass
        after: int | None = 0
        while after is not None:
            after = await _plans(database, business.id, today, now, report, after)
    return report


async def _promises(
    database: Database, tenant_id: int, today: date, now: datetime, report: SweepReport
) -> int:
    async with database.tenant_session(tenant_id) as session, session.begin():
        due = (await session.scalars(
            select(Promise).where(Promise.status == "open", Promise.due_on < today)
            .order_by(Promise.id).limit(BATCH).with_for_update(skip_locked=True)
        )).all()  # fmt: skip
        for promise in due:
            await break_promise(session, promise, now, why="unpaid at the end of its date")
        report.promises_broken += len(due)
        return len(due)


async def _plans(
    database: Database, tenant_id: int, today: date, now: datetime, report: SweepReport,
    after: int,
) -> int | None:  # fmt: skip
    """Plans after id `after`; the last one read when a page may follow (None: done)."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        plan_ids = (await session.scalars(
            select(PlanInstalment.plan_id)
            .where(PlanInstalment.status == "pending", PlanInstalment.due_on < today,
                   PlanInstalment.plan_id > after)
            .group_by(PlanInstalment.plan_id).order_by(PlanInstalment.plan_id).limit(BATCH)
        )).all()  # fmt: skip
        for plan_id in plan_ids:
            plan = await session.scalar(
                select(PaymentPlan).where(PaymentPlan.id == plan_id)
                .with_for_update(skip_locked=True)
            )  # fmt: skip
            if plan is None:
                continue  # a payment holds it: the next pass
            instalments = await instalments_of(session, plan.id)
            owned = await collecting(session, plan, instalments, today)
            for instalment in instalments:
                if (instalment.status == "pending" and instalment.due_on < today
                        and instalment.id not in owned):  # fmt: skip
                    await fail_instalment(session, plan, instalments, instalment, now)
                    report.instalments_failed += 1
        return plan_ids[-1] if len(plan_ids) == BATCH else None
