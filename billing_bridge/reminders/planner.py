"""The day's reminders, planned set-based: for each business one INSERT ... SELECT adds a
`planned` reminder for every account at the last step of the schedule its oldest overdue
invoice has reached today (in the business's time zone), unless it is held,
promised, planned, paid or its customer opted out. The unique key (account, step, overdue
since) makes a second run of the same day, or a run in two processes at once, add nothing
(ON CONFLICT DO NOTHING); a later episode (paid, then overdue again) starts over.

No account is read into Python: the cost is one grouped scan of the business's overdue open
invoices (`ix_invoices_tenant_open_due`) and the insert of what is new."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from billing_bridge.collections.rules import local_day, zone_named
from billing_bridge.reminders import rules
from billing_bridge.reminders.store import (
    plan_in_good_standing,
    promise_in_good_standing,
    supersede,
)
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    Customer,
    Invoice,
    PaymentPlan,
    PlanInstalment,
    Promise,
    Reminder,
    ReminderSettings,
    Tenant,
)
from pbx.db.scoped import Scoped, session_connection
from pbx.db.types import UtcDateTime


def _insert_at_steps(dialect: Any, steps: int) -> Scoped:
    """The statement for a schedule of `steps` steps: each overdue account at the last step
    it has reached (a CASE over the steps' latest dates, the largest day first)."""
    tenant = bindparam("tenant_id", type_=BigInteger)
    today = bindparam("today", type_=Date)
    overdue = (
        select(Invoice.account_id, func.min(Invoice.due_on).label("since"))
        .where(Invoice.tenant_id == tenant, Invoice.status == "open", Invoice.due_on < today,
               Invoice.outstanding_minor > 0)
        .group_by(Invoice.account_id)
        .having(func.min(Invoice.due_on) <= bindparam("reached", type_=Date))
        .subquery("overdue")
    )  # fmt: skip
    since = overdue.c.since

    def at_step(value: str, kind: Any) -> Any:
        return case(*((since <= bindparam(f"latest_{n}", type_=Date),
                       cast(bindparam(f"{value}_{n}", type_=kind), kind))
                      for n in range(steps)))  # fmt: skip

    chosen = (
        select(tenant, Account.id, Account.customer_id, at_step("day", Integer),
               at_step("channel", String), since, today, literal("planned"),
               bindparam("now", type_=UtcDateTime))
        .select_from(overdue)
        .join(Account, Account.id == overdue.c.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Account.tenant_id == tenant, Customer.tenant_id == tenant,
               Account.balance_minor > 0, Account.collections_hold.is_(None),
               Customer.reminders_opted_out_at.is_(None),
               ~promise_in_good_standing(), ~plan_in_good_standing())
    )  # fmt: skip
    columns = ["tenant_id", "account_id", "customer_id", "step_day", "channel", "overdue_since",
               "planned_on", "status", "created_at"]  # fmt: skip
    statement = (
        dialect.insert(Reminder)
        .from_select(columns, chosen)
        .on_conflict_do_nothing(index_elements=["account_id", "step_day", "overdue_since"])
    )
    return Scoped(statement, Reminder, Invoice, Account, Customer, Promise, PaymentPlan,
                  PlanInstalment)  # fmt: skip


# Built once per dialect and number of steps; the tenant is a parameter the statement filters
# every table by, and `Scoped` supplies it.
_DIALECTS = {"postgresql": postgresql, "sqlite": sqlite}


@functools.cache
def insert_at_steps(dialect: str, steps: int) -> Scoped:
    return _insert_at_steps(_DIALECTS[dialect], steps)


def step_parameters(steps: Sequence[rules.Step], today: date) -> dict[str, Any]:
    """The statement's parameters: each step's latest overdue date, day and channel, the
    largest day first (the CASE takes the first that holds)."""
    ordered = sorted(steps, key=lambda s: s.day, reverse=True)
    values: dict[str, Any] = {"today": today, "reached": today - timedelta(days=ordered[-1].day)}
    for n, step in enumerate(ordered):
        values |= {f"latest_{n}": today - timedelta(days=step.day), f"day_{n}": step.day,
                   f"channel_{n}": step.channel}  # fmt: skip
    return values


@dataclass
class PlanReport:
    businesses: int = 0
    planned: int = 0
    superseded: int = 0

    def __str__(self) -> str:
        return (f"{self.planned} reminder(s) planned in {self.businesses} business(es), "
                f"{self.superseded} superseded")  # fmt: skip


async def plan(database: Database, now: datetime, *, tenant_id: int | None = None) -> PlanReport:
    """Plan today's reminders of every business with a schedule (or the one given)."""
    async with database.system_session() as session:
        query = (
            select(Tenant.id, Tenant.timezone)
            .join(ReminderSettings, ReminderSettings.tenant_id == Tenant.id)
            .where(Tenant.disabled.is_(False)).order_by(Tenant.id)
        )  # fmt: skip
        if tenant_id is not None:
            query = query.where(Tenant.id == tenant_id)
        businesses = (await session.execute(query)).all()
    report = PlanReport()
    for business in businesses:
        today = local_day(now, zone_named(business.timezone))
        async with database.tenant_session(business.id) as session, session.begin():
            row = await session.scalar(select(ReminderSettings))
            if row is None:
                continue  # removed meanwhile
            schedule = rules.schedule_of(row)
            connection = await session_connection(session)
            statement = insert_at_steps(database.dialect, len(schedule.steps))
            result = await connection.execute(
                statement, step_parameters(schedule.steps, today) | {"now": now})
            report.planned += max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]
            report.superseded += await supersede(session, now)
        report.businesses += 1
    return report
