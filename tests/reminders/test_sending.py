"""Sending planned reminders: at a lawful hour on the customer's clock (across a DST change),
never on a holiday or the day a failed direct debit is retried, with the business's name, a
pay link and an opt-out link; every stop condition read again in the claim's transaction, so
a payment, promise, dispute or opt-out that commits first wins."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from billing_bridge.reminders import planner, replies, store
from billing_bridge.reminders.links import OptOutTokenError
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    CollectionAttempt,
    Customer,
    Invoice,
    Mandate,
    Payment,
    PaymentPlan,
    PlanInstalment,
)
from tests.locks import until_a_statement_waits_on_a_lock
from tests.reminders.support import ADMIN, DST_DAY, DUE, STEPS, Shop, at, open_shop

DAY1 = DUE + timedelta(days=1)


async def _planned(
    shop: Shop, ref: str = "dana", due_on: date = DUE, **kw: Any
) -> tuple[int, int]:
    return await shop.customer(ref, due_on, **kw)


async def test_a_reminder_carries_the_business_amount_pay_link_and_opt_out_link(
    database: Database,
) -> None:
    shop = await open_shop(database)
    customer, account = await _planned(shop)
    now = at(DAY1, 9)  # 11:00 in Vilnius
    await planner.plan(database, now)
    report = await shop.reminders().send_due(now)

    assert (report.sent, report.stopped, report.waiting) == (1, 0, 0)
    [(channel, to, subject, body)] = shop.sender.sent
    assert (channel, to) == ("email", "dana@example.com")
    assert subject == "Vilnius: your payment of 100.01 EUR is overdue"
    assert "is 1 days overdue" in body
    [row] = await shop.rows(account)
    [message] = await shop.messages()
    assert (row.status, row.message_id, message.status) == ("sent", message.id, "sent")
    async with database.tenant_session(shop.tenant_id) as session:
        payment = await session.get(Payment, row.payment_id)
    assert payment is not None and (payment.method, payment.status) == ("link", "pending")
    assert payment.amount_minor == 10_001
    link = await shop.provider.create_pay_link(  # the same key: the same link again
        amount_minor=10_001, currency="EUR", idempotency_key=f"reminder-{row.id}-10001",
        description=f"Overdue payment, account {account}", customer_ref="dana")
    assert link.provider_ref == payment.provider_ref and link.url in body
    opt_out = await shop.links.link(shop.tenant_id, customer)
    assert opt_out in body
    assert (await shop.links.check(opt_out.rsplit("/", 1)[1])).customer_id == customer
    [(kind, data)] = await shop.events()
    assert (kind, data["status"], data["step_day"], data["account_id"]) == (
        "reminder.sent", "sent", 1, account)
    assert "reminder.sent" in await shop.audit()


async def test_each_customer_gets_the_text_of_their_language(database: Database) -> None:
    shop = await open_shop(database)
    await _planned(shop, "rivka", language="he")
    await _planned(shop, "ona", language="lt")
    now = at(DAY1, 9)
    await planner.plan(database, now)
    await shop.reminders().send_due(now)
    subjects = {s for _, _, s, _ in shop.sender.sent}
    assert subjects == {"Vilnius: התשלום בסך 100.01 EUR באיחור",
                        "Vilnius: vėluoja 100.01 EUR mokėjimas"}


async def test_the_sms_step_goes_to_the_customers_number(database: Database) -> None:
    shop = await open_shop(database)
    await _planned(shop, "dana", DUE - timedelta(days=4), phone="+37060000001")
    now = at(DAY1, 9)
    await planner.plan(database, now)
    await shop.reminders().send_due(now)
    [(channel, to, _, body)] = shop.sender.sent
    assert (channel, to) == ("sms", "+37060000001")
    assert "Reply STOP" in body and "https://pay.example/api/v1/reminders/opt-out/" in body


async def test_quiet_hours_follow_the_wall_clock_across_the_dst_change(
    database: Database,
) -> None:
    """05:30 UTC is 07:30 in Vilnius on 27 March (+02:00) but 08:30 on 28 March (+03:00)."""
    shop = await open_shop(database)
    await _planned(shop, "dana", DST_DAY - timedelta(days=2))
    before = at(DST_DAY - timedelta(days=1), 5, 30)
    await planner.plan(database, before)
    assert (await shop.reminders().send_due(before)).waiting == 1
    assert shop.sender.sent == []
    after = at(DST_DAY, 5, 30)
    await planner.plan(database, after)
    assert (await shop.reminders().send_due(after)).sent == 1
    # The evening end moves too: 18:30 UTC is 21:30 in summer time, quiet.
    await _planned(shop, "ona", DST_DAY - timedelta(days=1))
    late = at(DST_DAY, 18, 30)
    await planner.plan(database, late)
    assert (await shop.reminders().send_due(late)).waiting == 1


async def test_nothing_is_sent_on_a_holiday_of_the_business(database: Database) -> None:
    shop = await open_shop(database, holidays=frozenset({DAY1}))
    await _planned(shop)
    await planner.plan(database, at(DAY1, 9))
    assert (await shop.reminders().send_due(at(DAY1, 9))).waiting == 1
    assert (await shop.reminders().send_due(at(DAY1 + timedelta(days=1), 9))).sent == 1


async def test_no_reminder_on_the_day_a_failed_direct_debit_is_retried(
    database: Database,
) -> None:
    shop = await open_shop(database)
    customer, account = await _planned(shop)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        invoice = await session.scalar(select(Invoice).where(Invoice.account_id == account))
        mandate = Mandate(customer_id=customer, account_id=account, provider="sandbox",
                          scheme="sepa_core", status="active")  # fmt: skip
        session.add(mandate)
        await session.flush()
        assert invoice is not None
        session.add(CollectionAttempt(invoice_id=invoice.id, mandate_id=mandate.id, attempt=1,
                                      idempotency_key="collect:1:1", amount_minor=10_001,
                                      currency="EUR", status="failed",
                                      failure_code="insufficient_funds",
                                      next_retry_on=DAY1))  # fmt: skip
    await planner.plan(database, at(DAY1, 9))
    assert (await shop.reminders().send_due(at(DAY1, 9))).waiting == 1
    assert (await shop.reminders().send_due(at(DAY1 + timedelta(days=1), 9))).sent == 1


async def test_no_reminder_on_the_day_a_refused_instalment_charge_is_retried(
    database: Database,
) -> None:
    """A plan in arrears (its first instalment broken) is reminded, but not on the day the run
    tries its second instalment's refused debit again (3 days after the refusal), nor while
    that retry is unanswered that day; the next day it is."""
    shop = await open_shop(database)
    customer, account = await _planned(shop)
    refused_on = DAY1 - timedelta(days=3)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        mandate = Mandate(customer_id=customer, account_id=account, provider="sandbox",
                          scheme="sepa_core", status="active", provider_ref="MD-1")  # fmt: skip
        session.add(mandate)
        await session.flush()
        plan = PaymentPlan(account_id=account, total_minor=10_001, currency="EUR",
                           instalment_count=2, frequency="weekly", first_due_on=DUE,
                           method="mandate", mandate_id=mandate.id, status="active",
                           paid_minor=0, consent_at=at(DUE, 9))  # fmt: skip
        session.add(plan)
        await session.flush()
        session.add_all([
            PlanInstalment(plan_id=plan.id, number=1, due_on=DUE - timedelta(days=7),
                           amount_minor=5001, paid_minor=0, status="broken"),
            PlanInstalment(plan_id=plan.id, number=2, due_on=refused_on, amount_minor=5000,
                           paid_minor=0, status="pending"),
        ])  # fmt: skip
        session.add(Payment(account_id=account, amount_minor=5000, currency="EUR",
                            method="direct_debit", provider="sandbox", provider_ref="PM-1",
                            idempotency_key=f"plan{plan.id}-inst2", status="failed",
                            failure_reason="insufficient_funds",
                            status_at=at(refused_on, 12)))  # fmt: skip
    await planner.plan(database, at(DAY1, 9))
    assert (await shop.reminders().send_due(at(DAY1, 9))).waiting == 1
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        session.add(Payment(account_id=account, amount_minor=5000, currency="EUR",
                            method="direct_debit", provider="sandbox", provider_ref="PM-2",
                            idempotency_key=f"plan{plan.id}-inst2-try2", status="pending"))
    assert (await shop.reminders().send_due(at(DAY1, 10))).waiting == 1
    assert shop.sender.sent == []
    assert (await shop.reminders().send_due(at(DAY1 + timedelta(days=1), 9))).sent == 1


async def test_an_account_paid_after_planning_is_stopped_at_send_time(
    database: Database,
) -> None:
    shop = await open_shop(database)
    _, account = await _planned(shop)
    await planner.plan(database, at(DAY1, 7))
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        row = await session.get(Account, account)
        assert row is not None
        row.balance_minor = 0
    report = await shop.reminders().send_due(at(DAY1, 9))
    assert (report.sent, report.stopped) == (0, 1)
    [row] = await shop.rows(account)
    assert (row.status, row.stop_reason) == ("stopped", "paid")
    assert shop.sender.sent == [] and await shop.messages() == []
    assert [k for k, _ in await shop.events()] == ["reminder.stopped"]


async def test_a_dispute_stops_the_planned_reminders_at_once(database: Database) -> None:
    shop = await open_shop(database)
    _, account = await _planned(shop)
    now = at(DAY1, 7)
    await planner.plan(database, now)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await store.set_hold(session, shop.tenant_id, account, "disputed", actor=ADMIN, now=now)
    [row] = await shop.rows(account)
    assert (row.status, row.stop_reason) == ("stopped", "dispute")
    assert (await shop.reminders().send_due(at(DAY1, 9))).sent == 0
    assert "account.collections_hold" in await shop.audit()


async def test_an_opt_out_link_stops_reminders_and_is_told_to_billing(
    database: Database,
) -> None:
    shop = await open_shop(database)
    customer, account = await _planned(shop)
    await planner.plan(database, at(DAY1, 7))
    whom = await shop.links.check(await shop.links.token(shop.tenant_id, customer))
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        assert await store.opt_out(session, whom.tenant_id, whom.customer_id, via="link",
                                   now=at(DAY1, 7, 30))  # fmt: skip
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        assert not await store.opt_out(session, whom.tenant_id, whom.customer_id, via="link",
                                       now=at(DAY1, 7, 31))  # fmt: skip
    assert (await shop.reminders().send_due(at(DAY1, 9))).sent == 0
    assert [k for k, _ in await shop.events()] == ["reminder.stopped", "customer.opted_out"]
    [row] = await shop.rows(account)
    assert row.stop_reason == "opted_out"


async def test_a_forged_or_mangled_opt_out_token_is_refused(database: Database) -> None:
    shop = await open_shop(database)
    customer, _ = await _planned(shop)
    token = await shop.links.token(shop.tenant_id, customer)
    tenant, _, mac = token.split(".")
    for bad in (f"{tenant}.{customer + 1}.{mac}", token[:-1] + ("A" if token[-1] != "A" else "B"),
                "", "1.2", "0.1." + mac, token + "x"):  # fmt: skip
        try:
            await shop.links.check(bad)
        except OptOutTokenError:
            continue
        raise AssertionError(f"accepted {bad!r}")


async def test_a_stop_reply_opts_out_the_customer_the_business_texted(
    database: Database,
) -> None:
    shop = await open_shop(database)
    other = await open_shop(database, slug="kaunas")
    customer, _ = await _planned(shop, "dana", DUE - timedelta(days=4), phone="+37060000001")
    other_customer, _ = await other.customer("dana", DUE, phone="+37060000001")
    now = at(DAY1, 9)
    await planner.plan(database, now)
    await shop.reminders().send_due(now, tenant_id=shop.tenant_id)
    assert await replies.stop_requested(database, "+37060000001", at(DAY1, 10)) == 1
    assert await replies.stop_requested(database, "+37060000001", at(DAY1, 11)) == 0
    assert ("customer.opted_out" in [k for k, _ in await shop.events()])
    assert [k for k, _ in await other.events()] == []  # it never texted the number
    for business, whom, opted in ((shop, customer, True), (other, other_customer, False)):
        async with database.tenant_session(business.tenant_id) as session:
            row = await session.get(Customer, whom)
            assert row is not None and (row.reminders_opted_out_at is not None) is opted


async def test_an_opt_out_committed_while_the_pay_link_is_made_wins(database: Database) -> None:
    """The race: the sender picked the reminder, then the customer opted out before the
    claim. The claim reads the opt-out in its own transaction and sends nothing."""
    shop = await open_shop(database)
    customer, account = await _planned(shop)
    await planner.plan(database, at(DAY1, 9))
    real = shop.provider

    class OptOutMeanwhile:
        name = real.name

        async def create_pay_link(self, **kwargs: Any) -> Any:
            async with database.tenant_session(shop.tenant_id) as session, session.begin():
                await store.opt_out(session, shop.tenant_id, customer, via="link",
                                    now=datetime.now(UTC))  # fmt: skip
            return await real.create_pay_link(**kwargs)

    shop.provider = OptOutMeanwhile()
    report = await shop.reminders().send_due(at(DAY1, 9))
    assert (report.sent, report.stopped) == (0, 0)  # stopped by the opt-out itself
    [row] = await shop.rows(account)
    assert (row.status, row.stop_reason) == ("stopped", "opted_out")
    assert shop.sender.sent == [] and await shop.messages() == []


async def test_a_promise_made_after_planning_stops_the_reminder(database: Database) -> None:
    from billing_bridge.collections.access import Staff
    from billing_bridge.collections.promises import PromiseOrder, make_promise

    shop = await open_shop(database)
    _, account = await _planned(shop)
    await planner.plan(database, at(DAY1, 7))
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await make_promise(session, shop.tenant_id,
                           PromiseOrder(account, 5_000, DAY1 + timedelta(days=5), "pay_link"),
                           staff=Staff(None, "supervisor:sam", True), now=at(DAY1, 7),
                           call_id=None)  # type: ignore[arg-type]  # fmt: skip
    [row] = await shop.rows(account)  # at once, in the promise's transaction
    assert (row.status, row.stop_reason) == ("stopped", "promise")
    assert (await shop.reminders().send_due(at(DAY1, 9))).sent == 0
    assert [k for k, _ in await shop.events()] == ["reminder.stopped"]


async def test_a_payment_plan_stops_the_planned_reminders_at_once(database: Database) -> None:
    from billing_bridge.collections.access import Staff
    from billing_bridge.collections.plans import PlanOrder, make_plan

    shop = await open_shop(database)
    _, account = await _planned(shop)
    await planner.plan(database, at(DAY1, 7))
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await make_plan(session, shop.tenant_id,
                        PlanOrder(account, 3, "monthly", DAY1 + timedelta(days=5), "pay_link",
                                  None), staff=Staff(None, "supervisor:sam", True),
                        now=at(DAY1, 7), call_id=None)  # type: ignore[arg-type]  # fmt: skip
    [row] = await shop.rows(account)
    assert (row.status, row.stop_reason) == ("stopped", "plan")
    await planner.plan(database, at(DAY1, 8))
    assert len(await shop.rows(account)) == 1  # a plan in good standing: nothing planned


async def test_the_worklist_step_lists_the_account_for_the_worklist(database: Database) -> None:
    shop = await open_shop(database)
    _, account = await _planned(shop, "dana", DUE - timedelta(days=9))
    now = at(DAY1, 9)
    await planner.plan(database, now)
    report = await shop.reminders().send_due(now)
    assert (report.listed, report.sent) == (1, 0)
    async with database.tenant_session(shop.tenant_id) as session:
        listed = (await session.execute(store.at_worklist_step(DAY1))).all()
        assert [r.account_id for r in listed] == [account]
        await session.rollback()
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await store.set_hold(session, shop.tenant_id, account, "disputed", actor=ADMIN, now=now)
    async with database.tenant_session(shop.tenant_id) as session:
        assert (await session.execute(store.at_worklist_step(DAY1))).all() == []
    assert STEPS[-1].channel == "worklist"


async def test_a_sender_failure_keeps_the_message_for_a_retry(database: Database) -> None:
    shop = await open_shop(database)
    await _planned(shop)

    class Down:
        async def send(self, *args: str) -> None:
            raise ConnectionError("gateway down")

    shop.sender = Down()  # type: ignore[assignment]
    report = await shop.reminders().send_due(at(DAY1, 9)) if await planner.plan(
        database, at(DAY1, 9)) else None
    assert report is not None and (report.sent, report.failed) == (1, 1)
    [message] = await shop.messages()
    assert (message.status, message.last_error) == ("failed", "ConnectionError: gateway down")


async def test_an_opt_out_in_flight_when_the_claim_comes_is_waited_for_and_wins(
    database: Database,
) -> None:
    """PostgreSQL, two transactions at once: the opt-out has locked the customer's planned
    reminder and not committed yet; the sender's claim waits on that lock, then finds the
    reminder no longer planned and sends nothing."""
    if database.dialect != "postgresql":
        pytest.skip("row locks: PostgreSQL (SQLite has one writer at a time)")
    shop = await open_shop(database)
    customer, account = await _planned(shop)
    await planner.plan(database, at(DAY1, 9))
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await store.opt_out(session, shop.tenant_id, customer, via="link", now=at(DAY1, 9))
        sending = asyncio.create_task(shop.reminders().send_due(at(DAY1, 9)))
        await until_a_statement_waits_on_a_lock(database, sending,
                                                what="the opt-out's lock")
    report = await sending
    assert (report.sent, report.stopped) == (0, 0)
    [row] = await shop.rows(account)
    assert (row.status, row.stop_reason) == ("stopped", "opted_out")
    assert shop.sender.sent == [] and await shop.messages() == []
