"""SQL shared by the ingest stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any

from asyncpg import IntegrityConstraintViolationError, PostgresError
from sqlalchemy import ARRAY, ColumnElement, any_, bindparam, insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from pbx.db.models import Base
from pbx.db.tenancy import CrossTenantAccess

# For the rest of a batch's transaction: each statement planned for the values it is given.
_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")
# For one write: the transaction's plan mode before, and cached plans again meanwhile.
_CACHED_PLANS = text("SELECT current_setting('plan_cache_mode'), "
                     "set_config('plan_cache_mode', 'auto', true)")  # fmt: skip
_RESTORE_PLANS = text("SELECT set_config('plan_cache_mode', :mode, true)")


def among(column: InstrumentedAttribute[Any], values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN (...)` with the values written into the statement, not bound one by one.

    PostgreSQL then holds them as one constant array it looks rows up in by hash. Bound, a
    prepared statement run a few times gets a generic plan in which each row the index
    yields is compared with every value in turn: on a table grown since its statistics
    (`statistics.py`), a chunk's lookup of a thousand refs took 300 ms instead of 3.
    """
    return column.in_(bindparam(None, list(values), expanding=True, literal_execute=True))


async def plan_for_values(session: AsyncSession) -> None:
    """On PostgreSQL, the transaction's statements are planned for the values bound to each
    run (never a prepared statement's generic plan), so `any_of` may bind its values as one
    array: PostgreSQL sees the same constant array as `among` writes, without the values
    rendered into SQL text one by one (a twentieth of the CPU for a thousand refs)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(_CUSTOM_PLANS)


@asynccontextmanager
async def cached_plans(session: AsyncSession) -> AsyncIterator[None]:
    """For the writes inside: PostgreSQL's plan cache as usual, then the transaction's mode
    again (`plan_for_values`).

    A foreign key is checked by a trigger running a prepared query for each row written;
    under `force_custom_plan` that query is planned again for every row, which made three
    fifths of PostgreSQL's CPU in a batch of new invoices (the check, a primary-key read, has
    one plan whatever the key). After a failed write the mode is left as it is: the
    statement aborted the transaction, whose savepoint's rollback restores the mode."""
    if session.bind.dialect.name != "postgresql":
        yield
        return
    mode = (await session.execute(_CACHED_PLANS)).scalar_one()
    yield
    await session.execute(_RESTORE_PLANS, {"mode": mode})


def any_of(
    session: AsyncSession, column: InstrumentedAttribute[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """`column = ANY($1)`, the values bound as one array, in a transaction that ran
    `plan_for_values` (PostgreSQL); elsewhere `among`."""
    if session.bind.dialect.name != "postgresql":
        return among(column, values)
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


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
