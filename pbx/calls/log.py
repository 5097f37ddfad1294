"""The call log as people read it and close it at wrap-up. An agent sees and closes their
own calls; a supervisor (or an admin) any call of the business."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy import Select, func, select

from billing_bridge.business_days import zone_of
from billing_bridge.events import changes
from pbx.audit import Target, record
from pbx.auth.roles import Principal, Role
from pbx.calls.errors import Forbidden, NotFound
from pbx.db.database import Database
from pbx.db.models import Call

PAGE = 100  # the most rows one read returns


@dataclass(frozen=True)
class CallQuery:
    """Which calls, newest first: each filter that is not None narrows them."""

    queue_id: int | None = None
    agent_id: int | None = None
    customer_id: int | None = None
    outcome: str | None = None
    arrived_from: datetime | None = None  # arrived at or after
    arrived_before: datetime | None = None
    before_id: int | None = None  # the page after the one that ended with this id
    limit: int = PAGE  # at most PAGE
    callback_of: int | None = None  # the attempts of this call's callback


@dataclass(frozen=True)
class CallPage:
    rows: list[Call]
    next_before_id: int | None  # the last row's id when the page is full: there may be more


@dataclass(frozen=True)
class Disposition:
    """What an agent records about a call at wrap-up."""

    record_id: int  # the call log's row
    disposition: str
    notes: str | None = None


@dataclass(frozen=True)
class SelfServiceDay:
    """Today's calls (from midnight in the business's time zone) whose caller used the IVR's
    self-service menu, and of them those it resolved: the caller hung up after a completed
    action (balance, payment, mandate) without an agent."""

    used: int
    resolved: int


async def self_service_today(database: Database, tenant_id: int, now: datetime) -> SelfServiceDay:
    zone = await zone_of(database, tenant_id)
    midnight = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    used = func.count(Call.id).filter(Call.self_service.is_not(None))
    resolved = func.count(Call.id).filter(Call.self_service_resolved.is_(True))
    async with database.tenant_session(tenant_id) as session:
        row = (await session.execute(
            select(used, resolved).where(Call.arrived_at >= midnight.astimezone(UTC))
        )).one()  # fmt: skip
    return SelfServiceDay(int(row[0]), int(row[1]))


async def calls_seen_by(database: Database, who: Principal, query: CallQuery) -> CallPage:
    """A page of the calls `who` may see (an agent: the calls they took) that match."""
    limit = min(PAGE, query.limit)
    statement = _matching(query)
    if not who.at_least(Role.SUPERVISOR):
        statement = statement.where(Call.agent_id == who.user_id)
    async with database.tenant_session(who.tenant_id) as session:
        rows = list(await session.scalars(statement.limit(limit)))
    return CallPage(rows, rows[-1].id if rows and len(rows) == limit else None)


async def set_disposition(database: Database, who: Principal, change: Disposition) -> Call:
    """Record the call's disposition and notes, audited (`call.disposition`) in the same
    transaction; another agent's call is refused unless `who` supervises. Once the call has
    ended, a change is also the billing system's `call.updated` (a save that changes nothing
    tells it nothing). The row is locked as the call's end locks it, so a disposition racing
    the end is in `call.ended` or in a `call.updated` after it."""
    async with database.tenant_session(who.tenant_id) as session, session.begin():
        row = await session.scalar(
            select(Call).where(Call.id == change.record_id).with_for_update()
            .execution_options(populate_existing=True)
        )  # fmt: skip
        if row is None:
            raise NotFound("call")
        if row.agent_id != who.user_id and not who.at_least(Role.SUPERVISOR):
            raise Forbidden("this is not your call")
        changed = (row.disposition, row.notes) != (change.disposition, change.notes)
        row.disposition, row.notes = change.disposition, change.notes
        record(session, tenant_id=who.tenant_id, actor=who, action="call.disposition",
               target=Target("call", row.id),
               details={"disposition": change.disposition})  # fmt: skip
        if changed:
            await session.flush()
            await changes.call_updated(session, row)
        return row


def _matching(query: CallQuery) -> Select[tuple[Call]]:
    statement = select(Call).order_by(Call.id.desc())
    equal = ((Call.queue_id, query.queue_id), (Call.agent_id, query.agent_id),
             (Call.customer_id, query.customer_id), (Call.outcome, query.outcome),
             (Call.callback_of, query.callback_of))  # fmt: skip
    for column, value in equal:
        if value is not None:
            statement = statement.where(column == value)
    if query.before_id is not None:
        statement = statement.where(Call.id < query.before_id)
    if query.arrived_from is not None:
        statement = statement.where(Call.arrived_at >= query.arrived_from)
    if query.arrived_before is not None:
        statement = statement.where(Call.arrived_at < query.arrived_before)
    return statement
