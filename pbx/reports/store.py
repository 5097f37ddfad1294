"""The report intervals' writes: a call's figures added to its quarter hour as it ends (in
the call end's own transaction, `pbx/callflow/call_log.py`), and a business's intervals
rebuilt from the call log (`ledgerline report rebuild`).

What a call adds is written once, as SQL over its `calls` row (`_QUEUE_FIGURES`,
`_AGENT_FIGURES`): the call's end sums one row, the rebuild sums a range grouped by
quarter hour, so the two cannot disagree. A call belongs to the quarter hour it arrived in.
Only ended calls count; a call log row changed after its end (a disposition does not count
here; a callback answered later would) is counted as it was at its end until a rebuild.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.db.database import Database
from pbx.db.direct import DirectConnection
from pbx.db.models import (
    WAIT_BAND_NAMES,
    WAIT_BANDS,
    Call,
    report_agent_intervals,
    report_queue_intervals,
)
from pbx.db.scoped import TENANT, Scoped, TenantConnection, session_connection
from pbx.reports import agent_states
from pbx.reports.periods import QUARTER_S, Period, bucket_start

_QUEUED = Call.queued_at.is_not(None)
_WAITED = and_(_QUEUED, Call.wait_seconds.is_not(None))
_ANSWERED = and_(_QUEUED, Call.outcome == "answered")
_ABANDONED = and_(_QUEUED, Call.outcome == "abandoned")
_WAIT = func.coalesce(Call.wait_seconds, 0)
# Overflows: a queued call sent to voicemail (outcome, so calls summed before the overflow
# column count too) or to a callback by its queue's rule, counted in its last queue; one
# sent to another queue counts in the queue it left (`_OVERFLOW_SOURCES`).
# (Two comparisons, not IN: an IN list is rendered per execution, `pbx/db/direct.py`.)
_TO_VOICEMAIL = and_(_QUEUED, or_(Call.outcome == "overflowed", Call.outcome == "voicemail"))
_TO_CALLBACK = and_(_QUEUED, Call.overflow == "callback")
_OVERFLOWED = or_(_TO_VOICEMAIL, _TO_CALLBACK)


def _one_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _value_if(condition: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[int]:
    return case((condition, value), else_=0)


def _in_band(index: int) -> ColumnElement[bool]:
    wait = _WAIT
    if index == len(WAIT_BANDS):
        return wait > WAIT_BANDS[-1]
    upper = wait <= WAIT_BANDS[index]
    return upper if index == 0 else and_(wait > WAIT_BANDS[index - 1], upper)


def _bands(kind: str, condition: ColumnElement[bool]) -> dict[str, ColumnElement[int]]:
    return {f"{kind}_{name}": _one_if(and_(condition, _in_band(index)))
            for index, name in enumerate(WAIT_BAND_NAMES)}  # fmt: skip


# What one ended inbound call adds to its queue's quarter hour.
_QUEUE_FIGURES: dict[str, ColumnElement[int]] = {
    "calls": literal(1),
    "offered": _one_if(_QUEUED),
    "answered": _one_if(_ANSWERED),
    "abandoned": _one_if(_ABANDONED),
    "overflowed": _one_if(_OVERFLOWED),
    "overflowed_voicemail": _one_if(_TO_VOICEMAIL),
    "overflowed_callback": _one_if(_TO_CALLBACK),
    "closed": _one_if(Call.outcome == "closed"),
    "callbacks": _one_if(Call.outcome == "callback"),
    "voicemail": _one_if(and_(Call.queued_at.is_(None), Call.outcome == "voicemail")),
    "failed": _one_if(Call.outcome == "failed"),
    "waited": _one_if(_WAITED),
    "wait_sum": _value_if(_WAITED, _WAIT),
    "answer_wait_sum": _value_if(_ANSWERED, _WAIT),
    "abandon_wait_sum": _value_if(_ABANDONED, _WAIT),
    "talk_sum": _value_if(_ANSWERED, func.coalesce(Call.talk_seconds, 0)),
    **_bands("waited", _WAITED),
    **_bands("answered", _ANSWERED),
    **_bands("abandoned", _ABANDONED),
}
_QUEUE_MAXIMA: dict[str, ColumnElement[int]] = {"wait_max": _value_if(_WAITED, _WAIT)}
_QUEUE_KEY = {"queue_id": func.coalesce(Call.queue_id, 0),
              "did": func.coalesce(Call.dialed_number, "")}  # fmt: skip
_INBOUND = Call.direction == "inbound"

# What one ended call an agent answered adds to the agent's quarter hour.
_HANDLED = and_(Call.agent_id.is_not(None), Call.answered_at.is_not(None))
_AGENT_FIGURES: dict[str, ColumnElement[int]] = {
    "handled": literal(1),
    "inbound": _one_if(_INBOUND),
    "outbound": _one_if(Call.direction == "outbound"),
    "talk_sum": func.coalesce(Call.talk_seconds, 0),
    "answer_wait_sum": _value_if(_INBOUND, _WAIT),
}
_AGENT_MAXIMA: dict[str, ColumnElement[int]] = {"talk_max": func.coalesce(Call.talk_seconds, 0)}
_AGENT_KEY = {"agent_id": Call.agent_id, "queue_id": func.coalesce(Call.queue_id, 0)}


def _bucket(dialect: str) -> ColumnElement[int]:
    """The quarter hour a call arrived in (`periods.bucket_of`), in the database's terms."""
    if dialect == "postgresql":
        epoch = func.extract("epoch", Call.arrived_at)
        return cast(func.floor(epoch / QUARTER_S), BigInteger)
    # SQLite keeps UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' text (pbx.db.types.UtcDateTime).
    return cast(func.strftime("%s", Call.arrived_at), Integer) / QUARTER_S


class _Target:
    """One intervals table and the figures a call adds to it."""

    def __init__(self, table: Any, key: dict[str, ColumnElement[Any]],
                 figures: dict[str, ColumnElement[int]], maxima: dict[str, ColumnElement[int]],
                 where: ColumnElement[bool]) -> None:  # fmt: skip
        self.table, self.key, self.figures, self.maxima, self.where = (
            table, key, figures, maxima, where
        )

    def one_call(self, dialect: str) -> Any:
        """INSERT ... SELECT of one call's figures, added to what its row holds. Every
        column is named (0 for those the target does not add to): a column left to its
        default is filled in per execution, and the call's end sends the statement
        straight to PostgreSQL (`pbx/db/direct.py`)."""
        columns = {"bucket": _bucket(dialect), **self.key, **self.figures, **self.maxima}
        named = {"tenant_id", *columns}
        columns |= {c.name: literal(0, BigInteger) for c in self.table.c if c.name not in named}
        chosen = select(Call.tenant_id, *(c.label(n) for n, c in columns.items())).where(
            Call.tenant_id == bindparam(TENANT), Call.id == bindparam("call"), self.where
        )
        return self._upsert(dialect, columns, chosen)

    def range_of_calls(self, dialect: str) -> Any:
        """INSERT ... SELECT of every ended call's figures in a range of quarter hours."""
        bucket = _bucket(dialect)
        grouped = {"bucket": bucket, **self.key}
        sums = {name: func.sum(c) for name, c in self.figures.items()}
        maxima = {name: func.max(c) for name, c in self.maxima.items()}
        columns = {**grouped, **sums, **maxima}
        chosen = (
            select(Call.tenant_id, *(c.label(n) for n, c in columns.items()))
            .where(Call.tenant_id == bindparam(TENANT), Call.ended_at.is_not(None),
                   Call.arrived_at >= bindparam("start"), Call.arrived_at < bindparam("end"),
                   self.where)
            .group_by(Call.tenant_id, *grouped.values())
        )  # fmt: skip
        return self._upsert(dialect, columns, chosen)

    def _upsert(self, dialect: str, columns: dict[str, Any], chosen: Any) -> Any:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(self.table).from_select(["tenant_id", *columns], chosen)
        excluded, table = statement.excluded, self.table.c
        larger = func.greatest if dialect == "postgresql" else func.max
        return statement.on_conflict_do_update(
            index_elements=[c.name for c in self.table.primary_key],
            set_={
                **{n: table[n] + excluded[n] for n in self.figures},
                **{n: larger(table[n], excluded[n]) for n in self.maxima},
            },
        )


_QUEUES = _Target(report_queue_intervals, _QUEUE_KEY, _QUEUE_FIGURES, _QUEUE_MAXIMA, _INBOUND)
# A call its queue sent on to another adds to the queue it left: offered there, overflowed.
_OVERFLOW_SOURCES = _Target(
    report_queue_intervals,
    {"queue_id": Call.overflow_from_queue_id, "did": _QUEUE_KEY["did"]},
    {"offered": literal(1), "overflowed": literal(1), "overflowed_queue": literal(1)}, {},
    and_(_INBOUND, Call.overflow_from_queue_id.is_not(None)),
)  # fmt: skip
_AGENTS = _Target(report_agent_intervals, _AGENT_KEY, _AGENT_FIGURES, _AGENT_MAXIMA, _HANDLED)
_BUILT: dict[tuple[str, str], Scoped] = {}


def _statement(target: _Target, name: str, dialect: str) -> Scoped:
    """Built once per database kind; the tenant is the session's (`Scoped`)."""
    key = (f"{target.table.name}:{id(target)}:{name}", dialect)
    if key not in _BUILT:
        _BUILT[key] = Scoped(getattr(target, name)(dialect), Call)
    return _BUILT[key]


def _both(dialect: str) -> Scoped:
    """PostgreSQL: both upserts as one statement (the queue's in a data-modifying WITH,
    which runs whether or not the outer statement reads it)."""
    key = ("both:one_call", dialect)
    if key not in _BUILT:
        queues = _QUEUES.one_call(dialect).returning(literal(1)).cte("queue_row")
        _BUILT[key] = Scoped(_AGENTS.one_call(dialect).add_cte(queues), Call)
    return _BUILT[key]


def one_call_sums(call: Any) -> tuple[CTE, ...]:
    """`call_ended_on`'s upserts of the call's queue and agent on PostgreSQL, as WITH
    queries that return a row for each row they write, for the statement that announces
    the call's end to run first (`outbox.write_direct`, with `Call` reached and the call's
    id as "call"). The queue a call overflowed from is added alone first
    (`overflow_source_on`): it may be the row of the queue itself, which one statement
    cannot change twice."""
    return sums_for(inbound=call.direction == "inbound", handled=_handled(call))


def sums_for(*, inbound: bool, handled: bool) -> tuple[CTE, ...]:
    """`one_call_sums` for a kind of call, built once for each."""
    key = (inbound, handled)
    if key not in _SUMS:
        used = ((_QUEUES, inbound), (_AGENTS, handled))
        _SUMS[key] = tuple(
            target.one_call("postgresql").returning(literal(1)).cte(f"sums_{n}")
            for n, (target, wanted) in enumerate(used) if wanted
        )  # fmt: skip
    return _SUMS[key]


async def overflow_source_on(
    connection: TenantConnection | DirectConnection, dialect: str, call: Any
) -> None:
    """Add an ended call to the quarter hour of the queue that sent it on, if one did."""
    if call.direction == "inbound" and call.overflow_from_queue_id is not None:
        await connection.execute(_statement(_OVERFLOW_SOURCES, "one_call", dialect),
                                 {"call": call.id})  # fmt: skip


def _handled(call: Any) -> bool:
    return call.agent_id is not None and call.answered_at is not None


_SUMS: dict[tuple[bool, ...], tuple[CTE, ...]] = {}


async def call_ended(session: AsyncSession, call: Call) -> None:
    """Add an ended call to its quarter hour: its queue's row (an inbound call) and its
    agent's (a call an agent answered), in the caller's transaction: one statement (two
    on SQLite for a call both inbound and answered), and one more for a call its queue
    sent on to another (the row of the queue it left)."""
    await call_ended_on(await session_connection(session), session.bind.dialect.name, call)


async def call_ended_on(
    connection: TenantConnection | DirectConnection, dialect: str, call: Call
) -> None:
    """`call_ended` on a connection inside the call end's transaction: a session's, or a
    direct one (`Database.tenant_transaction`, PostgreSQL)."""
    inbound, handled = call.direction == "inbound", _handled(call)
    await overflow_source_on(connection, dialect, call)
    if inbound and handled and dialect == "postgresql":
        await connection.execute(_both(dialect), {"call": call.id})
        return
    if inbound:
        await connection.execute(_statement(_QUEUES, "one_call", dialect), {"call": call.id})
    if handled:
        await connection.execute(_statement(_AGENTS, "one_call", dialect), {"call": call.id})


async def rebuild(database: Database, tenant_id: int, span: Period | None) -> int:
    """Sum the business's ended calls again into its intervals (of `span`, or all of them),
    replacing what they held, in one transaction, and the agents' state intervals from their
    closed state spans (`agent_states.rebuild`). Returns how many calls were summed."""
    dialect = database.engine.dialect.name
    async with database.tenant_session(tenant_id) as session, session.begin():
        await agent_states.rebuild(session, tenant_id, *(span.buckets if span else (None, None)))
        if span is None:
            first, last = (await session.execute(
                select(func.min(Call.arrived_at), func.max(Call.arrived_at))
            )).one()  # fmt: skip
            if first is None:
                return 0
            lo, hi = int(first.timestamp()) // QUARTER_S, int(last.timestamp()) // QUARTER_S + 1
        else:
            lo, hi = span.buckets
        for table in (report_queue_intervals, report_agent_intervals):
            await session.execute(delete(table).where(
                table.c.tenant_id == tenant_id, table.c.bucket >= lo, table.c.bucket < hi
            ))  # fmt: skip
        values = {"start": bucket_start(lo), "end": bucket_start(hi)}
        connection = await session_connection(session)
        for target in (_QUEUES, _OVERFLOW_SOURCES, _AGENTS):
            await connection.execute(_statement(target, "range_of_calls", dialect), values)
        counted = await session.scalar(
            select(func.count(Call.id)).where(
                Call.ended_at.is_not(None), Call.arrived_at >= bucket_start(lo),
                Call.arrived_at < bucket_start(hi),
            )
        )
    return int(counted or 0)
