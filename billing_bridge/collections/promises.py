"""A promise to pay: made in a call, on an account or by the caller alone in the IVR's
self-service, within the business's caps, at most one open an account (and none while a plan
is active), cancelled with a reason. Each change is audited and emitted in the caller's
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collections import access, rules
from billing_bridge.collections.access import Staff
from billing_bridge.collections.errors import Conflict, NotFound
from billing_bridge.collections.events import promise_event
from billing_bridge.reminders import store as reminders
from pbx.audit import By, Target, record
from pbx.db.models import Account, PaymentPlan, Promise

IVR_CALLER = By("caller:ivr")  # who the audit log says made a promise keyed in the IVR
IVR_METHOD = "pay_link"  # the IVR's promise: paid through the link in the bill or reminder


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
    return await _made(session, business, account, order, By(staff.label, staff.user_id),
                       call_record_id=call.record_id if call else None, now=now)  # fmt: skip


async def make_promise_in_ivr(
    session: AsyncSession, tenant_id: int, order: PromiseOrder, *, call_record_id: int,
    now: datetime,
) -> Promise:  # fmt: skip
    """Made by the caller alone in the IVR's self-service, on the live call `call_record_id`
    (its caller the account's owner), with no agent: the same rules, audit and events as an
    agent's. Raises a `CollectionsError`."""
    business = await access.business(session, tenant_id)
    account = await access.locked_account(session, order.account_id, in_body=True)
    await access.callers_own(session, call_record_id, account)
    return await _made(session, business, account, order, IVR_CALLER,
                       call_record_id=call_record_id, now=now)  # fmt: skip


async def ivr_offer(session: AsyncSession, tenant_id: int, account_id: int,
                    now: datetime) -> PromiseOrder:  # fmt: skip
    """The promise the IVR offers a caller on their account: the whole overdue amount by the
    latest date the business allows (`rules.default_promise`). Raises a `CollectionsError`
    when the account may have none now (a promise open, a plan active, nothing owed)."""
    business = await access.business(session, tenant_id)
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound("account not found")
    today, overdue, _ = await _may_promise(session, business, account, now)
    amount, due_on = rules.default_promise(overdue, today=today, caps=business.caps)
    return PromiseOrder(account.id, amount, due_on, IVR_METHOD)


async def _made(
    session: AsyncSession, business: access.Business, account: Account, order: PromiseOrder,
    actor: By, *, call_record_id: int | None, now: datetime,
) -> Promise:  # fmt: skip
    """The promise on the locked `account`, within the caps, audited and emitted, and the
    account's reminders stopped: in the caller's transaction."""
    today, overdue, owed = await _may_promise(session, business, account, now)
    rules.check_promise(order.amount_minor, order.due_on, today=today, overdue_minor=overdue,
                        owed_minor=owed, caps=business.caps)  # fmt: skip
    promise = Promise(
        account_id=account.id, amount_minor=order.amount_minor, currency=account.currency,
        due_on=order.due_on, method=order.method, status="open", overdue_minor=overdue,
        paid_minor=0, late_paid_minor=0, call_id=call_record_id,
        created_by_id=actor.user_id, created_at=now,
    )  # fmt: skip
    session.add(promise)
    await session.flush()
    record(session, tenant_id=business.tenant_id, actor=actor,
           action="promise.created", target=Target("promise", promise.id),
           details={"account_id": account.id, "amount_minor": order.amount_minor,
                    "currency": account.currency, "due_on": order.due_on.isoformat(),
                    "method": order.method, "overdue_minor": overdue,
                    "call_id": promise.call_id})  # fmt: skip
    await promise_event(session, promise, "promise.created")
    await reminders.stop_for_account(session, business.tenant_id, account.id, "promise", now)
    return promise


async def _may_promise(
    session: AsyncSession, business: access.Business, account: Account, now: datetime
) -> tuple[date, int, int]:
    """(today, overdue, owed) of an account that may have a promise now: none open, no plan
    active, something owed."""
    await none_open(session, account.id)
    today = rules.local_day(now, business.zone)
    overdue, owed = await access.overdue_of(session, account, today)
    if owed <= 0:
        raise Conflict("the account owes nothing", code="nothing_owed")
    return today, overdue, owed


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
