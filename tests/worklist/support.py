"""A business in Vilnius with overdue customers, two agents and a supervisor, and a fake of
our click-to-call port that writes the call log's row as the real one does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select

from billing_bridge.collections.access import Staff
from billing_bridge.worklist import claims, rules
from pbx.db.database import Database
from pbx.db.models import Account, AuditEntry, Call, User, WorklistEntry
from tests.factories import make_customer, make_tenant

# Tuesday 16 March 2027, 10:00 UTC: 12:00 in Vilnius, within the calling window.
NOW = datetime(2027, 3, 16, 10, 0, tzinfo=UTC)
TODAY = date(2027, 3, 16)


@dataclass
class Shop:
    database: Database
    tenant_id: int
    agent: Staff
    other_agent: Staff
    supervisor: Staff
    placed: list[tuple[str, int]] = field(default_factory=list)

    async def customer(self, ref: str, due_on: date, owed: int = 50_000,
                       phone: str | None = None) -> tuple[int, int]:  # fmt: skip
        """(customer id, account id) owing `owed`, all of it due on `due_on`."""
        number = phone or f"+3706{sum(map(ord, ref)) % 10_000_000:07d}"
        customer = await make_customer(self.database, self.tenant_id, ref, ref.title(), [number], [{
            "currency": "EUR", "balance_minor": owed,
            "invoices": [{"amount_minor": owed, "status": "open", "due_on": due_on}],
        }])  # fmt: skip
        async with self.database.tenant_session(self.tenant_id) as session:
            account = await session.scalar(select(Account.id).where(
                Account.customer_id == customer))  # fmt: skip
        assert account is not None
        return customer, account

    async def place(self, number: str, customer_id: int) -> str:
        """Click-to-call as the desk does it: the call log's row, outbound, opened."""
        channel = f"out-{len(self.placed) + 1}"
        async with self.database.tenant_session(self.tenant_id) as session, session.begin():
            session.add(Call(channel_id=channel, direction="outbound", caller_number=number,
                             caller_raw=number, dialed_number=number, match="unique",
                             customer_id=customer_id, agent_id=self.agent.user_id,
                             arrived_at=NOW))  # fmt: skip
        self.placed.append((number, customer_id))
        return channel

    async def called(self, policy: rules.Policy, now: datetime) -> int:
        """The agent claims the next entry and places its call: the call log row's id."""
        claimed = await claims.claim_next(self.database, self.tenant_id, self.agent, policy, now)
        assert claimed.entry is not None, claimed.passed
        _, _, record_id = await claims.place_call(self.database, self.tenant_id,
                                                  claimed.entry.id, self.agent, policy, now,
                                                  self.place)  # fmt: skip
        assert record_id is not None
        return record_id

    async def outcome(self, change: claims.Outcome, staff: Staff, now: datetime,
                      policy: rules.Policy | None = None) -> Call:  # fmt: skip
        async with self.database.tenant_session(self.tenant_id) as session, session.begin():
            call, _ = await claims.record_outcome(session, self.tenant_id, change, staff,
                                                  policy or rules.Policy(), now)  # fmt: skip
            return call

    async def entries(self) -> dict[int, WorklistEntry]:
        async with self.database.tenant_session(self.tenant_id) as session:
            rows = (await session.scalars(select(WorklistEntry))).all()
            return {row.account_id: row for row in rows}

    async def audit(self) -> list[str]:
        async with self.database.tenant_session(self.tenant_id) as session:
            return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def open_shop(database: Database, slug: str = "vilnius") -> Shop:
    tenant = await make_tenant(database, slug, "LT", "EUR", [f"+3705200{len(slug):04d}"],
                               timezone="Europe/Vilnius")  # fmt: skip
    async with database.tenant_session(tenant) as session, session.begin():
        users = [User(username=f"{slug}-{n}", display_name=n, role=r) for n, r in
                 (("avi", "agent"), ("bella", "agent"), ("sam", "supervisor"))]  # fmt: skip
        session.add_all(users)
        await session.flush()
        avi, bella, sam = (Staff(u.id, f"{u.role}:{u.username}", u.role != "agent")
                           for u in users)  # fmt: skip
    return Shop(database, tenant, avi, bella, sam)
