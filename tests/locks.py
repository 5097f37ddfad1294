"""Waiting, in a test, for a PostgreSQL statement to wait on a row lock: the moment a race
the test opened is known to be running, not guessed from a delay."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from pbx.db.database import Database

_WAITING = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()")  # fmt: skip


async def until_a_statement_waits_on_a_lock(
    database: Database, waiter: asyncio.Task[Any] | None = None, *, within_s: float = 60.0,
    what: str = "a lock",
) -> None:
    """Returns once a statement of this database waits on a lock; fails if `waiter` ends
    first (it did not wait: its result says why) or nobody waits within `within_s`.

    Each look is its own transaction: PostgreSQL keeps one snapshot of `pg_stat_activity`
    for a whole transaction, so a poll that kept its transaction would see the first
    answer (nobody waiting) for ever."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    async with database.engine.connect() as connection:
        while loop.time() < deadline:
            if waiter is not None and waiter.done():
                raise AssertionError(f"it did not wait for {what}: {waiter.result()!r}")
            waiting = await connection.scalar(_WAITING)
            await connection.rollback()
            if waiting:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"nobody waited for {what} within {within_s:.0f} s")
