"""The database port: one engine, and sessions that are always scoped to a tenant or marked
as system sessions (see `pbx.db.tenancy`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from pbx.db import tenancy
from pbx.db.direct import DirectConnection, DirectPool
from pbx.db.scoped import Scoped, TenantConnection


class Database:
    def __init__(self, url: str, pool_size: int = 10, echo: bool = False) -> None:
        options: dict[str, Any] = {"echo": echo}
        if url.startswith("postgresql"):
            options |= {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": False}
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # A single statement is atomic on its own: no BEGIN/COMMIT round trips around it.
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._autocommit = async_sessionmaker(self._autocommit_engine, expire_on_commit=False)
        # Hot-path statements on PostgreSQL skip SQLAlchemy's execution (`direct.py`).
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(False)
        asyncpg_driver = self.engine.dialect.driver == "asyncpg"
        self._direct = DirectPool(dsn, pool_size) if asyncpg_driver else None
        # The direct transactions (a call's end) on connections of their own: while they wait
        # on their row locks (the business's event counter, the quarter hour's row) or the
        # disk, the single statements of the calls arriving (the call log, the screen-pop)
        # do not wait behind them for a connection.
        self._direct_transactions = (
            DirectPool(dsn, max(2, pool_size // 4), durable=True) if asyncpg_driver else None
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def tenant_session(self, tenant_id: int) -> AsyncIterator[AsyncSession]:
        """A session that sees and writes one tenant's rows only."""
        async with self._sessions(info={tenancy.TENANT_KEY: tenant_id}) as session:
            yield session

    @asynccontextmanager
    async def tenant_autocommit(self, tenant_id: int) -> AsyncIterator[AsyncSession]:
        """Like `tenant_session`, without a transaction: for one-statement reads and writes
        on hot paths (the call log, the screen-pop)."""
        async with self._autocommit(info={tenancy.TENANT_KEY: tenant_id}) as session:
            yield session

    @asynccontextmanager
    async def tenant_connection(
        self, tenant_id: int
    ) -> AsyncIterator[TenantConnection | DirectConnection]:
        """A connection without a transaction that runs prebuilt `Scoped` statements for
        one tenant: the cheapest way to the database, for the path of every call."""
        if self._direct is None:
            async with self._sqlalchemy_connection(tenant_id) as connection:
                yield connection
            return
        pool = await self._direct.pool()
        raw = await pool.acquire()
        connection = DirectConnection(
            raw, tenant_id, self.engine.dialect, self._sqlalchemy_connection
        )
        try:
            yield connection
        except DBAPIError as exc:
            if exc.connection_invalidated:  # as SQLAlchemy's pool does after a drop:
                await pool.expire_connections()  # the others, as old, are replaced on checkout
            raise
        finally:
            try:
                await connection.close()
            finally:
                pool.release(raw)

    async def warm(self, statements: Sequence[tuple[Scoped, Mapping[str, Any]]] = ()) -> None:
        """Open now the connections the first calls after a start would otherwise wait for:
        SQLAlchemy's first (its dialect's set-up) and every direct connection, each having run
        `statements` once for no business (tenant 0, no rows): prepared, and the tables they
        read known to its PostgreSQL backend. Opened on first use instead, the first callers
        after a start waited 20-90 ms behind the pool's connects and each backend's first
        statement. Connections in use meanwhile are waited for (the caller bounds the wait)."""
        async with self.engine.connect():
            pass
        if self._direct is None:
            return

        async def run_each(_raw: Any, connection: DirectConnection) -> None:
            for scoped, parameters in statements:
                await connection.rows(scoped, parameters)

        await self._on_every_connection(self._direct, run_each)

    async def warm_transactions(
        self, statements: Sequence[tuple[Scoped, Mapping[str, Any]]]
    ) -> None:
        """`warm` for the transactions' pool (`tenant_transaction`): every connection opened,
        each having run each of `statements` once for no business (tenant 0), in a
        transaction of its own that is rolled back. A write refused for want of a business (a
        foreign key) was prepared all the same, which is what this is for. Without it the
        first calls' ends at a full rate each prepared their statements on a new connection
        (bench/screen_pop: pops 100-300 ms late while they did)."""
        if self._direct_transactions is None:
            return

        async def run_each_rolled_back(raw: Any, connection: DirectConnection) -> None:
            for scoped, parameters in statements:
                await raw.execute("BEGIN")
                try:
                    await connection.rows(scoped, parameters)
                except IntegrityError:
                    pass  # no business 0: prepared, and nothing written
                finally:
                    await raw.execute("ROLLBACK")

        await self._on_every_connection(self._direct_transactions, run_each_rolled_back)

    async def _on_every_connection(
        self, direct: DirectPool, run: Callable[[Any, DirectConnection], Awaitable[None]]
    ) -> None:
        """`run` on each connection of `direct`'s pool (as a connection and as a
        `DirectConnection` for no business), all of them held at once so that each backend
        runs it: `warm` and `warm_transactions`."""
        pool = await direct.pool()
        held: list[Any] = []
        try:
            for _ in range(pool.get_size()):
                held.append(await pool.acquire())
            for raw in held:
                await run(raw, DirectConnection(raw, 0, self.engine.dialect, _no_fallback))
        finally:
            for raw in held:
                pool.release(raw)

    @property
    def direct(self) -> bool:
        """Whether `tenant_transaction` is available (PostgreSQL through asyncpg)."""
        return self._direct is not None

    @asynccontextmanager
    async def tenant_transaction(self, tenant_id: int) -> AsyncIterator[DirectConnection]:
        """A direct connection (`direct`) inside one transaction, committed when the block
        ends and rolled back if it raises: several prebuilt `Scoped` statements that must
        stand or fall together on the path of every call (the call's end). Its statements
        must all run directly (a statement handed to SQLAlchemy would run outside the
        transaction: it is refused). It runs on a small pool of its own whose commits wait
        for the disk, as SQLAlchemy's do (the single statements' pool does not, `DirectPool`)."""
        if self._direct_transactions is None:
            raise RuntimeError("direct transactions need PostgreSQL through asyncpg")
        pool = await self._direct_transactions.pool()
        raw = await pool.acquire()
        try:
            connection = DirectConnection(raw, tenant_id, self.engine.dialect, _no_fallback)
            try:
                await raw.execute("BEGIN")
                yield connection
            except BaseException as exc:  # cancelled too: nothing of it may commit
                with contextlib.suppress(Exception):  # the block's error is the one to raise
                    if not raw.is_closed():
                        await raw.execute("ROLLBACK")  # else its return closes it: rolled back
                if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    await pool.expire_connections()
                raise
            try:
                await raw.execute("COMMIT")
            except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError,
                    OSError) as exc:  # fmt: skip
                lost = raw.is_closed()
                if lost:
                    await pool.expire_connections()
                raise DBAPIError("COMMIT", None, exc, connection_invalidated=lost) from exc
        finally:
            pool.release(raw)

    @asynccontextmanager
    async def _sqlalchemy_connection(self, tenant_id: int) -> AsyncIterator[TenantConnection]:
        async with self._autocommit_engine.connect() as connection:
            yield TenantConnection(connection, tenant_id)

    @asynccontextmanager
    async def system_session(self) -> AsyncIterator[AsyncSession]:
        """A session that may cross tenants; for routing, seeding and administration only."""
        async with self._sessions(info={tenancy.SYSTEM_KEY: True}) as session:
            yield session

    async def ping(self) -> float:
        """Round-trip time of a trivial query, in milliseconds."""
        started = time.perf_counter()
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        for pool in (self._direct, self._direct_transactions):
            if pool is not None:
                await pool.close()
        await self.engine.dispose()


@asynccontextmanager
async def _no_fallback(_tenant_id: int) -> AsyncIterator[TenantConnection]:
    raise TypeError("a statement SQLAlchemy must run cannot join a direct transaction")
    yield  # an async generator, as `DirectConnection` opens it


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
