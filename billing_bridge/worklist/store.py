"""The worklist in the database: the business's policy, the build (one grouped scan of the
overdue accounts, streamed and scored in batches, upserted by account), and the do-not-call
list and flag (audited).

The build leaves out what compliance refuses whatever the hour (a do-not-call customer, a
dispute, a promise or a plan in good standing); the rest (window, attempts, listed numbers)
is judged when an entry is claimed and again when it is dialled (`claims`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collections.errors import Conflict, NotFound
from billing_bridge.collections.rules import local_day, zone_named
from billing_bridge.reminders.store import plan_in_good_standing, promise_in_good_standing
from billing_bridge.worklist import rules
from pbx.audit import Actor, Target, record
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    Call,
    CollectionAttempt,
    Customer,
    DoNotCallNumber,
    Invoice,
    PaymentPlan,
    PlanInstalment,
    Promise,
    Reminder,
    ReminderSettings,
    Tenant,
    WorklistEntry,
    WorklistSettings,
)

RECENT_DAYS = 30  # a broken promise or a failed collection this recent lists the account
BROKEN_COUNTED_DAYS = 180  # broken promises counted in the score
CALLBACK_DAYS = 7  # a callback asked for this recently and not yet served
BATCH = 2_000
EVERY_MINUTES = 15  # `serve` builds every business's worklist this often
_DIALECTS = {"postgresql": postgresql, "sqlite": sqlite}


async def policy_of(session: AsyncSession) -> rules.Policy:
    """The session's business's rules (the defaults where it has set none), with the
    reminders' holidays."""
    row = await session.scalar(select(WorklistSettings))
    holidays = await session.scalar(select(ReminderSettings.holidays)) or ()
    days = frozenset(date.fromisoformat(d) for d in holidays)
    if row is None:
        return rules.Policy(holidays=days)
    return rules.Policy(row.call_from, row.call_until, row.max_attempts, row.no_contact_days,
                        row.claim_minutes, days)  # fmt: skip


async def change_policy(
    session: AsyncSession, tenant_id: int, policy: rules.Policy, *, actor: Actor, now: datetime
) -> rules.Policy:
    """Store a checked policy, audited with what it was (`worklist.settings`)."""
    rules.check_policy(policy)
    row = await session.scalar(select(WorklistSettings).with_for_update())
    before = None if row is None else _settings_json(row)
    if row is None:
        row = WorklistSettings(tenant_id=tenant_id)
        session.add(row)
    row.call_from, row.call_until = policy.call_from, policy.call_until
    row.max_attempts, row.no_contact_days = policy.max_attempts, policy.no_contact_days
    row.claim_minutes, row.updated_at = policy.claim_minutes, now
    await session.flush()
    record(session, tenant_id=tenant_id, actor=actor, action="worklist.settings",
           target=Target("tenant", tenant_id),
           details={"before": before, "after": _settings_json(row)}, at=now)  # fmt: skip
    return await policy_of(session)


def _settings_json(row: WorklistSettings) -> dict[str, Any]:
    return {"call_from": row.call_from, "call_until": row.call_until,
            "max_attempts": row.max_attempts, "no_contact_days": row.no_contact_days,
            "claim_minutes": row.claim_minutes}  # fmt: skip


# --- the build --------------------------------------------------------------------------


def candidates(tenant_id: int, today: date, now: datetime, no_contact_days: int) -> Any:
    """The business's overdue accounts that some rule may list, with what scoring needs:
    one grouped scan of the overdue open invoices, each account's signals read through its
    own indexes. Compliance that holds whatever the hour is applied here."""
    overdue = (
        select(Invoice.account_id, func.min(Invoice.due_on).label("since"),
               func.sum(Invoice.outstanding_minor).label("amount"))
        .where(Invoice.tenant_id == tenant_id, Invoice.status == "open",
               Invoice.due_on < today, Invoice.outstanding_minor > 0)
        .group_by(Invoice.account_id)
        .subquery("overdue")
    )  # fmt: skip
    recent = now - timedelta(days=RECENT_DAYS)
    last_contact = (
        select(func.max(Call.arrived_at))
        .where(Call.customer_id == Account.customer_id, Call.answered_at.is_not(None))
        .scalar_subquery()
    )  # fmt: skip
    counted = now - timedelta(days=BROKEN_COUNTED_DAYS)
    broken_promises = (
        select(func.count(Promise.id))
        .where(Promise.account_id == Account.id, Promise.status == "broken",
               Promise.decided_at >= counted)
        .scalar_subquery()
    )  # fmt: skip
    broken_instalments = (
        select(func.count(PlanInstalment.id))
        .join(PaymentPlan, PaymentPlan.id == PlanInstalment.plan_id)
        .where(PaymentPlan.account_id == Account.id, PlanInstalment.status == "broken",
               PlanInstalment.decided_at >= counted)
        .scalar_subquery()
    )  # fmt: skip
    broken_recently = or_(
        exists().where(Promise.account_id == Account.id, Promise.status == "broken",
                       Promise.decided_at >= recent),
        exists().where(PaymentPlan.account_id == Account.id,
                       PlanInstalment.plan_id == PaymentPlan.id,
                       PlanInstalment.status == "broken", PlanInstalment.decided_at >= recent),
    )  # fmt: skip
    failed_recently = exists().where(
        CollectionAttempt.invoice_id == Invoice.id, Invoice.account_id == Account.id,
        CollectionAttempt.status == "failed", CollectionAttempt.updated_at >= recent,
        Invoice.status == "open", Invoice.outstanding_minor > 0,
    )  # fmt: skip
    at_step = exists().where(
        Reminder.account_id == Account.id, Reminder.channel == "worklist",
        Reminder.status == "listed", Reminder.overdue_since == overdue.c.since,
    )  # fmt: skip
    later = select(Call.id).where(
        Call.customer_id == Account.customer_id, Call.answered_at.is_not(None),
    )  # fmt: skip
    asked = Call.__table__.alias("asked")
    callback_pending = exists().where(
        asked.c.customer_id == Account.customer_id, asked.c.tenant_id == tenant_id,
        asked.c.outcome == "callback", asked.c.arrived_at >= now - timedelta(days=CALLBACK_DAYS),
        ~later.where(Call.arrived_at > asked.c.arrived_at).exists(),
    )  # fmt: skip
    signals = (broken_recently.label("broken_recently"),
               failed_recently.label("failed_recently"), at_step.label("at_step"),
               callback_pending.label("callback_pending"))  # fmt: skip
    return (
        select(Account.id, Account.customer_id, Account.balance_minor, overdue.c.since,
               overdue.c.amount, last_contact.label("last_contact"),
               (broken_promises + broken_instalments).label("broken"), *signals)
        .select_from(overdue)
        .join(Account, Account.id == overdue.c.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Account.balance_minor > 0, Account.collections_hold.is_(None),
               Customer.do_not_call_at.is_(None),
               ~promise_in_good_standing(), ~plan_in_good_standing(),
               or_(overdue.c.since <= today - timedelta(days=no_contact_days),
                   *(signal for signal in (broken_recently, failed_recently, at_step,
                                            callback_pending))))
    )  # fmt: skip


def entry_values(row: Any, tenant_id: int, today: date, zone: Any, now: datetime,
                 policy: rules.Policy) -> dict[str, Any] | None:  # fmt: skip
    """A candidate's worklist row (reasons, score parts), or None: no rule lists it."""
    contact = row.last_contact
    days_since_contact = None if contact is None else (today - local_day(contact, zone)).days
    signals = rules.Signals((today - row.since).days, days_since_contact,
                            bool(row.broken_recently), bool(row.failed_recently),
                            bool(row.at_step), bool(row.callback_pending))  # fmt: skip
    why = rules.reasons(signals, policy.no_contact_days)
    if not why:
        return None
    overdue_minor = min(int(row.amount), int(row.balance_minor))
    broken = int(row.broken or 0)
    score = rules.score(overdue_minor, signals.days_overdue, days_since_contact, broken)
    return {"tenant_id": tenant_id, "account_id": row.id, "customer_id": row.customer_id,
            "status": "queued", "reasons": why, "overdue_minor": overdue_minor,
            "days_overdue": signals.days_overdue, "days_since_contact": days_since_contact,
            "broken_promises": broken, "score": score.total, "built_at": now}  # fmt: skip


@dataclass
class BuildReport:
    listed: int = 0
    removed: int = 0


def _upsert(dialect: str, day_start: datetime) -> Any:
    """One account's row, built again: its figures refreshed if it is queued, or back in the
    queue if its last call's outcome was before today; a claimed or called entry is the
    agent's until they finish it."""
    insert = _DIALECTS[dialect].insert(WorklistEntry)
    fresh = insert.excluded
    return insert.on_conflict_do_update(
        index_elements=["account_id"],
        set_={"reasons": fresh.reasons, "overdue_minor": fresh.overdue_minor,
              "days_overdue": fresh.days_overdue, "days_since_contact": fresh.days_since_contact,
              "broken_promises": fresh.broken_promises, "score": fresh.score,
              "built_at": fresh.built_at, "status": "queued"},
        where=or_(WorklistEntry.status == "queued",
                  and_(WorklistEntry.status == "done", WorklistEntry.decided_at < day_start)),
    )  # fmt: skip


async def build(database: Database, tenant_id: int, now: datetime) -> BuildReport:
    """Build the business's worklist now: every account a rule lists is upserted (in
    batches, read as a stream so memory stays flat), and queued entries no rule lists any
    more are removed."""
    async with database.tenant_session(tenant_id) as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("business not found")
        zone = zone_named(tenant.timezone)
        policy = await policy_of(session)
    today = local_day(now, zone)
    day_start = datetime.combine(today, time(0), tzinfo=zone)
    statement = _upsert(database.dialect, day_start)
    report = BuildReport()
    query = candidates(tenant_id, today, now, policy.no_contact_days)
    async with database.tenant_session(tenant_id) as reader, \
            database.tenant_session(tenant_id) as writer:  # fmt: skip
        result = await reader.stream(query.execution_options(yield_per=BATCH))
        async for rows in result.partitions(BATCH):
            batch = [v for v in (entry_values(r, tenant_id, today, zone, now, policy)
                                 for r in rows) if v is not None]  # fmt: skip
            if batch:
                async with writer.begin():
                    await writer.execute(statement, batch)
                report.listed += len(batch)
        async with writer.begin():
            gone = await writer.execute(
                delete(WorklistEntry)
                .where(WorklistEntry.status == "queued", WorklistEntry.built_at < now)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
            report.removed = int(gone.rowcount or 0)  # type: ignore[attr-defined]
    return report


async def build_all(database: Database, now: datetime) -> dict[int, BuildReport]:
    """Every enabled business's worklist (`serve` runs it every EVERY_MINUTES; a build is
    an upsert by account, so two processes building at once agree)."""
    async with database.system_session() as session:
        ids = (await session.scalars(
            select(Tenant.id).where(Tenant.disabled.is_(False)).order_by(Tenant.id)
        )).all()  # fmt: skip
    return {tenant_id: await build(database, tenant_id, now) for tenant_id in ids}


# --- do not call ------------------------------------------------------------------------


async def do_not_call_numbers(session: AsyncSession) -> Sequence[DoNotCallNumber]:
    return (await session.scalars(select(DoNotCallNumber).order_by(DoNotCallNumber.e164))).all()


async def add_do_not_call(
    session: AsyncSession, tenant_id: int, e164: str, reason: str | None, *, actor: Actor,
    now: datetime,
) -> DoNotCallNumber:  # fmt: skip
    """Put a number on the business's list (audited); already listed: as it was."""
    listed = await session.scalar(select(DoNotCallNumber).where(DoNotCallNumber.e164 == e164))
    if listed is not None:
        return listed
    row = DoNotCallNumber(tenant_id=tenant_id, e164=e164, reason=reason,
                          added_by_id=actor.user_id, added_at=now)  # fmt: skip
    session.add(row)
    await session.flush()
    record(session, tenant_id=tenant_id, actor=actor, action="do_not_call.added",
           target=Target("number", e164), details={"reason": reason}, at=now)  # fmt: skip
    return row


async def remove_do_not_call(
    session: AsyncSession, tenant_id: int, e164: str, *, actor: Actor, now: datetime
) -> None:
    listed = await session.scalar(
        select(DoNotCallNumber).where(DoNotCallNumber.e164 == e164).with_for_update()
    )
    if listed is None:
        raise NotFound("number not listed")
    await session.delete(listed)
    record(session, tenant_id=tenant_id, actor=actor, action="do_not_call.removed",
           target=Target("number", e164), details={"reason": listed.reason}, at=now)  # fmt: skip


async def set_customer_do_not_call(
    session: AsyncSession, tenant_id: int, customer_id: int, on: bool, *, actor: Actor,
    now: datetime,
) -> Customer:  # fmt: skip
    """The customer's own request not to be called (or to be called again), audited; their
    queued entry leaves the worklist at once."""
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    )
    if customer is None:
        raise NotFound("customer not found")
    before = customer.do_not_call_at is not None
    customer.do_not_call_at = now if on else None
    if on:
        await session.execute(
            delete(WorklistEntry)
            .where(WorklistEntry.customer_id == customer_id, WorklistEntry.status == "queued")
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    await session.flush()
    if before != on:
        record(session, tenant_id=tenant_id, actor=actor, action="customer.do_not_call",
               target=Target("customer", customer_id), details={"do_not_call": on},
               at=now)  # fmt: skip
    return customer


def refused(refusal: rules.Refusal) -> Conflict:
    """A compliance refusal as the collections services raise it (409 with the rule's code)."""
    return Conflict(refusal.message, code=refusal.code)


async def entries(session: AsyncSession, status: str | None, limit: int) -> Sequence[WorklistEntry]:
    """The worklist, highest score first (then oldest entry)."""
    query = select(WorklistEntry).order_by(WorklistEntry.score.desc(), WorklistEntry.id)
    if status is not None:
        query = query.where(WorklistEntry.status == status)
    return (await session.scalars(query.limit(limit))).all()
