"""The agents' state history: each stretch of time an agent spent in one ACD state
(`agent_state_spans`), and its seconds per quarter hour (`report_agent_state_intervals`)
for the agents report.

The call flow hands every state an agent enters (`pbx.acd.engine.Engine.state_moves`, in
order, none skipped) and every hold and resume to `AgentStateHistory.record`, which keeps
them in memory and writes them in the background within `every` seconds, one transaction
a business (as the call flow's own state is saved: `pbx/callflow/saver.py`), and on a
graceful stop. A change closes the agent's open span and opens the next; a closed span
adds its seconds, split at the quarter hours' edges, to its intervals in the same
transaction, and `ledgerline report rebuild` splits the closed spans again into the same
rows. An `on_hold` span (a caller of `call_id` on hold) overlaps the `on_call` span it is
part of and ends at the latest when the agent leaves `on_call`.

After a restart (or a failover) the restored ACD state is the truth (`docs/reports.md`):
each restored agent's state arrives as a move at its `state_since`; an open span of
another state or reason is closed at the later of that moment and its own start, and the
restored state opened from there; an agent the new owner does not hold logged in has its
open spans closed at the new owner's start (`logged_out` changes, `restarted`). Changes
recorded in the last `every` seconds before a crash are lost with the snapshot that
would have carried them; what the agent did then counts in the state restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.db.database import Database
from pbx.db.direct import DirectConnection
from pbx.db.models import AgentStateSpan, report_agent_state_intervals
from pbx.db.scoped import TENANT, Scoped, TenantConnection, session_connection
from pbx.reports.periods import QUARTER_S, bucket_start

log = logging.getLogger(__name__)

ON_HOLD, OFF_HOLD, LOGGED_OUT, ON_CALL = "on_hold", "off_hold", "logged_out", "on_call"
_T = report_agent_state_intervals.c
Key = tuple[int, int, str, str]  # bucket, agent, state, reason
Connection = TenantConnection | DirectConnection  # a session's, or a direct transaction's


@dataclass(frozen=True)
class StateChange:
    """An agent (a user of the business) entered `state` at `at`: an ACD state, `on_hold`
    or `off_hold` (a caller of `call_id` put on hold or taken off it)."""

    tenant_id: int
    agent_id: int
    state: str
    at: datetime
    reason: str = ""  # a pause's
    call_id: int | None = None  # on_hold: calls.id


@dataclass
class Span:
    """A span as a write of changes holds it: read open (`id` set), or opened by one of the
    changes (`id` None: inserted at the end of the write, already closed if a later change
    of the same write closed it)."""

    agent_id: int
    state: str
    reason: str
    call_id: int | None
    started_at: datetime
    ended_at: datetime | None = None
    id: int | None = None


def split(started: datetime, ended: datetime) -> list[tuple[int, int]]:
    """A span's whole seconds per quarter hour of UTC (`bucket`), from its start's second
    to its end's: the parts add up to the span, however many edges it crosses."""
    first, last = int(started.timestamp()), int(ended.timestamp())
    parts = []
    while first < last:
        bucket = first // QUARTER_S
        edge = min(last, (bucket + 1) * QUARTER_S)
        parts.append((bucket, edge - first))
        first = edge
    return parts


def interval_sums(spans: Iterable[AgentStateSpan | Span], lo: int | None = None,
                  hi: int | None = None) -> dict[Key, list[int]]:  # fmt: skip
    """[seconds, entered] per quarter hour of closed spans, within buckets [lo, hi) when
    given; a span is entered in the quarter hour it started in."""
    sums: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for span in spans:
        assert span.ended_at is not None
        parts = split(span.started_at, span.ended_at)
        start_bucket = int(span.started_at.timestamp()) // QUARTER_S
        if not parts:  # a span of no whole second still counts as entered
            parts = [(start_bucket, 0)]
        for bucket, seconds in parts:
            if (lo is not None and bucket < lo) or (hi is not None and bucket >= hi):
                continue
            row = sums[(bucket, span.agent_id, span.state, span.reason)]
            row[0] += seconds
            row[1] += 1 if bucket == start_bucket else 0
    return sums


async def _add_intervals(connection: Connection, dialect: str,
                         sums: dict[Key, list[int]]) -> None:  # fmt: skip
    """Add the sums to their rows: one statement of fixed shape run for every row (compiled
    once; the driver sends the rows together), not one built with every row's values in it,
    which SQLAlchemy compiled anew for every write of the call flow's changes."""
    rows = [{"bucket": b, "agent_id": a, "state": s, "reason": r, "seconds": seconds,
             "entered": entered}
            for (b, a, s, r), (seconds, entered) in sums.items()]  # fmt: skip
    await connection.execute_many(_upsert(dialect), rows)


def _upsert(dialect: str) -> Scoped:
    if dialect not in _UPSERTS:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        names = ("bucket", "agent_id", "state", "reason", "seconds", "entered")
        statement = insert(report_agent_state_intervals).values(
            {name: bindparam(name) for name in (TENANT, *names)}
        )
        _UPSERTS[dialect] = Scoped(statement.on_conflict_do_update(
            index_elements=[c.name for c in report_agent_state_intervals.primary_key],
            set_={"seconds": _T.seconds + statement.excluded.seconds,
                  "entered": _T.entered + statement.excluded.entered},
        ))  # fmt: skip
    return _UPSERTS[dialect]


_UPSERTS: dict[str, Scoped] = {}


_S = AgentStateSpan
_SPAN_COLUMNS = (_S.id, _S.agent_id, _S.state, _S.reason, _S.call_id, _S.started_at)
# The open spans of some agents: PostgreSQL takes them as one array (a statement of fixed
# shape, run on the direct connection); SQLite as an IN list.
_OPEN = {
    "postgresql": Scoped(
        select(*_SPAN_COLUMNS).where(
            _S.ended_at.is_(None),
            _S.agent_id == func.any(bindparam("agents", type_=ARRAY(BigInteger))),
        ).order_by(_S.id),
        AgentStateSpan,
    ),
    "sqlite": Scoped(
        select(*_SPAN_COLUMNS).where(
            _S.ended_at.is_(None), _S.agent_id.in_(bindparam("agents", expanding=True))
        ).order_by(_S.id),
        AgentStateSpan,
    ),
}  # fmt: skip
_CLOSE = Scoped(
    update(_S).where(_S.id == bindparam("span")).values(ended_at=bindparam("ended")),
    AgentStateSpan,
)
_SPAN_FIELDS = ("agent_id", "state", "reason", "call_id", "started_at", "ended_at")
_START = Scoped(
    insert(_S).inline().values({name: bindparam(name) for name in (TENANT, *_SPAN_FIELDS)}),
    AgentStateSpan,
)


async def apply_changes(connection: Connection, dialect: str,
                        changes: Sequence[StateChange]) -> None:  # fmt: skip
    """One business's changes, in order, in the connection's transaction: the open spans
    of their agents read in one statement, then the ones closed written in one (an UPDATE
    by id for each row), the new ones in another and their quarter hours' sums in a third,
    as plain rows through prebuilt statements: at a call's few changes for each of its
    agents, ORM objects and their flush cost the call flow's process more than the
    statements (on PostgreSQL the whole write runs on a direct connection)."""
    agents = sorted({change.agent_id for change in changes})
    opened: dict[tuple[int, bool], list[Span]] = defaultdict(list)  # (agent, hold)
    for row in await connection.rows(_OPEN[dialect], {"agents": agents}):
        span = Span(row.agent_id, row.state, row.reason, row.call_id, row.started_at, id=row.id)
        opened[(span.agent_id, span.state == ON_HOLD)].append(span)
    started: list[Span] = []
    closed: list[Span] = []
    for change in changes:
        holds = opened[(change.agent_id, True)]
        if change.state in (ON_HOLD, OFF_HOLD):
            closed += _close(holds, change.at)
            if change.state == ON_HOLD:
                holds.append(_start(started, change, ON_HOLD, change.at))
            continue
        spans = opened[(change.agent_id, False)]
        if any(s.state == change.state and s.reason == change.reason for s in spans):
            continue  # the state it is known to be in (a restored one)
        since = max([change.at, *(s.started_at for s in spans)])
        closed += _close(spans, since)
        if change.state != ON_CALL:
            closed += _close(holds, since)
        if change.state != LOGGED_OUT:
            spans.append(_start(started, change, change.state, since))
    await connection.execute_many(_CLOSE, [
        {"span": s.id, "ended": s.ended_at} for s in closed if s.id is not None
    ])  # fmt: skip
    await connection.execute_many(_START, [
        {name: getattr(s, name) for name in _SPAN_FIELDS} for s in started
    ])  # fmt: skip
    await _add_intervals(connection, dialect, interval_sums(closed))


def _start(started: list[Span], change: StateChange, state: str, since: datetime) -> Span:
    span = Span(change.agent_id, state, change.reason, change.call_id, since)
    started.append(span)
    return span


def _close(spans: list[Span], at: datetime) -> list[Span]:
    """End every span of the list at `at` (none before its start); the list is left empty."""
    ended = list(spans)
    for span in ended:
        span.ended_at = max(at, span.started_at)
    spans.clear()
    return ended


async def rebuild(session: AsyncSession, tenant_id: int, lo: int | None, hi: int | None) -> None:
    """Split the business's closed spans again into its state intervals (buckets [lo, hi),
    or all of them), replacing what they held, in the caller's transaction."""
    table = report_agent_state_intervals
    where = [table.c.tenant_id == tenant_id]
    spans = select(AgentStateSpan).where(AgentStateSpan.ended_at.is_not(None))
    if lo is not None and hi is not None:
        where += [table.c.bucket >= lo, table.c.bucket < hi]
        spans = spans.where(
            AgentStateSpan.ended_at >= bucket_start(lo),
            AgentStateSpan.started_at < bucket_start(hi),
        )
    await session.execute(delete(table).where(*where))
    found = list(await session.scalars(spans))
    dialect = session.bind.dialect.name
    await _add_intervals(await session_connection(session), dialect, interval_sums(found, lo, hi))


class AgentStateHistory:
    """Changes kept in order and written in the background (see the module's text)."""

    def __init__(self, database: Database, *, every: float) -> None:
        self._database, self._every = database, every
        self._pending: list[StateChange] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one writer at a time: changes stay in order
        self._writing: asyncio.Future[None] | None = None

    def record(self, change: StateChange) -> None:
        self._pending.append(change)
        self._wake.set()

    def restarted(self, agents: Iterable[tuple[int, int]], at: datetime) -> None:
        """The call flow started (or took over) without these agents (tenant, user)
        logged in: whatever span they had open ends now."""
        for tenant_id, agent_id in agents:
            self.record(StateChange(tenant_id, agent_id, LOGGED_OUT, at))

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._every)  # changes in this window: one write
            self._wake.clear()
            # Shielded: cancelling `run` (a stop) lets a write in flight finish; cut in the
            # middle, its SQLite connection would keep the database's one write lock.
            self._writing = asyncio.ensure_future(self.flush())
            await asyncio.shield(self._writing)

    async def settle(self) -> None:
        """The write that was in flight when `run` was cancelled, finished."""
        writing, self._writing = self._writing, None
        if writing is not None:
            with contextlib.suppress(Exception):  # flush logs its own failures
                await writing

    async def flush(self) -> None:
        """Write what is pending; what a database error (or a cancelled flush) left
        unwritten stays pending, first in line for the next try, but for a business's
        changes the database refuses as such (an agent deleted): those are dropped."""
        async with self._lock:
            pending, self._pending = self._pending, []
            by_tenant: dict[int, list[StateChange]] = defaultdict(list)
            for change in pending:
                by_tenant[change.tenant_id].append(change)
            unwritten: list[StateChange] = []
            try:
                for tenant_id, changes in by_tenant.items():
                    try:
                        await self._write(tenant_id, changes)
                    except (IntegrityError, DataError) as exc:
                        # Never writable (an agent deleted meanwhile): if kept, it would hold
                        # back every later change of the business.
                        log.error("agents' state history refused, dropped: %s", exc)
                    except SQLAlchemyError as exc:
                        log.error("agents' state history not written (kept): %s", exc)
                        unwritten += changes
                    by_tenant[tenant_id] = []
            finally:
                left = [c for changes in by_tenant.values() for c in changes]
                self._pending[:0] = unwritten + left
                if self._pending:
                    self._wake.set()

    async def _write(self, tenant_id: int, changes: Sequence[StateChange]) -> None:
        """One business's changes in one transaction: a direct one on PostgreSQL."""
        database = self._database
        if database.direct:
            async with database.tenant_transaction(tenant_id) as connection:
                await apply_changes(connection, "postgresql", changes)
            return
        async with database.tenant_session(tenant_id) as session, session.begin():
            dialect = session.bind.dialect.name
            await apply_changes(await session_connection(session), dialect, changes)
