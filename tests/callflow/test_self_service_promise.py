"""A promise to pay from the IVR's self-service, through the Asterisk simulator: an identified
caller with something overdue keys 4, hears the business's promise (all that is overdue, by
the latest date it allows), confirms it with 1, and it is recorded as an agent's would be:
within the caps, on the call with no agent, audited, emitted, the account's reminders
stopped. A refusal by the rules is said to the caller and logged as a step."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from billing_bridge.collections import rules
from pbx.callflow import self_service as ss
from pbx.db.models import Account, AuditEntry, BillingEvent, Promise, Reminder, Tenant
from pbx.voice import saying
from tests.callflow.test_self_service import MENU, after, chosen, dana, line
from tests.callflow.world import World

PROMISES = MENU | {"promise": True}


async def latest_day(world: World) -> date:
    """The latest date the business allows a promise from today, in its time zone."""
    async with world.database.tenant_session(world.tenant_id) as session:
        tenant = await session.get(Tenant, world.tenant_id)
    assert tenant is not None
    today = rules.local_day(datetime.now(UTC), rules.zone_named(tenant.timezone))
    return today + timedelta(days=rules.caps_of(tenant.promise_max_days,
                                                tenant.promise_min_share_pct).max_days)


async def dana_account(world: World, customer: int) -> int:
    async with world.database.tenant_session(world.tenant_id) as session:
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
    assert account is not None
    return account


async def test_a_caller_with_an_overdue_invoice_promises_to_pay_it_from_the_menu(
    world: World,
) -> None:
    customer = await dana(world)  # owes 450.50 ILS, 200.00 of it overdue
    account = await dana_account(world, customer)
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        session.add(Reminder(account_id=account, customer_id=customer, step_day=5,
                             channel="sms", overdue_since=date(2026, 1, 10),
                             planned_on=date(2099, 1, 1)))  # fmt: skip
    await line(world, PROMISES)
    latest = await latest_day(world)
    call = await world.call()

    await world.until(lambda: ss.OPTION_PROMISE in call.heard, "the promise offered")
    await chosen(world, call, "4")
    await world.until(lambda: ss.PROMISE_CONFIRM in call.heard, "the promise read out")
    offer = after(call.heard, ss.PROMISE_OFFER)
    said_day = tuple(offer[offer.index(ss.PROMISE_BY) + 1: offer.index(ss.PROMISE_CONFIRM)])
    # The business's day as the offer was read: the day the call began, or the next one.
    days = [d for d in {latest, await latest_day(world)} if saying.day(d, "en") == said_day]
    assert len(days) == 1, said_day
    due_on = days[0]
    assert offer[: offer.index(ss.PROMISE_CONFIRM) + 1] == [
        ss.PROMISE_OFFER, *saying.money(20_000, "ILS", "en"), ss.PROMISE_BY,
        *saying.day(due_on, "en"), ss.PROMISE_CONFIRM]  # fmt: skip
    await call.press("1")

    await world.until(lambda: ss.PROMISE_RECORDED in call.heard, "told it is recorded")
    row = await world.record_when(call, lambda r: r.self_service == ["promised"], "logged")
    assert row.self_service_resolved is True
    async with world.database.tenant_session(world.tenant_id) as session:
        promise = await session.scalar(select(Promise))
        audit = await session.scalar(select(AuditEntry).where(
            AuditEntry.action == "promise.created"))  # fmt: skip
        events = list(await session.scalars(select(BillingEvent.type)))
        reminder = await session.scalar(select(Reminder))
    assert promise is not None and audit is not None and reminder is not None
    assert (promise.account_id, promise.amount_minor, promise.currency, promise.due_on) == (
        account, 20_000, "ILS", due_on)  # fmt: skip
    assert (promise.status, promise.method, promise.overdue_minor) == ("open", "pay_link", 20_000)
    assert promise.call_id == row.id and promise.created_by_id is None  # the call, no agent
    assert audit.actor_label == "caller:ivr" and audit.details["call_id"] == row.id
    assert "promise.created" in events
    assert (reminder.status, reminder.stop_reason) == ("stopped", "promise")

    # Back at the menu: no second promise offered on this call.
    await world.until(lambda: call.heard.count(ss.OPTION_AGENT) >= 2, "the menu again")
    assert after(call.heard, ss.PROMISE_RECORDED).count(ss.OPTION_PROMISE) == 0


async def test_a_caller_whose_account_has_an_open_promise_is_told_none_can_be_recorded(
    world: World,
) -> None:
    customer = await dana(world)
    account = await dana_account(world, customer)
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        session.add(Promise(account_id=account, amount_minor=5_000, currency="ILS",
                            due_on=date(2099, 1, 1), method="bank_transfer", status="open",
                            overdue_minor=20_000, paid_minor=0, late_paid_minor=0))  # fmt: skip
    await line(world, PROMISES)
    call = await world.call()

    await world.until(lambda: ss.OPTION_PROMISE in call.heard, "the promise offered")
    await chosen(world, call, "4")
    await world.until(lambda: ss.PROMISE_REFUSED in call.heard, "told it cannot be")
    row = await world.record_when(call, lambda r: r.self_service == ["promise_refused"], "log")
    assert row.self_service_resolved is False
    assert ss.PROMISE_CONFIRM not in call.heard
    async with world.database.tenant_session(world.tenant_id) as session:
        made = list(await session.scalars(select(Promise.id)))
        audited = await session.scalar(select(AuditEntry.id).where(
            AuditEntry.action == "promise.created"))  # fmt: skip
    assert len(made) == 1 and audited is None  # nothing new
