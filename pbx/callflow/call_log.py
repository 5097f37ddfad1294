"""The call log (CDR) as the call flow writes it: one row per call, opened on arrival and
updated as the call is queued, offered, answered and ended. Each write is one statement,
sent without a transaction around it (atomic on its own): this is on the path of every
call, so columns known a moment before the next write can wait for it (`deferred`)."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from billing_bridge.events import changes, objects, outbox
from pbx.db.database import Database
from pbx.db.models import Call, Customer, Tenant
from pbx.db.scoped import TENANT, Scoped, ScopedValues, ScopedWith, session_connection
from pbx.reports import store as report_intervals

# Every column the call flow sets on arrival, named: a statement of fixed shape with no
# defaults left to fill in goes straight to PostgreSQL (`pbx/db/direct.py`).
_OPENED = (
    "channel_id", "caller_raw", "caller_number", "dialed_number", "match", "customer_id",
    "priority", "arrived_at", "direction", "recording_notice",
)  # fmt: skip
_OPEN = Scoped(
    insert(Call).values({name: bindparam(name) for name in (TENANT, *_OPENED)}).returning(Call.id),
    Call,
)
_BY_CHANNEL = Scoped(select(Call.id).where(Call.channel_id == bindparam("channel_id")), Call)
_CUSTOMER = Scoped(select(Customer.id).where(Customer.id == bindparam("customer_id")), Customer)
# The row as the call's end reads it back: every column, by attribute name.
_COLUMNS = {attribute.key: attribute.columns[0] for attribute in inspect(Call).column_attrs}
# ... on PostgreSQL as a plain row (what the end reads of it, without an ORM object's
# set-up), followed by the names of its ids and the business's webhook subscriptions.
_Closed = namedtuple("_Closed", _COLUMNS)  # type: ignore[misc]
_NAMES_AT = len(_COLUMNS)
_READ_WITH_CLOSING = ScopedValues(*objects.CALL_NAMES, outbox.SUBSCRIPTIONS_VALUE)
# The columns the commonest ends set: a call answered (`CallFlow._end`) and one abandoned in
# the queue (`Executor._abandoned`).
_ANSWERED_END = frozenset({"ended_at", "outcome", "talk_seconds"})
_ABANDONED_END = frozenset({"ended_at", "outcome", "wait_seconds"})


class CallLog:
    def __init__(self, database: Database) -> None:
        self._database = database
        # One prebuilt UPDATE per set of columns the call flow writes together.
        self._updates: dict[frozenset[str], Scoped] = {}
        # Columns waiting to go out with the call's next write (`deferred`), by row id.
        self._held: dict[int, dict[str, Any]] = {}

    async def open(
        self,
        tenant_id: int,
        *,
        channel_id: str,
        caller_raw: str,
        caller_number: str | None,
        dialed_number: str | None,
        match: str,
        customer_id: int | None,
        priority: int,
        arrived_at: datetime,
        direction: str = "inbound",
    ) -> int:
        """The call's row id. A call admitted again (this process restarted before saving its
        state) keeps the row it already has."""
        row = {
            "channel_id": channel_id, "caller_raw": caller_raw[:80],
            "caller_number": caller_number, "dialed_number": dialed_number, "match": match,
            "customer_id": customer_id, "priority": priority, "arrived_at": arrived_at,
            "direction": direction,
            "recording_notice": "none",  # until the recorder tells the caller (`recorder.py`)
        }  # fmt: skip
        async with self._database.tenant_connection(tenant_id) as connection:
            try:
                return (await connection.execute(_OPEN, row)).scalar_one()
            except IntegrityError:
                existing = await connection.rows(_BY_CHANNEL, {"channel_id": channel_id})
                if not existing:
                    raise
                return existing[0].id

    async def business(self, tenant_id: int) -> tuple[str, str]:
        """The business's slug (naming its own prompts) and its callers' language (en when
        unset), for a call that did not come in through a DID (a click-to-call)."""
        async with self._database.system_session() as session:
            row = (await session.execute(
                select(Tenant.slug, Tenant.language).where(Tenant.id == tenant_id)
            )).one_or_none()  # fmt: skip
        return (row.slug, row.language or "en") if row is not None else ("", "en")

    async def knows_customer(self, tenant_id: int, customer_id: int) -> bool:
        """Whether `customer_id` is one of this business's customers: a call is logged only
        against its own business's customer (the foreign key alone would take anyone's)."""
        async with self._database.tenant_connection(tenant_id) as connection:
            return bool(await connection.rows(_CUSTOMER, {"customer_id": customer_id}))

    @asynccontextmanager
    async def deferred(self, tenant_id: int, record_id: int, **fields: Any) -> AsyncIterator[None]:
        """Set these columns with the call's next write inside the block, or on leaving it
        if there was none: a call queued and offered at once is one statement, not two."""
        self._held[record_id] = fields
        try:
            yield
        finally:
            left = self._held.pop(record_id, None)
            if left:
                await self.update(tenant_id, record_id, **left)

    async def update(self, tenant_id: int, record_id: int, **fields: Any) -> None:
        """Set columns of one call; `offered_at` keeps the first offer."""
        fields = self._held.pop(record_id, {}) | fields
        if "ended_at" in fields:
            await self._close(tenant_id, record_id, fields)
            return
        async with self._database.tenant_connection(tenant_id) as connection:
            values = {f"new_{name}": value for name, value in fields.items()}
            await connection.execute(self._update(frozenset(fields)), values | {"row": record_id})

    async def fill_in(self, tenant_id: int, record_id: int, **fields: Any) -> None:
        """Set these columns where the row has none yet; a column already set keeps its
        value. For a restart completing the writes a stop cut short (`CallFlow.start`)."""
        async with self._database.tenant_connection(tenant_id) as connection:
            values = {f"new_{name}": value for name, value in fields.items()}
            await connection.execute(self._filling(frozenset(fields)), values | {"row": record_id})

    async def _close(self, tenant_id: int, record_id: int, fields: dict[str, Any]) -> None:
        """The call's end, in one transaction with the billing system's `call.ended`,
        announced once: a call closed already is updated, not announced again. The row is
        closed and read back in one prebuilt statement (its lock held to the commit), as
        plain columns: the ORM's handling of an UPDATE that returns its entity cost more
        than the statement, on every call. On PostgreSQL the whole transaction is prebuilt
        statements on a direct connection (`_close_direct`)."""
        if self._database.direct:
            await self._close_direct(tenant_id, record_id, fields)
            return
        values = {f"new_{name}": value for name, value in fields.items()}
        async with self._database.tenant_session(tenant_id) as session, session.begin():
            connection = await session_connection(session)
            closing = self._closing(frozenset(fields))
            rows = await connection.rows(closing, values | {"row": record_id})
            if rows:
                # Not added to the session: read by the two writes below, never flushed.
                closed = Call(**dict(zip(_COLUMNS, rows[0], strict=True)))
                await changes.call_ended(session, closed)
                await report_intervals.call_ended(session, closed)  # its quarter hour's sums
                return
            await connection.execute(self._update(frozenset(fields)), values | {"row": record_id})

    async def _close_direct(self, tenant_id: int, record_id: int, fields: dict[str, Any]) -> None:
        """`_close` as one asyncpg transaction of two statements: the row closed and read
        back with the names its ids stand for and the webhook subscriptions (`_closing_read`),
        then its quarter hour's sums with the event, its counter and its deliveries
        (`outbox.write_direct`; a call sent on from another queue adds to that queue's sums
        in one more). The same rows as the session's path, without SQLAlchemy's
        execution (which cost about four times the statements' own CPU), in two round
        trips (and BEGIN and COMMIT) where a statement each made eight."""
        values = {f"new_{name}": value for name, value in fields.items()} | {"row": record_id}
        async with self._database.tenant_transaction(tenant_id) as connection:
            rows = await connection.rows(self._closing_read(frozenset(fields)), values)
            if not rows:
                await connection.execute(self._update(frozenset(fields)), values)
                return
            closed = _Closed._make(rows[0][:_NAMES_AT])
            names, subscriptions = rows[0][_NAMES_AT:-1], rows[0][-1]
            ended = changes.call_ended_named(closed, names)
            await report_intervals.overflow_source_on(connection, "postgresql", closed)
            delivering = await outbox.write_direct(
                connection, ended, subscriptions, first=report_intervals.one_call_sums(closed),
                reaching=(Call,), values={"call": closed.id},
            )  # fmt: skip
        if delivering:
            outbox.deliveries_committed(self._database.engine)

    async def warm(self) -> None:
        """The call's end readied on every connection of the transactions' pool (PostgreSQL),
        as an answered and an abandoned call end: their statements prepared on each and the
        tables they touch known to its backend (`Database.warm_transactions`)."""
        if not self._database.direct:
            return
        statements: list[tuple[Scoped, dict[str, Any]]] = []
        for columns, answered in ((_ANSWERED_END, True), (_ABANDONED_END, False)):
            fields = {f"new_{name}": None for name in columns}
            statements.append((self._closing_read(columns), fields | {"row": 0}))
            sums = report_intervals.sums_for(inbound=True, handled=answered)
            item = outbox.stage(0, "call.ended", {})
            scoped, values = outbox.direct_write(item, [], first=sums, reaching=(Call,))
            statements.append((scoped, values | {"call": 0}))
        await self._database.warm_transactions(statements)

    def _closing_read(self, columns: frozenset[str]) -> Scoped:
        """`_closing` with what the call's end reads for the row, in one statement
        (PostgreSQL): the row's columns, `objects.CALL_NAMES`, then the subscriptions."""
        key = columns | {"-closing-read"}
        if key not in self._updates:
            self._updates[key] = ScopedWith(
                self._closing(columns), _READ_WITH_CLOSING, objects.CALL_NAMES_FROM_ROW
            )
        return self._updates[key]

    def _closing(self, columns: frozenset[str]) -> Scoped:
        """`_update` for a call not ended yet, returning the whole row."""
        key = columns | {"-closing"}
        if key not in self._updates:
            self._updates[key] = Scoped(
                update(Call).where(Call.id == bindparam("row"), Call.ended_at.is_(None))
                .values(_new_values(columns)).returning(*_COLUMNS.values()),
                Call,
            )  # fmt: skip
        return self._updates[key]

    def _filling(self, columns: frozenset[str]) -> Scoped:
        """`_update` of only the columns still NULL."""
        key = columns | {"-filling"}
        if key not in self._updates:
            values = {
                name: func.coalesce(
                    _COLUMNS[name], bindparam(f"new_{name}", type_=_COLUMNS[name].type)
                )
                for name in columns
            }
            self._updates[key] = Scoped(
                update(Call).where(Call.id == bindparam("row")).values(values), Call
            )
        return self._updates[key]

    def _update(self, columns: frozenset[str]) -> Scoped:
        if columns not in self._updates:
            self._updates[columns] = Scoped(
                update(Call).where(Call.id == bindparam("row")).values(_new_values(columns)), Call
            )
        return self._updates[columns]


def _new_values(columns: frozenset[str]) -> dict[str, Any]:
    """Each column from its `new_` parameter; `offered_at` keeps the first offer."""
    values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in columns}
    if "offered_at" in values:
        values["offered_at"] = func.coalesce(Call.offered_at, values["offered_at"])
    return values
