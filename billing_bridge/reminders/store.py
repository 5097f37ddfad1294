"""A business's reminder settings, and the changes that stop reminders at once: a customer's
opt-out (a link or an SMS STOP reply) and an account's collections hold (a dispute). Each is
audited and told to the billing system in its own transaction; each stops the reminders
still planned for whom it concerns (`reminder.stopped`).

The stop conditions are also read again by the sender in the transaction that claims a
reminder (`why_stop`), so whatever committed first wins: an opt-out that commits before
the claim stops the message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collections.errors import NotFound
from billing_bridge.events.objects import iso, refs
from billing_bridge.events.outbox import emit
from billing_bridge.reminders import rules
from pbx.audit import Actor, By, Target, record
from pbx.db.models import (
    Account,
    Customer,
    Invoice,
    PaymentPlan,
    PlanInstalment,
    Promise,
    Reminder,
    ReminderSettings,
)

ACTOR = By("reminders")
OPT_OUT_VIA = ("link", "sms_stop", "staff")


async def schedule_of(session: AsyncSession) -> rules.Schedule | None:
    """The session's business's schedule; None: it sends no reminders."""
    row = await session.scalar(select(ReminderSettings))
    return None if row is None else rules.schedule_of(row)


async def change_schedule(
    session: AsyncSession, tenant_id: int, schedule: rules.Schedule | None, *, actor: Actor,
    now: datetime,
) -> rules.Schedule | None:  # fmt: skip
    """Store a (checked) schedule, or remove it (None: no more reminders; those planned are
    stopped), audited with what it was."""
    row = await session.scalar(select(ReminderSettings).with_for_update())
    before = None if row is None else rules.schedule_of(row).as_json()
    if schedule is None:
        if row is not None:
            await session.delete(row)
            await _stop_planned(session, tenant_id, Reminder.status == "planned", "no_schedule",
                                now)  # fmt: skip
    else:
        stored = schedule.as_json()
        if row is None:
            row = ReminderSettings(tenant_id=tenant_id)
            session.add(row)
        row.steps, row.templates, row.holidays = stored["steps"], stored["templates"], \
            stored["holidays"]  # fmt: skip
        row.quiet_from, row.quiet_until, row.updated_at = schedule.quiet_from, \
            schedule.quiet_until, now  # fmt: skip
    await session.flush()
    record(session, tenant_id=tenant_id, actor=actor, action="reminders.schedule",
           target=Target("tenant", tenant_id),
           details={"before": before, "after": None if schedule is None else schedule.as_json()},
           at=now)  # fmt: skip
    return schedule


async def reminder_object(session: AsyncSession, reminder: Reminder) -> dict[str, Any]:
    owner = await refs(session, reminder.account_id)
    return {
        "object": "reminder", "id": reminder.id, "account_id": reminder.account_id,
        "account_ref": owner.account_ref, "customer_id": owner.customer_id,
        "customer_ref": owner.customer_ref, "step_day": reminder.step_day,
        "channel": reminder.channel, "overdue_since": reminder.overdue_since.isoformat(),
        "status": reminder.status, "stop_reason": reminder.stop_reason,
        "message_id": reminder.message_id, "payment_id": reminder.payment_id,
        "created_at": iso(reminder.created_at), "decided_at": iso(reminder.decided_at),
    }  # fmt: skip


async def reminder_event(session: AsyncSession, reminder: Reminder, type: str) -> str:
    """reminder.sent (handed to the outbox; `reminder.listed` rows are not events) or
    reminder.stopped."""
    obj = await reminder_object(session, reminder)
    return emit(session, reminder.tenant_id, type, obj, account_id=reminder.account_id)


async def stop(session: AsyncSession, reminder: Reminder, reason: str, now: datetime) -> None:
    """A planned reminder that will not go out: audited and emitted."""
    reminder.status, reminder.stop_reason, reminder.decided_at = "stopped", reason, now
    await session.flush()
    record(session, tenant_id=reminder.tenant_id, actor=ACTOR, action="reminder.stopped",
           target=Target("reminder", reminder.id),
           details={"account_id": reminder.account_id, "step_day": reminder.step_day,
                    "channel": reminder.channel, "reason": reason}, at=now)  # fmt: skip
    await reminder_event(session, reminder, "reminder.stopped")


async def _stop_planned(
    session: AsyncSession, tenant_id: int, where: Any, reason: str, now: datetime
) -> int:
    planned = (await session.scalars(
        select(Reminder).where(Reminder.status == "planned", where).order_by(Reminder.id)
        .with_for_update()
    )).all()  # fmt: skip
    for reminder in planned:
        await stop(session, reminder, reason, now)
    return len(planned)


async def stop_for_account(
    session: AsyncSession, tenant_id: int, account_id: int, reason: str, now: datetime
) -> int:
    """Stop the account's planned reminders now (a promise or a plan was made: `promise`,
    `plan`), in the caller's transaction; how many."""
    return await _stop_planned(session, tenant_id, Reminder.account_id == account_id, reason,
                               now)  # fmt: skip


async def opt_out(
    session: AsyncSession, tenant_id: int, customer_id: int, *, via: str, now: datetime,
    actor: Actor = ACTOR,
) -> bool:  # fmt: skip
    """The customer gets no more reminders; False if they had opted out already (nothing is
    written twice). The customer's planned reminders are locked and stopped first, in the
    order the sender locks them (a reminder, then its customer), so the two never wait on
    each other in a circle."""
    if via not in OPT_OUT_VIA:
        raise ValueError(f"opt-out via {via!r}")
    await _stop_planned(session, tenant_id, Reminder.customer_id == customer_id, "opted_out", now)
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    )
    if customer is None:
        raise NotFound("no such customer")
    if customer.reminders_opted_out_at is not None:
        return False
    customer.reminders_opted_out_at = now
    await session.flush()
    record(session, tenant_id=tenant_id, actor=actor, action="customer.opted_out",
           target=Target("customer", customer_id), details={"via": via}, at=now)  # fmt: skip
    emit(session, tenant_id, "customer.opted_out",
         {"object": "customer", "id": customer_id, "customer_ref": customer.customer_ref,
          "reminders_opted_out_at": iso(now), "via": via})  # fmt: skip
    return True


async def opt_in(
    session: AsyncSession, tenant_id: int, customer_id: int, *, actor: Actor, now: datetime
) -> None:
    """Staff record that the customer asked for reminders again (audited)."""
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    )
    if customer is None:
        raise NotFound("no such customer")
    if customer.reminders_opted_out_at is not None:
        customer.reminders_opted_out_at = None
        record(session, tenant_id=tenant_id, actor=actor, action="customer.opted_in",
               target=Target("customer", customer_id), at=now)  # fmt: skip


async def set_hold(
    session: AsyncSession, tenant_id: int, account_id: int, reason: str | None, *,
    actor: Actor, now: datetime,
) -> Account:  # fmt: skip
    """Hold collections on an account (a dispute opened, `reason` says what) or release it
    (None). A hold stops the account's planned reminders at once."""
    if reason is not None:
        await _stop_planned(session, tenant_id, Reminder.account_id == account_id, "dispute",
                            now)  # fmt: skip
    account = await session.scalar(
        select(Account).where(Account.id == account_id).with_for_update()
    )
    if account is None:
        raise NotFound("no such account")
    before = account.collections_hold
    account.collections_hold = reason
    account.collections_hold_at = now if reason is not None else None
    await session.flush()
    record(session, tenant_id=tenant_id, actor=actor,
           action="account.collections_hold" if reason else "account.collections_released",
           target=Target("account", account_id),
           details={"before": before, "after": reason}, at=now)  # fmt: skip
    return account


def promise_in_good_standing() -> Any:
    return exists().where(Promise.account_id == Account.id, Promise.status == "open")


def plan_in_good_standing() -> Any:
    """An active plan none of whose instalments is broken."""
    broken = exists().where(PlanInstalment.plan_id == PaymentPlan.id,
                            PlanInstalment.status == "broken")  # fmt: skip
    return exists().where(PaymentPlan.account_id == Account.id, PaymentPlan.status == "active",
                          ~broken)  # fmt: skip


def overdue_since(today: date) -> Any:
    """The account's oldest overdue open invoice's date (a correlated scalar subquery)."""
    return (
        select(func.min(Invoice.due_on))
        .where(Invoice.account_id == Account.id, Invoice.status == "open",
               Invoice.outstanding_minor > 0, Invoice.due_on < today)
        .scalar_subquery()
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Standing:
    balance_minor: int
    overdue_minor: int
    overdue_since: date | None
    hold: str | None
    promise: bool
    plan: bool


async def standing(session: AsyncSession, account_id: int, today: date) -> Standing | None:
    overdue = (
        select(func.coalesce(func.sum(Invoice.outstanding_minor), 0))
        .where(Invoice.account_id == Account.id, Invoice.status == "open",
               Invoice.outstanding_minor > 0, Invoice.due_on < today)
        .scalar_subquery()
    )  # fmt: skip
    row = (await session.execute(
        select(Account.balance_minor, overdue.label("overdue"),
               overdue_since(today).label("since"), Account.collections_hold,
               promise_in_good_standing().label("promise"),
               plan_in_good_standing().label("plan"))
        .where(Account.id == account_id)
    )).one_or_none()  # fmt: skip
    if row is None:
        return None
    owed = max(int(row.balance_minor), 0)
    return Standing(int(row.balance_minor), min(int(row.overdue), owed), row.since,
                    row.collections_hold, bool(row.promise), bool(row.plan))  # fmt: skip


def why_stop(standing: Standing | None, opted_out: bool) -> str | None:
    """The reason a reminder must not go out now, or None. In the order a person would
    give it: they opted out, it is disputed, it is paid, it is promised, it is planned."""
    if opted_out:
        return "opted_out"
    if standing is None:
        return "paid"
    if standing.hold is not None:
        return "dispute"
    if standing.balance_minor <= 0 or standing.overdue_minor <= 0:
        return "paid"
    if standing.promise:
        return "promise"
    if standing.plan:
        return "plan"
    return None


def at_worklist_step(today: date) -> Any:
    """The business's accounts at the add-to-worklist step and still to be called: listed
    by the schedule, still overdue, not held, promised or planned (for the worklist). A
    select of (account_id, customer_id, step_day, overdue_since, listed_on) to order and
    page as the worklist needs."""
    return (
        select(Reminder.account_id, Reminder.customer_id, Reminder.step_day,
               Reminder.overdue_since, Reminder.planned_on.label("listed_on"))
        .join(Account, Account.id == Reminder.account_id)
        .where(Reminder.channel == "worklist", Reminder.status == "listed",
               Account.collections_hold.is_(None), Account.balance_minor > 0,
               overdue_since(today) == Reminder.overdue_since,
               ~promise_in_good_standing(), ~plan_in_good_standing())
    )  # fmt: skip


async def reminders_of(
    session: AsyncSession, account_id: int, limit: int = 50
) -> Sequence[Reminder]:
    return (await session.scalars(
        select(Reminder).where(Reminder.account_id == account_id)
        .order_by(Reminder.id.desc()).limit(limit)
    )).all()  # fmt: skip


async def supersede(session: AsyncSession, now: datetime) -> int:
    """Planned reminders an account has passed (a later step of the same episode exists):
    stopped as superseded, so an account never gets two steps at once."""
    later = Reminder.__table__.alias("later")
    result = await session.execute(
        update(Reminder)
        .where(Reminder.status == "planned", exists().where(and_(
            later.c.account_id == Reminder.account_id,
            later.c.overdue_since == Reminder.overdue_since,
            later.c.step_day > Reminder.step_day)))
        .values(status="stopped", stop_reason="superseded", decided_at=now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
