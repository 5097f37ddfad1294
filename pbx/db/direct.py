"""`Scoped` statements sent straight to PostgreSQL through asyncpg.

SQLAlchemy's execution path (pool checkout, execution context, the greenlet hand-off, result
objects) costs about 0.4 ms of CPU a statement, and the call log and the screen-pop run
about ten on the path of every call. The same statement compiled once by SQLAlchemy for
asyncpg, with SQLAlchemy's own bind and result processors applied, costs about 0.1 ms.

Only what runs exactly as SQLAlchemy would run it goes this way: statements with expanding
IN lists or Python-side column defaults, and inserts that do not name their columns, are
handed to SQLAlchemy. SQLite always uses it. A `Database.tenant_transaction` runs several
such statements as one transaction (the call's end).
Errors come out as SQLAlchemy's `StatementError` (a value refused) and `DBAPIError` (the
database's: `IntegrityError` and `DataError` by their kinds), as they would through
SQLAlchemy. `execute_many` runs one statement for a list of rows in one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from pbx.db.pool import ConnectionPool
from pbx.db.scoped import Scoped, TenantConnection


@dataclass(frozen=True)
class Prepared:
    """One statement as asyncpg takes it, and how to turn values in and out."""

    sql: str
    # The statement's constants (an anonymous parameter's value, such as a LIMIT or a
    # literal), processed once, in $1, $2 ... order; None in the places of `given`.
    fixed: tuple[Any, ...]
    # The others: (position, name, value when not given, whether one is, bind processor).
    given: tuple[tuple[int, str, Any, bool, Callable[[Any], Any] | None], ...]
    returns_rows: bool
    row: type  # a named tuple of the result columns
    # The result columns SQLAlchemy processes (position, processor); most statements none.
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The statement's parameters for `values`: only the named ones are looked up (the
        report's upsert at every call's end has some 250 constants)."""
        out = list(self.fixed)
        for index, name, default, has_default, process in self.given:
            if name in values:
                value = values[name]
            elif has_default:
                value = default
            else:
                raise KeyError(f"a value is required for bind parameter {name!r}")
            out[index] = process(value) if process is not None and value is not None else value
        return out

    def make_row(self, record: asyncpg.Record) -> Any:
        if not self.processed:  # most statements: the driver's values as they are
            return self.row._make(record)
        values = list(record)
        for index, process in self.processed:
            if values[index] is not None:
                values[index] = process(values[index])
        return self.row._make(values)


_UNSUPPORTED = object()


def prepare(scoped: Scoped, dialect: Dialect) -> Prepared | None:
    """The statement compiled for asyncpg, or None if SQLAlchemy must run it; worked out
    once and kept with the statement (not by its id: a statement built for one call log
    and collected with it may leave its id to another)."""
    found = scoped.compiled.get(dialect.name)
    if found is None:
        found = _compile(scoped, dialect) or _UNSUPPORTED
        scoped.compiled[dialect.name] = found
    return None if found is _UNSUPPORTED else found


def _compile(scoped: Scoped, dialect: Dialect) -> Prepared | None:
    compiled: Any = scoped.statement.compile(dialect=dialect)
    if (
        compiled.post_compile_params  # expanding IN: rendered per execution
        or compiled.literal_execute_params
        or compiled.insert_prefetch  # Python-side defaults for columns left out
        or compiled.update_prefetch  # `onupdate` columns
        # Columns as the call has them (an INSERT ... SELECT names its own).
        or (scoped.inserts and not compiled.statement._values and compiled.statement.select is None)
        or compiled.positiontup is None
    ):
        return None
    # SQLAlchemy's own processors, per parameter and per result column, as its results use.
    processors = compiled._bind_processors
    fixed: list[Any] = []
    given = []
    for index, name in enumerate(compiled.positiontup):
        bind, process = compiled.binds[name], processors.get(name)
        if bind.unique and not bind.required and bind.callable is None:  # no caller names it
            value = bind.effective_value
            fixed.append(process(value) if process is not None and value is not None else value)
            continue
        fixed.append(None)
        default = None if bind.required else bind.effective_value
        given.append((index, name, default, not bind.required, process))
    columns = compiled._result_columns
    keys = [column.keyname for column in columns]
    return Prepared(
        sql=compiled.string,
        fixed=tuple(fixed),
        given=tuple(given),
        returns_rows=bool(columns),
        row=namedtuple("Row", keys, rename=True),  # type: ignore[misc]
        processed=tuple(
            (index, process) for index, column in enumerate(columns)
            if (process := column.type._cached_result_processor(dialect, None))
        ),
    )


# A connection the database dropped (a restart, a failover, pg_terminate_backend). When its
# last words arrive before its end, asyncpg's protocol is left mid-operation and raises
# InternalClientError, and the connection still looks open: it is closed here, so the pool
# opens another, and the error is marked `connection_invalidated` as SQLAlchemy marks it.
_LOST = (
    asyncpg.InternalClientError, asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError,
    ConnectionError,
)  # fmt: skip


_DRIVER_ERRORS = (*_LOST, asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


def _closed(connection: asyncpg.Connection) -> bool:
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:  # closed already, and released to the pool
        return True


class DirectResult:
    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def all(self) -> list[Any]:
        return self._rows

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]


class DirectConnection:
    """`TenantConnection`'s interface on an asyncpg connection, outside any transaction
    (or in one of `Database.tenant_transaction`); statements it cannot run go to a
    SQLAlchemy connection opened when first needed (and closed by `close`)."""

    def __init__(
        self,
        connection: asyncpg.Connection,
        tenant_id: int,
        dialect: Dialect,
        fallback: Callable[[int], AbstractAsyncContextManager[TenantConnection]],
    ) -> None:
        self._connection, self._tenant_id, self._dialect = connection, tenant_id, dialect
        self._open_fallback = fallback
        self._fallback: TenantConnection | None = None
        self._opened = AsyncExitStack()

    @property
    def tenant_id(self) -> int:
        """The business whose rows it reads and writes."""
        return self._tenant_id

    async def execute(
        self, scoped: Scoped, parameters: Mapping[str, Any] | None = None
    ) -> DirectResult | Any:
        prepared = prepare(scoped, self._dialect)
        if prepared is None:
            return await (await self._sqlalchemy()).execute(scoped, parameters)
        arguments = self._arguments(scoped, prepared, parameters)
        try:
            if prepared.returns_rows:
                records = await self._connection.fetch(prepared.sql, *arguments)
                return DirectResult([prepared.make_row(record) for record in records])
            await self._connection.execute(prepared.sql, *arguments)
            return DirectResult([])
        except _DRIVER_ERRORS as exc:
            raise self._translated(prepared, exc) from exc

    async def execute_many(self, scoped: Scoped, rows: Sequence[Mapping[str, Any]]) -> None:
        """One statement run for each of `rows`, sent together (asyncpg's executemany: one
        round trip), as SQLAlchemy runs a statement given a list of rows."""
        if not rows:
            return
        prepared = prepare(scoped, self._dialect)
        if prepared is None or prepared.returns_rows:
            await (await self._sqlalchemy()).execute_many(scoped, rows)
            return
        arguments = [self._arguments(scoped, prepared, row) for row in rows]
        try:
            await self._connection.executemany(prepared.sql, arguments)
        except _DRIVER_ERRORS as exc:
            raise self._translated(prepared, exc) from exc

    def _arguments(
        self, scoped: Scoped, prepared: Prepared, parameters: Mapping[str, Any] | None
    ) -> list[Any]:
        values = scoped.parameters(parameters, self._tenant_id)
        try:
            return prepared.arguments(values)
        except Exception as exc:  # a bind processor refused a value, as SQLAlchemy reports it
            raise StatementError(str(exc), prepared.sql, None, exc) from exc

    def _translated(self, prepared: Prepared, exc: BaseException) -> Exception:
        """The driver's error as SQLAlchemy would raise it."""
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            return IntegrityError(prepared.sql, None, exc)
        if isinstance(exc, asyncpg.DataError):  # a value the column cannot hold
            return DataError(prepared.sql, None, exc)
        lost = isinstance(exc, _LOST) or _closed(self._connection)
        if lost:  # or the pool would hand it out again (see `_LOST`)
            with contextlib.suppress(asyncpg.InterfaceError):  # closed and handed back
                self._connection.terminate()
        return DBAPIError(prepared.sql, None, exc, connection_invalidated=lost)  # type: ignore[arg-type]

    async def rows(
        self, scoped: Scoped, parameters: Mapping[str, Any] | None = None
    ) -> Sequence[Any]:
        return (await self.execute(scoped, parameters)).all()

    async def close(self) -> None:
        self._fallback = None
        await self._opened.aclose()

    async def _sqlalchemy(self) -> TenantConnection:
        if self._fallback is None:
            opening = self._open_fallback(self._tenant_id)
            self._fallback = await self._opened.enter_async_context(opening)
        return self._fallback


# Statements longer than this are prepared again on every execution (asyncpg's own limit is
# 15 KB): the report's quarter-hour upsert at a call's end is about 20 KB of SQL, and each
# prepare is a round trip and a plan on the server, as SQLAlchemy's cache never made it.
_LARGEST_STATEMENT = 64 * 1024


class DirectPool:
    """A small pool of asyncpg connections (`pbx/db/pool.py`) beside SQLAlchemy's, for
    `DirectConnection`s; made on first use (it belongs to the event loop that uses it).

    Its single statements (the call log's) commit asynchronously: they do not wait for the
    WAL to reach the disk, so a disk's slow fsync (hundreds of ms on a busy VM) does not
    hold up every call behind it. A PostgreSQL crash (not Ledgerline's) can lose the last
    fraction of a second of call-log updates (3 x wal_writer_delay at most), never corrupt
    them; a later synchronous commit (a payment, the audit log, anything through
    SQLAlchemy, a call's end with its billing event, `Database.tenant_transaction`) makes
    every earlier one durable with it, so nothing that refers to a call row outlives it.

    All its connections open with the pool: one opened when a burst of calls needs it (a
    connect, the codecs' type lookups, each statement prepared anew) held up the calls
    behind it for a hundred milliseconds and more."""

    def __init__(self, dsn: str, size: int, *, durable: bool = False) -> None:
        self._dsn, self._size = dsn, size
        # A pool for transactions that must reach the disk (`Database.tenant_transaction`)
        # commits as PostgreSQL is configured to; the single statements' pool does not wait.
        self._settings = {} if durable else {"synchronous_commit": "off"}
        self._pool: ConnectionPool | None = None
        self._opening = asyncio.Lock()  # a burst of first calls opens one pool, not one each

    async def pool(self) -> ConnectionPool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await ConnectionPool.open(self._connect, self._size)
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _connect(self) -> asyncpg.Connection:
        connection = await asyncpg.connect(
            self._dsn, server_settings=self._settings, connection_class=Pooled,
            max_cacheable_statement_size=_LARGEST_STATEMENT,
        )  # fmt: skip
        try:
            await _codecs(connection)
        except BaseException:
            connection.terminate()
            raise
        return connection


class Pooled(asyncpg.Connection):  # type: ignore[misc]
    """The direct path's connections: a class of their own, so that what is sent through
    them can be told from SQLAlchemy's."""


async def _codecs(connection: asyncpg.Connection) -> None:
    """JSON as SQLAlchemy's asyncpg dialect sets it up: its JSON types' bind processors
    serialise, so the codecs carry text (jsonb's binary form has a version byte first)."""
    await connection.set_type_codec(
        "json", encoder=str.encode, decoder=lambda raw: json.loads(raw.decode()),
        schema="pg_catalog", format="binary",
    )  # fmt: skip
    await connection.set_type_codec(
        "jsonb", encoder=lambda text: b"\x01" + text.encode(),
        decoder=lambda raw: json.loads(raw[1:].decode()), schema="pg_catalog", format="binary",
    )  # fmt: skip
