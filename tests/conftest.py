"""Shared fixtures. Databases and Redis are the real servers (see ./dev test), never fakes.

`database` runs each test once on SQLite and once on PostgreSQL. The schema is built by the
project's own Alembic migrations, once per run and backend; rows are wiped after each test.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from pbx.db.database import Database
from pbx.db.migrate import upgrade
from pbx.db.models import Base

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytest_plugins = ["tests.s3"]  # moto's S3 server and buckets, for any test

POSTGRES_ADMIN_URL = os.environ.get(
    "LEDGERLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CHROMIUM = "/usr/bin/chromium"  # Debian's, which `./dev test` installs


def _redis_test_url(base: str, worker: str) -> str:
    """The Redis database of this test process: the base one (15 unless
    LEDGERLINE_TEST_REDIS_URL names another), less the pytest-xdist worker's number, so the
    workers of one run (gw0, gw1, ...) flush and fill databases of their own."""
    if not worker.startswith("gw"):
        return base
    prefix, _, db = base.rpartition("/")
    if not db.isdigit() or int(db) < int(worker[2:]):
        raise RuntimeError(
            f"LEDGERLINE_TEST_REDIS_URL={base} must end in a database number of at least "
            f"{worker[2:]} for pytest-xdist's worker {worker}"
        )
    return f"{prefix}/{int(db) - int(worker[2:])}"


REDIS_TEST_URL = _redis_test_url(
    os.environ.get("LEDGERLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    os.environ.get("PYTEST_XDIST_WORKER", ""),
)


@event.listens_for(Engine, "connect")
def _sqlite_unsynced(dbapi_connection: object, _record: object) -> None:
    """A test's SQLite file need not survive a power cut: commits do not wait for the disk
    (`pbx.db.database` keeps SQLite's full sync everywhere else)."""
    if isinstance(dbapi_connection, sqlite3.Connection) or "sqlite" in type(
        dbapi_connection
    ).__module__:
        dbapi_connection.cursor().execute("PRAGMA synchronous=OFF")  # type: ignore[attr-defined]


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A database of its own for this test run, dropped at the end."""
    name = f"ledgerline_test_{uuid.uuid4().hex[:10]}"
    admin = POSTGRES_ADMIN_URL

    async def create() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(admin))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
            # A test database need not outlive a crash of the server: commits do not wait
            # for the WAL's flush to disk (what a test's thousands of commits waited on).
            await connection.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        finally:
            await connection.close()

    async def drop() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(admin))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    try:
        asyncio.run(create())
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {admin} is needed for these tests (./dev test starts it): {exc}"
        )
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    yield f"{base}/{name}"
    asyncio.run(drop())


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'ledgerline.db'}"


@pytest.fixture(scope="session")
def migrated() -> dict[str, bool]:
    return {}


def _migrate_once(url: str, migrated: dict[str, bool]) -> None:
    if migrated.get(url):
        return

    async def run() -> None:
        database = Database(url)
        try:
            await upgrade(database)
        finally:
            await database.close()

    asyncio.run(run())
    migrated[url] = True


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, migrated: dict[str, bool]) -> str:
    url = request.getfixturevalue(f"{request.param}_url")
    _migrate_once(url, migrated)
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    async with opened(database_url) as database:
        yield database


@pytest.fixture
def migrated_postgresql_url(postgresql_url: str, migrated: dict[str, bool]) -> str:
    _migrate_once(postgresql_url, migrated)
    return postgresql_url


@pytest.fixture
async def postgres_database(migrated_postgresql_url: str) -> AsyncIterator[Database]:
    """For behaviour only a database server has (dropped connections, concurrency)."""
    async with opened(migrated_postgresql_url) as database:
        yield database


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Database]:
    """A test's database at a migrated `url`, emptied and closed after the test."""
    database = Database(url)
    try:
        yield database
    finally:
        await wipe(database)
        await database.close()


async def wipe(database: Database) -> None:
    await release_abandoned_sqlite_locks(database)
    await _delete_all(database)


async def release_abandoned_sqlite_locks(database: Database, within_s: float = 5.0) -> None:
    """A call flow stopped mid-statement (as a process dies) leaves its aiosqlite connection
    closed but still referenced from the cancelled task's traceback, and SQLite keeps the
    write lock of a statement left unfinished until its cursor is collected. The end of that
    process would release it; here collect until a writer gets in."""
    if database.engine.dialect.name != "sqlite":
        return
    path = database.engine.url.database or ""
    for _ in range(int(within_s / 0.02)):
        if _sqlite_writable(path):
            return
        gc.collect()
        await asyncio.sleep(0.02)  # a close the cancellation left running finishes first
    raise AssertionError(f"{path} is still locked {within_s} s after the call flow stopped")


def _sqlite_writable(path: str) -> bool:
    probe = sqlite3.connect(path, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.rollback()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


async def _delete_all(database: Database) -> None:
    async with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(text(f"DELETE FROM {table.name}"))


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_TEST_URL)
    try:
        await client.ping()
    except OSError as exc:
        pytest.fail(
            f"Redis at {REDIS_TEST_URL} is needed for these tests (./dev test starts it): {exc}"
        )
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium through Playwright (never a browser Playwright downloads)."""
    from playwright.async_api import async_playwright, expect

    # Playwright's 5 s default for `expect` is a delay the code never promised: a sign-in's
    # password check runs on niced workers that a loaded machine starves (it took longer in
    # a run with both cores held). As in tests/waiting.py, the bound only ends a failing
    # test; a passing one waits as long as the page takes.
    expect.set_options(timeout=30_000)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        await browser.close()
