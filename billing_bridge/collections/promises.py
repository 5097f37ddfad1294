"""A promise to pay: made in a call or on an account, within the business's caps, at most
one open an account (and none while a plan is active), cancelled with a reason. Each change
is audited and emitted in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collections import access, rules
from billing_bridge.collections.access import Staff
from billing_bridge.collections.errors import Conflict
from billing_bridge.collections.events import promise_event
from billing_bridge.reminders import store as reminders
from pbx.audit import By, Target, record
from pbx.db.models import PaymentPlan, Promise


@dataclass(frozen=True, slots=True)
class PromiseOrder:
    account_id: int
    amount_minor: int
    due_on: date
    method: str  # card_on_file, mandate, pay_link, bank_transfer


async def make_promise(
    session: AsyncSession, tenant_id: int, order: PromiseOrder, *, staff: Staff,
    now: datetime, call_id: str | None = None,
) -> Promise:  # fmt: skip
    """`call_id`: the live call it is made in (then the account must be the caller's); else
    on the account (an agent only while talking to its owner). Raises a `CollectionsError`."""
    business = await access.business(session, tenant_id)
    account = await access.locked_account(session, order.account_id, in_body=True)
    call = None
    if call_id is not None:
        call = await access.in_call(session, call_id, account, staff)
    else:
        await access.may_act_on(session, account, staff)
    await none_open(session, account.id)
    today = rules.local_day(now, business.zone)
    overdue, owed = await access.overdue_of(session, account, today)
    if owed <= 0:
        raise Conflict("the account owes nothing", code="nothing_owed")
    rules.check_promise(order.amount_minor, order.due_on, today=today, overdue_minor=overdue,
                        owed_minor=owed, caps=business.caps)  # fmt: skip
    promise = Promise(
        account_id=account.id, amount_minor=order.amount_minor, currency=account.currency,
        due_on=order.due_on, method=order.method, status="open", overdue_minor=overdue,
        paid_minor=0, late_paid_minor=0, call_id=call.record_id if call else None,
        created_by_id=staff.user_id, created_at=now,
    )  # fmt: skip
    session.add(promise)
    await session.flush()
    record(session, tenant_id=tenant_id, actor=By(staff.label, staff.user_id),
           action="promise.created", target=Target("promise", promise.id),
           details={"account_id": account.id, "amount_minor": order.amount_minor,
                    "currency": account.currency, "due_on": order.due_on.isoformat(),
                    "method": order.method, "overdue_minor": overdue,
                    "call_id": promise.call_id})  # fmt: skip
    await promise_event(session, promise, "promise.created")
    await reminders.stop_for_account(session, tenant_id, account.id, "promise", now)
    return promise


async def none_open(session: AsyncSession, account_id: int) -> None:
    if await session.scalar(select(Promise.id).where(Promise.account_id == account_id,
                                                     Promise.status == "open")):  # fmt: skip
        raise Conflict("the account has an open promise already", code="promise_open")
    active = select(PaymentPlan.id).where(PaymentPlan.account_id == account_id,
                                          PaymentPlan.status == "active")  # fmt: skip
    if await session.scalar(active):
        raise Conflict("the account has an active payment plan", code="plan_active")


async def cancel_promise(
    session: AsyncSession, tenant_id: int, promise_id: int, reason: str, *, staff: Staff,
    now: datetime,
) -> Promise:  # fmt: skip
    """An open promise cancelled (by whoever may act on its account), with the reason."""
    promise = await access.held_for_change(session, Promise, promise_id, staff, "promise")
    if promise.status != "open":
        raise Conflict(f"the promise is {promise.status}, not open", code="not_open")
    promise.status, promise.decided_at = "cancelled", now
    promise.cancelled_by_id, promise.cancel_reason = staff.user_id, reason
    await session.flush()
    record(session, tenant_id=tenant_id, actor=By(staff.label, staff.user_id),
           action="promise.cancelled", target=Target("promise", promise.id),
           details={"account_id": promise.account_id, "reason": reason})  # fmt: skip
    await promise_event(session, promise, "promise.cancelled")
    return promise
