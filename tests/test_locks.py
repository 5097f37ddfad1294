"""The tests' wait for a row lock sees a wait that begins after its first look."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from pbx.db.database import Database
from tests.locks import until_a_statement_waits_on_a_lock

_LOOKED = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND pid <> pg_backend_pid() "
               "AND query LIKE '%WHERE wait_event_type = %'")  # fmt: skip


async def test_a_lock_wait_that_begins_after_the_first_look_is_seen(
    postgres_database: Database,
) -> None:
    """PostgreSQL keeps one snapshot of pg_stat_activity a transaction: a look that kept its
    transaction would answer "nobody waits" for ever once it had looked before the wait."""
    engine = postgres_database.engine
    async with engine.begin() as setup:
        await setup.execute(text("CREATE TABLE lock_probe (id int PRIMARY KEY)"))
        await setup.execute(text("INSERT INTO lock_probe VALUES (1)"))
    try:
        async with engine.connect() as holder:
            await holder.execute(text("SELECT id FROM lock_probe WHERE id = 1 FOR UPDATE"))
            watching = asyncio.create_task(until_a_statement_waits_on_a_lock(
                postgres_database, within_s=30, what="the probe's lock"))  # fmt: skip
            async with engine.connect() as observer:  # the watcher has looked once
                while not await observer.scalar(_LOOKED):
                    await observer.rollback()
                    await asyncio.sleep(0.01)
            async with engine.connect() as waiter:
                blocked = asyncio.create_task(
                    waiter.execute(text("UPDATE lock_probe SET id = 1 WHERE id = 1")))  # fmt: skip
                await watching
                await holder.rollback()
                await blocked
                await waiter.rollback()
    finally:
        async with engine.begin() as teardown:
            await teardown.execute(text("DROP TABLE lock_probe"))
