"""What a committed change to customers touches live, whoever made it (the billing API, a
Stripe Billing event): the numbers the caller lookup must forget, and the calls on now with
those customers that have an agent (whose desks get the new panel)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from billing_bridge.ingest.sql import any_of, plan_for_values, rows_among
from pbx.db.database import Database
from pbx.db.models import Call, CustomerPhone

# A call still open after this long is a call log a crash left open, not a call on now.
LONGEST_CALL = timedelta(hours=12)
_IN = 1000  # ids per `IN (...)`


@dataclass(frozen=True, slots=True)
class CallOn:
    """A call on now with a changed customer: whose desks hear of it."""

    customer_id: int
    call_id: str
    record_id: int
    agent_id: int


@dataclass(frozen=True, slots=True)
class LiveChange:
    numbers: frozenset[str]
    calls: tuple[CallOn, ...]


async def live_change(
    database: Database,
    tenant_id: int,
    customer_ids: Iterable[int],
    numbers: Iterable[str],
    now: datetime,
) -> LiveChange:
    """After the change committed: the customers' numbers (with `numbers`, those the change
    took from them), and the calls on now with those customers that have an agent."""
    found: set[str] = set(numbers)
    calls: list[CallOn] = []
    ids = sorted(set(customer_ids))
    async with database.tenant_session(tenant_id) as session:
        await plan_for_values(session)
        for start in range(0, len(ids), _IN):
            chunk = ids[start : start + _IN]
            phones = await rows_among(session, (CustomerPhone.e164,), CustomerPhone.customer_id,
                                      chunk)  # fmt: skip
            found.update(e164 for (e164,) in phones)
            rows = await session.execute(
                select(Call.customer_id, Call.channel_id, Call.id, Call.agent_id)
                .where(any_of(session, Call.customer_id, chunk), Call.ended_at.is_(None),
                       Call.agent_id.is_not(None), Call.arrived_at > now - LONGEST_CALL)
            )  # fmt: skip
            calls += [CallOn(*row) for row in rows]
    return LiveChange(frozenset(found), tuple(calls))
