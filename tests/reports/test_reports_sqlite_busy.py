"""A report read while the call flow holds SQLite's one write lock: the read itself takes no
lock (WAL), and the session's `last_seen_at` refresh, which needs the lock, gives way instead
of failing the request; a later request refreshes it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from pbx.db.models import UserSession
from tests.platform.conftest import Platform, platform  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
REPORT = {"from": "2026-12-01", "to": "2026-12-01", "interval": "hour"}


@contextmanager
def write_lock_held(path: str) -> Iterator[None]:
    """Another connection's write transaction, open until the block ends."""
    writer = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM report_queue_intervals")
        yield
        writer.execute("ROLLBACK")
    finally:
        writer.close()


async def _last_seen(platform: Platform) -> datetime:  # noqa: F811
    async with platform.database.system_session() as session:
        seen = list(await session.scalars(select(UserSession.last_seen_at)))
    assert len(seen) == 1
    return seen[0]


async def test_a_report_read_while_a_writer_holds_the_lock_is_answered(
    platform: Platform,  # noqa: F811
) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    earlier = datetime.now(UTC) - timedelta(minutes=5)  # a refresh of last_seen_at is due
    async with platform.database.system_session() as session, session.begin():
        await session.execute(update(UserSession).values(last_seen_at=earlier))

    with write_lock_held(platform.database.engine.url.database or ""):
        status, body = await admin.call("GET", "/reports/queues", **REPORT)
        assert status == 200, body
        assert await _last_seen(platform) == earlier  # left for a later request

    status, body = await admin.call("GET", "/reports/queues", **REPORT)
    assert status == 200, body
    assert await _last_seen(platform) > earlier
