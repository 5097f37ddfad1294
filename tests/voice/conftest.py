"""The prompt tools read only the businesses' names and languages: their tests run on SQLite
alone (the schema is the same on both, which `tests/db` checks), migrated once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pbx.db.database import Database
from tests.conftest import _migrate_once, opened


@pytest.fixture
def migrated_sqlite_url(sqlite_url: str, migrated: dict[str, bool]) -> str:
    _migrate_once(sqlite_url, migrated)
    return sqlite_url


@pytest.fixture
async def database(migrated_sqlite_url: str) -> AsyncIterator[Database]:
    async with opened(migrated_sqlite_url) as database:
        yield database
