"""Payment plans paid by link: each instalment's pay link sent to the customer before its
date, through the reminders' outbox and sender (docs/collections.md, "Instalments paid by
link").

An instalment of an active `pay_link` plan gets its link from `LINK_DAYS_BEFORE` days before
its date (at once for a plan made closer to it) until the end of its date, by SMS to the
customer's first number, else by email, in their language, at a lawful hour of their clock
(the business's reminder quiet hours and holidays; the defaults without a schedule). The
link is a pending payment (method `link`) under `plan<id>-inst<n>-link`: the first write of
the transaction that sends it, so it goes out once whoever runs; the provider's webhook
paying it settles that instalment (`settlement.payment_arrived`). An opted-out customer or
an account under a collections hold gets none; an instalment still unpaid at the end of its
date is broken by the sweep like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collection.rules import instalment_link_key
from billing_bridge.collections.rules import local_day, zone_named
from billing_bridge.money import format_minor
from billing_bridge.payments.pay_links import MessageSender, deliver, mask, pay_link_or_none
from billing_bridge.payments.port import PayLink, PaymentProvider
from billing_bridge.reminders import rules, store
from billing_bridge.reminders.links import OptOutLinks
from pbx.audit import Target, record
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    Customer,
    CustomerPhone,
    OutboxMessage,
    Payment,
    PaymentPlan,
    PlanInstalment,
    Tenant,
)

LINK_DAYS_BEFORE = 3
BATCH = 200

# (subject, body) by language and channel; {due_on} is the ISO date.
TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "email": ("{business}: instalment {number} of {count}, {amount}, due on {due_on}",
                  "Hello,\n\ninstalment {number} of {count} of your payment plan with "
                  "{business}, {amount}, is due on {due_on}. You can pay it here: {pay_link}"
                  "\n\nNo more messages: {opt_out_link}"),
        "sms": ("", "{business}: instalment {number} of {count}, {amount}, is due on {due_on}. "
                "Pay: {pay_link} Reply STOP or {opt_out_link} to stop messages"),
    },
    "he": {
        "email": ("{business}: תשלום {number} מתוך {count}, {amount}, עד {due_on}",
                  "שלום,\n\nתשלום {number} מתוך {count} בהסדר התשלומים שלך עם {business}, "
                  "בסך {amount}, לתשלום עד {due_on}. אפשר לשלם כאן: {pay_link}"
                  "\n\nלהפסקת ההודעות: {opt_out_link}"),
        "sms": ("", "{business}: תשלום {number} מתוך {count}, {amount}, עד {due_on}. "
                "לתשלום: {pay_link} להפסקת הודעות השב STOP או {opt_out_link}"),
    },
    "lt": {
        "email": ("{business}: {number} įmoka iš {count}, {amount}, iki {due_on}",
                  "Sveiki,\n\njūsų mokėjimo plano su {business} {number} įmoka iš {count}, "
                  "{amount}, mokėtina iki {due_on}. Sumokėti galite čia: {pay_link}"
                  "\n\nNebegauti pranešimų: {opt_out_link}"),
        "sms": ("", "{business}: {number} įmoka iš {count}, {amount}, mokėtina iki {due_on}. "
                "Mokėti: {pay_link} Atsakykite STOP arba {opt_out_link}, kad nebegautumėte "
                "pranešimų"),
    },
}  # fmt: skip


@dataclass
class LinkReport:
    sent: int = 0
    waiting: int = 0  # quiet hours or a holiday on the customer's clock: the next pass
    skipped: int = 0  # no number or address; opted out or held when it was to go
    failed: int = 0  # the provider's link or the sender failed

    def __str__(self) -> str:
        return (f"{self.sent} instalment link(s) sent, {self.waiting} waiting, "
                f"{self.skipped} skipped, {self.failed} failed")  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Due:
    instalment_id: int
    plan_id: int
    number: int
    count: int
    due_on: date
    owed: int
    currency: str
    account_id: int
    customer_id: int
    customer_ref: str
    language: str
    email: str | None
    phone: str | None

    @property
    def key(self) -> str:
        return instalment_link_key(self.plan_id, self.number)


@dataclass(frozen=True, slots=True)
class _Business:
    id: int
    name: str
    zone: ZoneInfo


class _Stopped(Exception):
    """Opted out, held, paid or cancelled since it was read: rolls the claim back."""


def message_for(due: _Due, business: str, channel: str, link: str, opt_out: str) -> rules.Template:
    """The instalment's message in the customer's language (English for another)."""
    subject, body = TEXTS.get(due.language, TEXTS["en"])[channel]
    values = {
        "business": business, "number": due.number, "count": due.count,
        "amount": f"{format_minor(due.owed, due.currency)} {due.currency}",
        "due_on": due.due_on.isoformat(), "pay_link": link, "opt_out_link": opt_out,
    }  # fmt: skip
    return rules.Template(subject.format_map(values), body.format_map(values))


class InstalmentLinks:
    """Sends the pay links of instalments coming due, with the deployment's provider, message
    sender and opt-out links; run by the service with the reminders."""

    def __init__(self, database: Database, provider: PaymentProvider, sender: MessageSender,
                 links: OptOutLinks) -> None:  # fmt: skip
        self.database, self.provider, self.sender, self.links = database, provider, sender, links

    async def send_due(self, now: datetime, *, tenant_id: int | None = None) -> LinkReport:
        async with self.database.system_session() as session:
            query = (select(Tenant.id, Tenant.name, Tenant.timezone, Tenant.language)
                     .where(Tenant.disabled.is_(False)).order_by(Tenant.id))  # fmt: skip
            if tenant_id is not None:
                query = query.where(Tenant.id == tenant_id)
            rows = (await session.execute(query)).all()
        report = LinkReport()
        for row in rows:
            business = _Business(row.id, row.name, zone_named(row.timezone))
            await self._business(business, row.language or "en", now, report)
        return report

    async def _business(
        self, business: _Business, language: str, now: datetime, report: LinkReport
    ) -> None:
        today = local_day(now, business.zone)
        after = 0
        while True:
            async with self.database.tenant_session(business.id) as session:
                schedule = await store.schedule_of(session) or rules.Schedule(steps=())
                batch, last = await _due(session, today, after, language)
            for due in batch:
                zone = rules.customer_zone(due.phone, business.zone)
                if not rules.may_send(now, zone, schedule):
                    report.waiting += 1
                    continue
                await self._one(business, due, now, report)
            if last is None:
                return
            after = last

    async def _one(self, business: _Business, due: _Due, now: datetime, report: LinkReport) -> None:
        channel, recipient = ("sms", due.phone) if due.phone else ("email", due.email)
        if not recipient or due.owed <= 0:
            report.skipped += 1
            return
        link = await pay_link_or_none(
            self.provider, amount_minor=due.owed, currency=due.currency,
            idempotency_key=f"{due.key}-{due.owed}",
            description=f"Instalment {due.number} of {due.count}, account {due.account_id}",
            customer_ref=due.customer_ref, about=f"instalment {due.instalment_id}",
        )  # fmt: skip
        if link is None:  # the next pass tries again
            report.failed += 1
            return
        try:
            message_id = await self._claim(business, due, link, channel, recipient, now)
        except _Stopped:
            report.skipped += 1
            return
        if message_id is None:
            return  # another pass sent it
        report.sent += 1
        outcome = await deliver(self.database, self.sender, business.id, message_id, now=now)
        report.failed += outcome != "sent"

    async def _claim(
        self, business: _Business, due: _Due, link: PayLink, channel: str, recipient: str,
        now: datetime,
    ) -> int | None:  # fmt: skip
        module: Any = postgresql if self.database.dialect == "postgresql" else sqlite
        async with self.database.tenant_session(business.id) as session, session.begin():
            # The link's payment row is the first write: written once, whoever runs.
            payment_id = await session.scalar(
                module.insert(Payment).on_conflict_do_nothing().returning(Payment.id), {
                    "tenant_id": business.id, "account_id": due.account_id,
                    "amount_minor": due.owed, "currency": due.currency, "method": "link",
                    "provider": self.provider.name, "provider_ref": link.provider_ref,
                    "idempotency_key": due.key, "status": "pending", "created_at": now,
                    "refunded_minor": 0,
                })  # fmt: skip
            if payment_id is None:
                return None
            await _still_due(session, due)
            text = message_for(due, business.name, channel, link.url,
                               await self.links.link(business.id, due.customer_id))  # fmt: skip
            message = OutboxMessage(channel=channel, recipient=recipient, subject=text.subject,
                                    body=text.body, payment_id=payment_id)  # fmt: skip
            session.add(message)
            await session.flush()
            record(session, tenant_id=business.id, actor=store.ACTOR,
                   action="plan.instalment_link", target=Target("plan_instalment",
                                                                due.instalment_id),
                   details={"plan_id": due.plan_id, "account_id": due.account_id,
                            "number": due.number, "amount_minor": due.owed,
                            "currency": due.currency, "channel": channel,
                            "to": mask(recipient), "payment_id": payment_id}, at=now)  # fmt: skip
            return message.id


async def _still_due(session: AsyncSession, due: _Due) -> None:
    """Read again under the customer's lock (an opt-out locks it too: whichever commits
    first wins): not opted out, not held, the instalment pending on an active plan."""
    customer = await session.scalar(
        select(Customer).where(Customer.id == due.customer_id).with_for_update()
        .execution_options(populate_existing=True)
    )  # fmt: skip
    row = (await session.execute(
        select(Account.collections_hold, PlanInstalment.status, PaymentPlan.status)
        .join(PaymentPlan, PaymentPlan.account_id == Account.id)
        .join(PlanInstalment, PlanInstalment.plan_id == PaymentPlan.id)
        .where(PlanInstalment.id == due.instalment_id)
    )).one_or_none()  # fmt: skip
    if (customer is None or customer.reminders_opted_out_at is not None or row is None
            or row[0] is not None or row[1] != "pending" or row[2] != "active"):  # fmt: skip
        raise _Stopped


async def _due(
    session: AsyncSession, today: date, after: int, language: str
) -> tuple[list[_Due], int | None]:
    """A page of pending instalments of active pay-link plans due from today to
    `LINK_DAYS_BEFORE` days ahead, of customers not opted out on accounts not held, less
    those whose link has gone; and the last id read when another page may follow."""
    phone = (
        select(CustomerPhone.e164).where(CustomerPhone.customer_id == Customer.id)
        .order_by(CustomerPhone.id).limit(1).scalar_subquery()
    )  # fmt: skip
    rows = (await session.execute(
        select(PlanInstalment.id, PlanInstalment.plan_id, PlanInstalment.number,
               PaymentPlan.instalment_count, PlanInstalment.due_on,
               (PlanInstalment.amount_minor - PlanInstalment.paid_minor).label("owed"),
               PaymentPlan.currency, PaymentPlan.account_id, Account.customer_id,
               Customer.customer_ref, Customer.language, Customer.email, phone.label("phone"))
        .join(PaymentPlan, PaymentPlan.id == PlanInstalment.plan_id)
        .join(Account, Account.id == PaymentPlan.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(PlanInstalment.status == "pending", PlanInstalment.id > after,
               PlanInstalment.due_on >= today,
               PlanInstalment.due_on <= today + timedelta(days=LINK_DAYS_BEFORE),
               PaymentPlan.status == "active", PaymentPlan.method == "pay_link",
               Customer.reminders_opted_out_at.is_(None), Account.collections_hold.is_(None))
        .order_by(PlanInstalment.id).limit(BATCH)
    )).all()  # fmt: skip
    batch = [
        _Due(r.id, r.plan_id, r.number, r.instalment_count, r.due_on, int(r.owed), r.currency,
             r.account_id, r.customer_id, r.customer_ref,
             r.language if r.language in rules.LANGUAGES else language, r.email, r.phone)
        for r in rows
    ]  # fmt: skip
    if not batch:
        return batch, None
    sent = set((await session.scalars(
        select(Payment.idempotency_key).where(Payment.idempotency_key.in_([d.key for d in batch]))
    )).all())  # fmt: skip
    last = batch[-1].instalment_id if len(batch) == BATCH else None
    return [d for d in batch if d.key not in sent], last
