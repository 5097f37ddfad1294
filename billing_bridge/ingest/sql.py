"""SQL shared by the ingest stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

import asyncpg
from asyncpg import IntegrityConstraintViolationError, PostgresError
from sqlalchemy import ARRAY, ColumnElement, any_, bindparam, insert, select, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from pbx.db.models import Base, TenantOwned
from pbx.db.tenancy import TENANT_KEY, CrossTenantAccess

# For the rest of a transaction: each statement planned for the values it is given, and
# looked up through an index rather than by reading a whole table.
_CUSTOM_PLANS = text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
                     "set_config('enable_seqscan', 'off', true)")  # fmt: skip
# For one write: the transaction's plan mode before, and cached plans again meanwhile.
_CACHED_PLANS = text("SELECT current_setting('plan_cache_mode'), "
                     "set_config('plan_cache_mode', 'auto', true)")  # fmt: skip
_RESTORE_PLANS = text("SELECT set_config('plan_cache_mode', :mode, true)")
_CACHED_PLANS_SQL = str(_CACHED_PLANS)
_RESTORE_PLANS_SQL = "SELECT set_config('plan_cache_mode', $1, true)"


def among(column: InstrumentedAttribute[Any], values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN (...)` with the values written into the statement, not bound one by one.

    PostgreSQL then holds them as one constant array it looks rows up in by hash. Bound, a
    prepared statement run a few times gets a generic plan in which each row the index
    yields is compared with every value in turn: on a table grown since its statistics
    (`statistics.py`), a chunk's lookup of a thousand refs took 300 ms instead of 3.
    """
    return column.in_(bindparam(None, list(values), expanding=True, literal_execute=True))


# In a session's `info`: the transaction plans each statement for its values (`plan_for_values`).
_CUSTOM = "ledgerline.custom_plans"


async def plan_for_values(session: AsyncSession) -> None:
    """On PostgreSQL, the transaction's statements are planned for the values bound to each
    run (never a prepared statement's generic plan), so `any_of` may bind its values as one
    array: PostgreSQL sees the same constant array as `among` writes, without the values
    rendered into SQL text one by one (a twentieth of the CPU for a thousand refs). No
    sequential scan either: knowing a thousand values, the planner estimated a thousand
    index descents dearer than reading the whole table (a parallel scan of 200,000 customers,
    26-40 ms, for each chunk), so the cost grew with the table.

    For reads whose generic plan may not be trusted: the open calls of some customers
    (`live_accounts`), and a batch whose tables' statistics could not be refreshed. With
    fresh statistics the ingest's reads by reference do without it: each has a unique index
    on (tenant_id, ref), which a generic plan uses for both conditions once the table is more
    than a few thousand rows (below that it filters the refs row by row, a cost bounded by
    the table's size), and there is then no planning of a thousand values a statement, nor a
    switch to cached plans and back around each write (`cached_plans`: two round trips)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(_CUSTOM_PLANS)
        session.info[_CUSTOM] = True


@asynccontextmanager
async def cached_plans(session: AsyncSession) -> AsyncIterator[None]:
    """For the writes inside: PostgreSQL's plan cache as usual, then the transaction's mode
    again (`plan_for_values`).

    A foreign key is checked by a trigger running a prepared query for each row written;
    under `force_custom_plan` that query is planned again for every row, which made three
    fifths of PostgreSQL's CPU in a batch of new invoices (the check, a primary-key read, has
    one plan whatever the key). After a failed write the mode is left as it is: the
    statement aborted the transaction, whose savepoint's rollback restores the mode. In a
    transaction that did not ask for custom plans there is nothing to switch."""
    if session.bind.dialect.name != "postgresql" or not session.info.get(_CUSTOM):
        yield
        return
    raw = await _asyncpg(session)
    if raw is None:
        mode = (await session.execute(_CACHED_PLANS)).scalar_one()
        yield
        await session.execute(_RESTORE_PLANS, {"mode": mode})
        return
    # On asyncpg itself: SQLAlchemy's path cost more CPU than the two settings are worth.
    mode = await _run(raw.fetchval, _CACHED_PLANS_SQL)
    yield
    await _run(raw.execute, _RESTORE_PLANS_SQL, mode)


def any_of(
    session: AsyncSession, column: InstrumentedAttribute[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """`column = ANY($1)`, the values bound as one array (PostgreSQL: planned for them in a
    transaction that ran `plan_for_values`, else by the plan cache's rules); elsewhere
    `among`."""
    if session.bind.dialect.name != "postgresql":
        return among(column, values)
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


async def rows_among(
    session: AsyncSession, columns: Sequence[InstrumentedAttribute[Any]],
    key: InstrumentedAttribute[Any], values: Collection[Any], *, lock: bool = False,
) -> Sequence[Sequence[Any]]:  # fmt: skip
    """The session's business's rows whose `key` is one of `values`, each the values of
    `columns` in order (a tuple to unpack), in the session's transaction.

    With `lock`, the rows found are locked for update until the transaction ends, in id
    order (`FOR NO KEY UPDATE`: a foreign key's check of them still goes on): for a
    decision taken on what they hold (a record's version against the stored one). A
    request writing the same rows at the same moment is waited for, and what it committed
    is read, not the version before it.

    On PostgreSQL through asyncpg, once the transaction has begun (`plan_for_values`, a
    savepoint), a SELECT written once per shape is sent on the session's connection with
    the session's tenant: for a chunk's thousand refs a third of the CPU of SQLAlchemy's
    statement and result rows (whose Python work per row was most of it). Elsewhere it is
    SQLAlchemy's select, scoped by the session as any other."""
    raw = await _asyncpg(session)
    if raw is None:
        query = select(*columns).where(any_of(session, key, values))
        if lock:
            query = query.order_by(key.class_.id).with_for_update(key_share=True)
        return (await session.execute(query)).all()
    tenant_id = session.info.get(TENANT_KEY)
    if tenant_id is None:
        raise CrossTenantAccess("rows_among needs a tenant session")
    sql = _select_among(tuple(columns), key, lock)
    return await _run(raw.fetch, sql, tenant_id, list(values))  # type: ignore[no-any-return]


@cache
def _select_among(columns: tuple[InstrumentedAttribute[Any], ...],
                  key: InstrumentedAttribute[Any], lock: bool) -> str:  # fmt: skip
    """`rows_among`'s statement, its tenant filter written in: $1 the tenant, $2 the values
    (typed by PostgreSQL as an array of the key column's type)."""
    entity = key.class_
    if not issubclass(entity, TenantOwned) or any(c.class_ is not entity for c in columns):
        raise CrossTenantAccess("rows_among reads the columns of one tenant-owned entity")
    names = ", ".join(column.expression.name for column in columns)  # type: ignore[attr-defined]
    table, name = entity.__tablename__, key.expression.name  # type: ignore[attr-defined]
    locked = " ORDER BY id FOR NO KEY UPDATE" if lock else ""
    return f"SELECT {names} FROM {table} WHERE tenant_id = $1 AND {name} = ANY($2){locked}"


async def _asyncpg(session: AsyncSession) -> asyncpg.Connection | None:
    """The session's own asyncpg connection once its transaction has begun; None on
    another driver or before (a statement sent on it then would run outside the
    transaction SQLAlchemy begins with its first)."""
    connection = await session.connection()
    if connection.dialect.driver != "asyncpg":
        return None
    raw = (await connection.get_raw_connection()).driver_connection
    return raw if raw is not None and raw.is_in_transaction() else None


async def _run(method: Any, sql: str, *arguments: Any) -> Any:
    """An asyncpg call, its refusal raised as SQLAlchemy raises a statement's (`copy_rows`)."""
    try:
        return await method(sql, *arguments)
    except IntegrityConstraintViolationError as exc:
        raise IntegrityError(sql, None, exc) from exc
    except asyncpg.DataError as exc:
        raise DataError(sql, None, exc) from exc
    except PostgresError as exc:
        raise DBAPIError(sql, None, exc) from exc


async def insert_rows(
    session: AsyncSession, model: type[Base], tenant_id: int, rows: list[dict[str, Any]]
) -> None:
    """Insert rows of a tenant-owned table that need no ids back, in the session's
    transaction (`copy_rows`)."""
    if rows:
        columns = list(rows[0])
        await copy_rows(session, model, tenant_id, columns,
                        [tuple(row[c] for c in columns) for row in rows])  # fmt: skip


async def copy_rows(
    session: AsyncSession, model: type[Base], tenant_id: int, columns: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:  # fmt: skip
    """Insert rows given as tuples of `columns` (one of them `tenant_id`), in the session's
    transaction. On PostgreSQL through asyncpg they are copied (COPY), a third of the
    database's time of INSERTs and a fraction of the ORM's Python time per row; COPY
    bypasses the session's check that each row names its tenant, so it is made here. A
    refusal of the database is raised as SQLAlchemy raises it for a statement
    (`IntegrityError` for a duplicate, `DBAPIError` carrying the SQLSTATE otherwise)."""
    if not rows:
        return
    at = columns.index("tenant_id")
    if any(row[at] != tenant_id for row in rows):
        raise CrossTenantAccess(f"{model.__name__} rows must each carry tenant {tenant_id}")
    connection = await session.connection()
    if connection.dialect.driver != "asyncpg":
        await session.execute(insert(model), [dict(zip(columns, row, strict=True))
                                              for row in rows])  # fmt: skip
        return
    raw = await connection.get_raw_connection()
    statement = f"COPY {model.__tablename__}"
    try:
        async with cached_plans(session):  # the foreign keys' checks, a row each
            await raw.driver_connection.copy_records_to_table(
                model.__tablename__, records=rows, columns=list(columns)
            )
    except IntegrityConstraintViolationError as exc:
        raise IntegrityError(statement, None, exc) from exc
    except PostgresError as exc:
        raise DBAPIError(statement, None, exc) from exc
