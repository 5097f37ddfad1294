"""Plans paid by link: each instalment's pay link goes out once, from three days before its
date, at a lawful hour of the customer's clock; paying through it keeps that instalment; an
instalment whose date ends unpaid is broken by the sweep, and its link paid late goes to its
own shortfall. On SQLite and PostgreSQL, with the sandbox provider and its webhooks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from billing_bridge.collections import sweep
from billing_bridge.payments.sandbox import SandboxProvider
from billing_bridge.payments.webhooks import apply_events
from billing_bridge.reminders import instalment_links, rules, store
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    AuditEntry,
    BillingEvent,
    Payment,
    PaymentPlan,
    PlanInstalment,
    PromiseSettlement,
)
from pbx.free_text import has_hidden_characters
from tests.reminders.support import Shop, at, open_shop

FIRST = date(2027, 5, 10)  # a Monday in Vilnius (+03:00)
SECOND = FIRST + timedelta(days=7)


class Clock:
    """The sandbox's clock: when its webhooks say the customer paid."""

    now = datetime(2027, 5, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _shop_with_plan(database: Database) -> tuple[Shop, Clock, int, int]:
    """(shop, clock, account, plan): a customer owing 10,001 on an active pay-link plan of two
    instalments, 5,001 on FIRST and 5,000 on SECOND."""
    clock = Clock()
    shop = await open_shop(database)
    shop.provider = SandboxProvider(webhook_secret="w" * 32, clock=clock)
    _, account = await shop.customer("dana", FIRST - timedelta(days=40), phone="+37060000001")
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        plan = PaymentPlan(account_id=account, total_minor=10_001, currency="EUR",
                           instalment_count=2, frequency="weekly", first_due_on=FIRST,
                           method="pay_link", status="active", paid_minor=0,
                           consent_at=at(FIRST - timedelta(days=20), 9))  # fmt: skip
        session.add(plan)
        await session.flush()
        session.add_all([
            PlanInstalment(plan_id=plan.id, number=1, due_on=FIRST, amount_minor=5001,
                           paid_minor=0, status="pending"),
            PlanInstalment(plan_id=plan.id, number=2, due_on=SECOND, amount_minor=5000,
                           paid_minor=0, status="pending"),
        ])  # fmt: skip
    return shop, clock, account, plan.id


async def _instalments(shop: Shop, plan_id: int) -> list[tuple[int, str, int]]:
    async with shop.database.tenant_session(shop.tenant_id) as session:
        rows = await session.execute(
            select(PlanInstalment.number, PlanInstalment.status, PlanInstalment.paid_minor)
            .where(PlanInstalment.plan_id == plan_id).order_by(PlanInstalment.number))
        return [tuple(row) for row in rows]


async def _link(shop: Shop, plan_id: int, number: int) -> Payment | None:
    async with shop.database.tenant_session(shop.tenant_id) as session:
        return await session.scalar(select(Payment).where(
            Payment.idempotency_key == f"plan{plan_id}-inst{number}-link"))


async def _pay(shop: Shop, clock: Clock, ref: str, paid_at: datetime) -> None:
    """The customer pays the link at `paid_at`; the provider's webhook arrives a day later."""
    clock.now = paid_at
    body, headers = shop.provider.settle(ref)
    await apply_events(shop.database, shop.provider.name,
                       shop.provider.parse_webhook(body, headers),
                       now=paid_at + timedelta(days=1))  # fmt: skip


async def test_each_instalment_gets_its_link_once_from_three_days_before_its_date(
    database: Database,
) -> None:
    shop, _, account, plan_id = await _shop_with_plan(database)
    reminders = shop.reminders()
    early = await reminders.send_instalment_links(at(FIRST - timedelta(days=4), 9))
    assert early.sent == 0 and shop.sender.sent == []

    report = await reminders.send_instalment_links(at(FIRST - timedelta(days=3), 9))
    again = await reminders.send_instalment_links(at(FIRST - timedelta(days=2), 9))

    assert (report.sent, again.sent) == (1, 0)
    [(channel, to, _, body)] = shop.sender.sent
    assert (channel, to) == ("sms", "+37060000001")
    assert body.startswith("Vilnius: instalment 1 of 2, 50.01 EUR, is due on 2027-05-10.")
    assert "https://pay.example/api/v1/reminders/opt-out/" in body
    link = await _link(shop, plan_id, 1)
    assert link is not None and (link.method, link.status, link.amount_minor,
                                 link.account_id) == ("link", "pending", 5001, account)
    assert link.provider_ref is not None and link.provider_ref in body
    [message] = await shop.messages()
    assert (message.payment_id, message.status) == (link.id, "sent")
    async with database.tenant_session(shop.tenant_id) as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert actions.count("plan.instalment_link") == 1
    # The second instalment's link waits for its own three days.
    assert await _link(shop, plan_id, 2) is None


async def test_a_link_waits_for_the_customers_daytime_and_none_goes_to_an_opted_out_one(
    database: Database,
) -> None:
    shop, _, _, plan_id = await _shop_with_plan(database)
    night = at(FIRST - timedelta(days=1), 3)  # 06:00 in Vilnius
    assert (await shop.reminders().send_instalment_links(night)).waiting == 1
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        customer = await session.scalar(select(PaymentPlan.account_id))
        owner = await session.scalar(select(Account.customer_id).where(Account.id == customer))
        assert owner is not None
        await store.opt_out(session, shop.tenant_id, owner, via="staff", now=night)
    report = await shop.reminders().send_instalment_links(at(FIRST - timedelta(days=1), 9))
    assert report.sent == 0 and shop.sender.sent == [] and await _link(shop, plan_id, 1) is None


async def test_paying_through_the_link_in_time_keeps_that_instalment(database: Database) -> None:
    shop, clock, _, plan_id = await _shop_with_plan(database)
    await shop.reminders().send_instalment_links(at(FIRST - timedelta(days=3), 9))
    link = await _link(shop, plan_id, 1)
    assert link is not None and link.provider_ref is not None
    # Paid at 23:30 of its date in Vilnius; the webhook arrives the next day.
    await _pay(shop, clock, link.provider_ref, at(FIRST, 20, 30))
    await sweep.sweep(database, at(FIRST + timedelta(days=1), 12))

    assert await _instalments(shop, plan_id) == [(1, "kept", 5001), (2, "pending", 0)]
    async with database.tenant_session(shop.tenant_id) as session:
        types = [t for t in await session.scalars(select(BillingEvent.type)
                                                  .order_by(BillingEvent.seq))
                 if t.startswith("plan.")]  # fmt: skip
    assert types == ["plan.instalment_paid"]


async def test_an_unpaid_date_breaks_the_instalment_and_its_link_paid_late_fills_its_shortfall(
    database: Database,
) -> None:
    shop, clock, _, plan_id = await _shop_with_plan(database)
    await shop.reminders().send_instalment_links(at(FIRST - timedelta(days=3), 9))
    link = await _link(shop, plan_id, 1)
    assert link is not None and link.provider_ref is not None

    report = await sweep.sweep(database, at(FIRST, 21, 5))  # 00:05 the next day in Vilnius
    assert report.instalments_failed == 1
    assert await _instalments(shop, plan_id) == [(1, "broken", 0), (2, "pending", 0)]

    await _pay(shop, clock, link.provider_ref, at(FIRST + timedelta(days=2), 9))

    # Its own shortfall first, late: the second instalment is not paid by it.
    assert await _instalments(shop, plan_id) == [(1, "broken", 5001), (2, "pending", 0)]
    async with database.tenant_session(shop.tenant_id) as session:
        settled = (await session.execute(select(PromiseSettlement.amount_minor,
                                                PromiseSettlement.late))).all()  # fmt: skip
    assert [tuple(row) for row in settled] == [(5001, True)]


@pytest.mark.parametrize("language", ["en", "he", "lt", "fr"])
def test_every_languages_text_carries_the_instalment_and_both_links(language: str) -> None:
    due = instalment_links._Due(1, 7, 2, 3, SECOND, 5000, "EUR", 1, 1, "dana", language,
                                "d@example.com", "+37060000001")  # fmt: skip
    for channel in ("sms", "email"):
        text = instalment_links.message_for(due, "Ofek", channel, "https://p/L", "https://p/O")
        assert "https://p/L" in text.body and "https://p/O" in text.body
        assert "Ofek" in text.body and "50.00 EUR" in text.body and "2027-05-17" in text.body
        assert (channel == "email") == bool(text.subject)
        assert len(text.body) <= rules.MAX_BODY[channel]
        assert not has_hidden_characters(text.body.replace("\n", ""))
