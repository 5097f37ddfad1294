"""A business in Vilnius (summer time from 28 March 2027) with reminders on days 1 (email),
5 (SMS) and 10 (worklist), customers whose invoices fell due on chosen dates, and fakes of
our own ports: a sender that keeps what it sends, an installation secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from billing_bridge.payments.sandbox import SandboxProvider
from billing_bridge.reminders import rules, store
from billing_bridge.reminders.links import OptOutLinks
from billing_bridge.reminders.sending import ReminderSender
from pbx.audit import By
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    AuditEntry,
    BillingEvent,
    Customer,
    OutboxMessage,
    Reminder,
)
from pbx.installation_secret import MemorySecret
from tests.factories import make_customer, make_tenant

DUE = date(2027, 3, 23)  # day 1 overdue: 24 March; day 5: 28 March, the DST change
DST_DAY = date(2027, 3, 28)
ADMIN = By("admin:ada", None)
STEPS = (rules.Step(1, "email"), rules.Step(5, "sms"), rules.Step(10, "worklist"))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A UTC moment."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


class KeptSender:
    """Our `MessageSender` port, in memory: what was sent, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, str]] = []

    async def send(self, channel: str, recipient: str, subject: str, body: str) -> None:
        self.sent.append((channel, recipient, subject, body))


@dataclass
class Shop:
    database: Database
    tenant_id: int
    sender: KeptSender = field(default_factory=KeptSender)
    links: OptOutLinks = field(
        default_factory=lambda: OptOutLinks(MemorySecret(b"s" * 32), "https://pay.example")
    )
    provider: Any = field(default_factory=lambda: SandboxProvider(webhook_secret="w" * 32))

    def reminders(self) -> ReminderSender:
        return ReminderSender(self.database, self.provider, self.sender, self.links)

    async def customer(self, ref: str, due_on: date = DUE, *, owed: int = 10_001,
                       phone: str | None = None, email: str | None = "dana@example.com",
                       language: str | None = None) -> tuple[int, int]:  # fmt: skip
        """(customer id, account id) of a customer owing `owed`, due on `due_on`."""
        number = phone or f"+3706{abs(hash(ref)) % 10_000_000:07d}"
        customer = await make_customer(self.database, self.tenant_id, ref, ref.title(),
                                       [number], [{
            "currency": "EUR", "balance_minor": owed,
            "invoices": [{"amount_minor": owed, "status": "open", "due_on": due_on}],
        }])  # fmt: skip
        async with self.database.tenant_session(self.tenant_id) as session, session.begin():
            account = await session.scalar(select(Account).where(Account.customer_id ==
                                                                 customer))  # fmt: skip
            row = await session.get(Customer, customer)
            assert row is not None and account is not None
            row.email, row.language = email, language
            return customer, account.id

    async def rows(self, account_id: int | None = None) -> list[Reminder]:
        async with self.database.tenant_session(self.tenant_id) as session:
            query = select(Reminder).order_by(Reminder.id)
            if account_id is not None:
                query = query.where(Reminder.account_id == account_id)
            return list((await session.scalars(query)).all())

    async def messages(self) -> list[OutboxMessage]:
        async with self.database.tenant_session(self.tenant_id) as session:
            return list((await session.scalars(select(OutboxMessage)
                                               .order_by(OutboxMessage.id))).all())  # fmt: skip

    async def events(self) -> list[tuple[str, dict[str, Any]]]:
        async with self.database.tenant_session(self.tenant_id) as session:
            rows = (await session.execute(select(BillingEvent.type, BillingEvent.data)
                                          .order_by(BillingEvent.seq))).all()  # fmt: skip
            return [(t, d) for t, d in rows if t.startswith(("reminder.", "customer."))]

    async def audit(self) -> list[str]:
        async with self.database.tenant_session(self.tenant_id) as session:
            actions = await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
            return [a for a in actions if a.startswith(("reminder", "customer.", "account."))]


async def open_shop(database: Database, *, slug: str = "vilnius", steps=STEPS,
                    holidays: frozenset[date] = frozenset(),
                    quiet: tuple[str, str] = ("21:00", "08:00")) -> Shop:  # fmt: skip
    tenant = await make_tenant(database, slug, "LT", "EUR", [f"+3705200{len(slug):04d}"],
                               timezone="Europe/Vilnius")  # fmt: skip
    schedule = rules.check_schedule(steps, {}, quiet[0], quiet[1], holidays)
    async with database.tenant_session(tenant) as session, session.begin():
        await store.change_schedule(session, tenant, schedule, actor=ADMIN,
                                    now=datetime.now(UTC))  # fmt: skip
    return Shop(database, tenant)
