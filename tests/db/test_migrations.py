"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from pbx.db.database import Database
from pbx.db.migrate import current_revision, head_revision
from pbx.db.models import Base


async def test_the_database_is_at_the_head_revision(database: Database) -> None:
    assert await current_revision(database) == head_revision()


async def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    def differences(connection: Connection) -> list:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
