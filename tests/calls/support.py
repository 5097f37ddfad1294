"""A business with two agents and a supervisor, and calls in its log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pbx.auth.roles import Principal, Role
from pbx.db.database import Database
from pbx.db.models import Call, Queue, User
from tests.factories import make_tenant

NOON = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Office:
    tenant_id: int
    dana: Principal  # an agent
    eli: Principal  # another agent
    sam: Principal  # their supervisor
    support: int  # a queue's id


async def make_office(database: Database, slug: str = "ofek") -> Office:
    tenant = await make_tenant(database, slug, "IL", "ILS", [f"+9723555{len(slug):04d}"])
    async with database.tenant_session(tenant) as session, session.begin():
        people = (("dana", "agent"), ("eli", "agent"), ("sam", "supervisor"))
        users = [User(username=name, display_name=name.title(), role=role)
                 for name, role in people]  # fmt: skip
        queue = Queue(name="support")
        session.add_all([*users, queue])
        await session.flush()
    dana, eli, sam = (Principal(user.id, tenant, user.username, Role(user.role)) for user in users)
    return Office(tenant, dana, eli, sam, queue.id)


async def log_call(
    database: Database, office: Office, agent: Principal | None, *, minutes: int = 0,
    outcome: str | None = "answered", queue: bool = True,
) -> int:  # fmt: skip
    """A call in the log, arrived `minutes` after noon; its row id."""
    async with database.tenant_session(office.tenant_id) as session, session.begin():
        name = agent.username if agent else "nobody"
        row = Call(
            channel_id=f"ch-{minutes}-{name}", caller_raw="+972502345678",
            caller_number="+972502345678", match="none", outcome=outcome,
            agent_id=agent.user_id if agent else None,
            arrived_at=NOON + timedelta(minutes=minutes),
            queue_id=office.support if queue else None,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id
