"""A payment plan: what is overdue on an account split into instalments (amounts that add up
exactly, `rules.split`), paid by a mandate, a card on file or a pay link, with the
customer's consent recorded (who took it, when, and in a call the call and its running
recording, which must not be paused). Cancelled with a reason. Audited and emitted in the
caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collections import access, rules
from billing_bridge.collections.access import Staff
from billing_bridge.collections.errors import Conflict, Invalid
from billing_bridge.collections.events import plan_event
from billing_bridge.collections.promises import none_open
from billing_bridge.reminders import store as reminders
from pbx.audit import By, Target, record
from pbx.db.models import Mandate, PaymentPlan, PlanInstalment

# Which mandates pay a plan of each method (a card on file is a mandate of scheme "card").
USABLE_MANDATES = ("pending", "submitted", "active")


@dataclass(frozen=True, slots=True)
class PlanOrder:
    account_id: int
    instalment_count: int
    frequency: str  # weekly, fortnightly, monthly
    first_due_on: date
    method: str  # mandate, card_on_file, pay_link
    mandate_id: int | None = None  # the mandate or card on file (methods other than pay_link)


async def make_plan(
    session: AsyncSession, tenant_id: int, order: PlanOrder, *, staff: Staff, now: datetime,
    call_id: str | None = None,
) -> tuple[PaymentPlan, list[PlanInstalment]]:  # fmt: skip
    """The overdue amount in instalments; consent by `staff` now, in `call_id` if given.
    Raises a `CollectionsError`."""
    business = await access.business(session, tenant_id)
    account = await access.locked_account(session, order.account_id, in_body=True)
    call = None
    if call_id is not None:
        call = await access.in_call(session, call_id, account, staff)
    else:
        await access.may_act_on(session, account, staff)
    await none_open(session, account.id)
    mandate_id = await _payer(session, order, account.id)
    today = rules.local_day(now, business.zone)
    overdue, _ = await access.overdue_of(session, account, today)
    if overdue <= 0:
        raise Conflict("the account owes nothing", code="nothing_owed")
    schedule = rules.check_plan(overdue, order.instalment_count, order.frequency,
                                order.first_due_on, today=today, caps=business.caps)  # fmt: skip
    plan = PaymentPlan(
        account_id=account.id, total_minor=overdue, currency=account.currency,
        instalment_count=order.instalment_count, frequency=order.frequency,
        first_due_on=order.first_due_on, method=order.method, mandate_id=mandate_id,
        status="active", paid_minor=0, consent_by_id=staff.user_id, consent_at=now,
        consent_call_id=call.record_id if call else None,
        consent_recording_id=call.recording_id if call else None, created_at=now,
    )  # fmt: skip
    session.add(plan)
    await session.flush()
    instalments = [
        PlanInstalment(plan_id=plan.id, number=number, due_on=due_on, amount_minor=amount,
                       paid_minor=0, status="pending")
        for number, (due_on, amount) in enumerate(schedule, start=1)
    ]  # fmt: skip
    session.add_all(instalments)
    await session.flush()
    record(session, tenant_id=tenant_id, actor=By(staff.label, staff.user_id),
           action="plan.created", target=Target("payment_plan", plan.id),
           details={"account_id": account.id, "total_minor": overdue,
                    "currency": account.currency, "instalments": [
                        [d.isoformat(), a] for d, a in schedule],
                    "method": order.method, "mandate_id": mandate_id,
                    "consent_call_id": plan.consent_call_id,
                    "consent_recording_id": plan.consent_recording_id})  # fmt: skip
    await plan_event(session, plan, instalments, "plan.created")
    await reminders.stop_for_account(session, tenant_id, account.id, "plan", now)
    return plan, instalments


async def _payer(session: AsyncSession, order: PlanOrder, account_id: int) -> int | None:
    """The mandate (or card on file) that pays the plan; none for a pay link."""
    if order.method == "pay_link":
        if order.mandate_id is not None:
            raise Invalid("mandate_id", "a plan paid by link names no mandate")
        return None
    if order.mandate_id is None:
        raise Invalid("mandate_id", f"required for method {order.method}")
    mandate = await session.scalar(
        select(Mandate).where(Mandate.id == order.mandate_id, Mandate.account_id == account_id)
    )
    if mandate is None or mandate.status not in USABLE_MANDATES:
        raise Invalid("mandate_id", "no usable mandate of this account")
    if (mandate.scheme == "card") != (order.method == "card_on_file"):
        raise Invalid("mandate_id", f"a {mandate.scheme} mandate does not pay by {order.method}")
    return mandate.id


async def instalments_of(session: AsyncSession, plan_id: int) -> list[PlanInstalment]:
    rows = await session.scalars(
        select(PlanInstalment).where(PlanInstalment.plan_id == plan_id)
        .order_by(PlanInstalment.number).with_for_update()
    )  # fmt: skip
    return list(rows.all())


async def cancel_plan(
    session: AsyncSession, tenant_id: int, plan_id: int, reason: str, *, staff: Staff,
    now: datetime,
) -> tuple[PaymentPlan, list[PlanInstalment]]:  # fmt: skip
    """An active plan cancelled with the reason; its pending instalments with it (kept and
    broken ones stay as they were decided)."""
    plan = await access.held_for_change(session, PaymentPlan, plan_id, staff, "plan")
    if plan.status != "active":
        raise Conflict(f"the plan is {plan.status}, not active", code="not_active")
    instalments = await instalments_of(session, plan.id)
    for instalment in instalments:
        if instalment.status == "pending":
            instalment.status, instalment.decided_at = "cancelled", now
    plan.status, plan.decided_at = "cancelled", now
    plan.cancelled_by_id, plan.cancel_reason = staff.user_id, reason
    await session.flush()
    record(session, tenant_id=tenant_id, actor=By(staff.label, staff.user_id),
           action="plan.cancelled", target=Target("payment_plan", plan.id),
           details={"account_id": plan.account_id, "reason": reason,
                    "paid_minor": plan.paid_minor})  # fmt: skip
    await plan_event(session, plan, instalments, "plan.cancelled")
    return plan, instalments
