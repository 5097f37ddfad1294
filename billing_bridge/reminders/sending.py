"""Sending the planned reminders: each at a lawful moment for its customer, each stop
condition read again in the transaction that claims it.

A reminder waits (stays planned) while its customer's wall clock is in the business's quiet
hours, on one of its holidays, or on a day a failed direct debit of the account is retried
(`collection_attempts.next_retry_on`): the retry may pay it. When it may go, the provider's
pay link is made first (no transaction held across the provider's call; the key is the
reminder's, so a second try gets the same link), then one transaction claims the reminder,
locks its customer (an opt-out in flight is waited for and wins), reads the stop conditions
(`store.why_stop`) and either stops it or writes the pending link payment, the outbox
message, the audit entry and `reminder.sent`. The message is handed to the sender after the
commit; its outcome is on the outbox row (`pay_links.deliver`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collection.instalments import retrying
from billing_bridge.collections.rules import local_day, zone_named
from billing_bridge.money import format_minor
from billing_bridge.payments.pay_links import MessageSender, deliver, mask, pay_link_or_none
from billing_bridge.payments.port import PayLink, PaymentProvider
from billing_bridge.reminders import rules, store
from billing_bridge.reminders.instalment_links import InstalmentLinks, LinkReport
from billing_bridge.reminders.links import OptOutLinks
from pbx.audit import Target, record
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    CollectionAttempt,
    Customer,
    CustomerPhone,
    Invoice,
    OutboxMessage,
    Payment,
    Reminder,
    ReminderSettings,
    Tenant,
)

BATCH = 200


class _NoLinkYet(Exception):
    """Nothing was owed when the reminder was read (no pay link made), but is at the claim."""


@dataclass
class SendReport:
    sent: int = 0
    listed: int = 0
    stopped: int = 0
    waiting: int = 0  # quiet hours, a holiday or a retry day: tried again on the next pass
    failed: int = 0  # the provider's pay link or the sender failed: tried again

    def __str__(self) -> str:
        return (f"{self.sent} reminder(s) sent, {self.listed} listed for the worklist, "
                f"{self.stopped} stopped, {self.waiting} waiting, "
                f"{self.failed} failed")  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Candidate:
    id: int
    account_id: int
    customer_id: int
    step_day: int
    channel: str
    overdue_since: date
    currency: str
    customer_ref: str
    language: str
    email: str | None
    phone: str | None
    overdue_minor: int


@dataclass(frozen=True, slots=True)
class _Business:
    id: int
    name: str
    zone: ZoneInfo
    language: str


class ReminderSender:
    """Sends due reminders with the deployment's provider (pay links), message sender and
    opt-out links; run by the service after each plan."""

    def __init__(self, database: Database, provider: PaymentProvider, sender: MessageSender,
                 links: OptOutLinks) -> None:  # fmt: skip
        self.database, self.provider, self.sender, self.links = database, provider, sender, links

    async def send_due(self, now: datetime, *, tenant_id: int | None = None) -> SendReport:
        async with self.database.system_session() as session:
            query = (
                select(Tenant.id, Tenant.name, Tenant.timezone, Tenant.language)
                .join(ReminderSettings, ReminderSettings.tenant_id == Tenant.id)
                .where(Tenant.disabled.is_(False)).order_by(Tenant.id)
            )  # fmt: skip
            if tenant_id is not None:
                query = query.where(Tenant.id == tenant_id)
            rows = (await session.execute(query)).all()
        report = SendReport()
        for row in rows:
            business = _Business(row.id, row.name, zone_named(row.timezone), row.language or "en")
            await self._business(business, now, report)
        return report

    async def send_instalment_links(
        self, now: datetime, *, tenant_id: int | None = None
    ) -> LinkReport:
        """The pay links of pay-link plans' instalments coming due (`instalment_links`)."""
        links = InstalmentLinks(self.database, self.provider, self.sender, self.links)
        return await links.send_due(now, tenant_id=tenant_id)

    async def _business(self, business: _Business, now: datetime, report: SendReport) -> None:
        today = local_day(now, business.zone)
        after = 0
        while True:
            async with self.database.tenant_session(business.id) as session:
                row = await session.scalar(select(ReminderSettings))
                if row is None:
                    return
                schedule = rules.schedule_of(row)
                batch = await _candidates(session, today, after, business.language)
                retrying = await _retry_days(session, [c.account_id for c in batch], today)
            for candidate in batch:
                zone = rules.customer_zone(candidate.phone, business.zone)
                if not rules.may_send(now, zone, schedule) or candidate.account_id in retrying:
                    report.waiting += 1
                    continue
                await self._one(business, schedule, candidate, today, now, report)
            if len(batch) < BATCH:
                return
            after = batch[-1].id

    async def _one(
        self, business: _Business, schedule: rules.Schedule, candidate: _Candidate, today: date,
        now: datetime, report: SendReport,
    ) -> None:  # fmt: skip
        link: PayLink | None = None
        if candidate.channel != "worklist" and candidate.overdue_minor > 0:
            link = await pay_link_or_none(
                self.provider, amount_minor=candidate.overdue_minor, currency=candidate.currency,
                idempotency_key=f"reminder-{candidate.id}-{candidate.overdue_minor}",
                description=f"Overdue payment, account {candidate.account_id}",
                customer_ref=candidate.customer_ref, about=f"reminder {candidate.id}",
            )  # fmt: skip
            if link is None:  # the reminder waits for a pass
                report.failed += 1
                return
        try:
            message_id = await self._claim(business, schedule, candidate, link, today, now,
                                           report)  # fmt: skip
        except _NoLinkYet:  # owed again since it was read: a link on the next pass
            report.waiting += 1
            return
        if message_id is not None:
            outcome = await deliver(self.database, self.sender, business.id, message_id, now=now)
            report.failed += outcome != "sent"

    async def _claim(
        self, business: _Business, schedule: rules.Schedule, candidate: _Candidate,
        link: PayLink | None, today: date, now: datetime, report: SendReport,
    ) -> int | None:  # fmt: skip
        async with self.database.tenant_session(business.id) as session, session.begin():
            # The claim is the first write: a reminder goes out once, whoever runs.
            claimed = await session.execute(
                update(Reminder).where(Reminder.id == candidate.id, Reminder.status == "planned")
                .values(decided_at=now).execution_options(synchronize_session=False)
            )  # fmt: skip
            if not claimed.rowcount:
                return None
            customer = await session.scalar(
                select(Customer).where(Customer.id == candidate.customer_id)
                .with_for_update().execution_options(populate_existing=True)
            )  # fmt: skip
            reminder = await session.get(Reminder, candidate.id, populate_existing=True)
            assert reminder is not None
            standing = await store.standing(session, candidate.account_id, today)
            reason = store.why_stop(standing, customer is None or
                                    customer.reminders_opted_out_at is not None)  # fmt: skip
            recipient = candidate.email if candidate.channel == "email" else candidate.phone
            if reason is None and candidate.channel != "worklist" and not recipient:
                reason = "no_recipient"
            if reason is not None:
                await store.stop(session, reminder, reason, now)
                report.stopped += 1
                return None
            if candidate.channel == "worklist":
                reminder.status = "listed"
                record(session, tenant_id=business.id, actor=store.ACTOR,
                       action="reminder.listed", target=Target("reminder", reminder.id),
                       details={"account_id": reminder.account_id,
                                "step_day": reminder.step_day}, at=now)  # fmt: skip
                report.listed += 1
                return None
            if link is None or recipient is None:
                raise _NoLinkYet  # rolls the claim back
            message = await self._write_message(session, business, schedule, candidate,
                                                reminder, link, recipient, today, now)  # fmt: skip
            report.sent += 1
            return message

    async def _write_message(
        self, session: AsyncSession, business: _Business, schedule: rules.Schedule,
        candidate: _Candidate, reminder: Reminder, link: PayLink, recipient: str, today: date,
        now: datetime,
    ) -> int:  # fmt: skip
        amount = candidate.overdue_minor
        payment = Payment(
            account_id=candidate.account_id, amount_minor=amount, currency=candidate.currency,
            method="link", provider=self.provider.name, provider_ref=link.provider_ref,
            idempotency_key=f"reminder-{reminder.id}", status="pending",
        )  # fmt: skip
        session.add(payment)
        await session.flush()
        text = rules.render(schedule.template(candidate.language, candidate.channel), {
            "business": business.name,
            "amount": f"{format_minor(amount, candidate.currency)} {candidate.currency}",
            "days": str((today - candidate.overdue_since).days),
            "pay_link": link.url,
            "opt_out_link": await self.links.link(business.id, candidate.customer_id),
        })  # fmt: skip
        message = OutboxMessage(channel=candidate.channel, recipient=recipient,
                                subject=text.subject, body=text.body,
                                payment_id=payment.id)  # fmt: skip
        session.add(message)
        await session.flush()
        reminder.status, reminder.message_id, reminder.payment_id = "sent", message.id, payment.id
        await session.flush()
        record(session, tenant_id=business.id, actor=store.ACTOR, action="reminder.sent",
               target=Target("reminder", reminder.id),
               details={"account_id": reminder.account_id, "step_day": reminder.step_day,
                        "channel": reminder.channel, "to": mask(recipient),
                        "amount_minor": amount, "currency": candidate.currency,
                        "payment_id": payment.id}, at=now)  # fmt: skip
        await store.reminder_event(session, reminder, "reminder.sent")
        return message.id


async def _candidates(
    session: AsyncSession, today: date, after: int, language: str
) -> list[_Candidate]:
    phone = (
        select(CustomerPhone.e164).where(CustomerPhone.customer_id == Customer.id)
        .order_by(CustomerPhone.id).limit(1).scalar_subquery()
    )  # fmt: skip
    overdue = (
        select(func.coalesce(func.sum(Invoice.outstanding_minor), 0))
        .where(Invoice.account_id == Account.id, Invoice.status == "open",
               Invoice.outstanding_minor > 0, Invoice.due_on < today)
        .scalar_subquery()
    )  # fmt: skip
    rows = (await session.execute(
        select(Reminder.id, Reminder.account_id, Reminder.customer_id, Reminder.step_day,
               Reminder.channel, Reminder.overdue_since, Account.currency,
               Account.balance_minor, Customer.customer_ref, Customer.language,
               Customer.email, phone.label("phone"), overdue.label("overdue"))
        .join(Account, Account.id == Reminder.account_id)
        .join(Customer, Customer.id == Reminder.customer_id)
        .where(Reminder.status == "planned", Reminder.planned_on <= today, Reminder.id > after)
        .order_by(Reminder.id).limit(BATCH)
    )).all()  # fmt: skip
    return [
        _Candidate(r.id, r.account_id, r.customer_id, r.step_day, r.channel, r.overdue_since,
                   r.currency, r.customer_ref,
                   r.language if r.language in rules.LANGUAGES else language,
                   r.email, r.phone, min(int(r.overdue), max(int(r.balance_minor), 0)))
        for r in rows
    ]  # fmt: skip


async def _retry_days(session: AsyncSession, account_ids: list[int], today: date) -> set[int]:
    """Of these accounts, those with a failed direct debit the collection run retries today:
    an invoice's (`collection_attempts.next_retry_on`) or a plan's instalment's."""
    if not account_ids:
        return set()
    instalments = await retrying(session, account_ids, today)
    rows = await session.scalars(
        select(Invoice.account_id).join(CollectionAttempt,
                                        CollectionAttempt.invoice_id == Invoice.id)
        .where(Invoice.account_id.in_(account_ids), CollectionAttempt.status == "failed",
               CollectionAttempt.next_retry_on == today)
        .distinct()
    )  # fmt: skip
    return set(rows) | instalments
