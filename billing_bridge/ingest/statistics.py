"""PostgreSQL's table statistics, kept fresh while the billing system loads in bulk.

Every chunk of a batch looks its refs up with `ref = ANY($1)` under the business's id. The
planner picks the index for that from the tables' statistics; on a table that grew since
they were taken (a first load: "the table is empty"), it chose the index of the business
alone and compared each of its rows with every ref of the chunk, a few hundred milliseconds
a chunk, growing with the table. Autovacuum analyzes such a table only a minute or so later.
So after a batch commits, the tables it writes are analyzed again once they changed by a
fifth since their last analysis (ANALYZE samples, so it stays cheap: a table growing from
a thousand rows to a million is analyzed a few dozen times in all)."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from pbx.db.database import Database
from pbx.db.models import Account, AccountEntry, Customer, CustomerPhone, Invoice

log = logging.getLogger(__name__)

TABLES = tuple(m.__tablename__ for m in (Customer, CustomerPhone, Account, Invoice, AccountEntry))
_CHANGED = text(
    "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(:tables) "
    "AND n_mod_since_analyze > GREATEST(1000, 0.2 * n_live_tup)"
)


async def refresh_statistics(database: Database) -> bool:
    """Analyze the ingest's tables that changed much since their statistics (PostgreSQL).
    Whether their statistics are now fresh: False when an ANALYZE failed (not the tables'
    owner, or another one running), and the batch's reads should then be planned for their
    values (`ingest.sql.plan_for_values`) rather than trust plans made from old figures."""
    if database.dialect != "postgresql":
        return True
    try:
        async with database.engine.connect() as connection:
            stale = await stale_tables(connection)
            if not stale:
                return True
            # An ANALYZE or VACUUM already running on a table must not stall the answer.
            await connection.execute(text("SET LOCAL lock_timeout = '1s'"))
            await connection.execute(text("ANALYZE " + ", ".join(sorted(stale))))
            await connection.commit()
            return True
    except SQLAlchemyError as exc:  # not the tables' owner, or busy: slower, still correct
        log.warning("billing ingest: table statistics not refreshed: %s", exc)
        return False


async def stale_tables(connection: AsyncConnection) -> list[str]:
    """The ingest's tables changed by a fifth (at least 1,000 rows) since their last ANALYZE,
    as far as PostgreSQL has counted: a backend reports its changes up to a second after it
    goes idle."""
    return list(await connection.scalars(_CHANGED, {"tables": list(TABLES)}))
