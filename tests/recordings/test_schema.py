"""The recordings' schema: its constraints on both databases, tenant isolation, and migration
0004 up and down over a database that already holds a call centre's rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy import (
    CheckConstraint,
    Connection,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from pbx.db.database import Database
from pbx.db.migrate import alembic_config, current_revision, head_revision, upgrade
from pbx.db.models import (
    RECORDING_JOB_STEPS,
    Base,
    InboundNumber,
    InboundRoute,
    LegalHold,
    Queue,
    Recording,
    RecordingJob,
    Tenant,
)
from recordings.jobs import STEPS, RecordingJobs
from recordings.retention import purge_expired
from tests.conftest import POSTGRES_ADMIN_URL
from tests.recordings.support import (
    NOW,
    MemoryStore,
    make_call,
    make_centre,
    make_recording,
    make_stored_recording,
)


def test_the_model_lists_the_same_pipeline_steps_as_the_queue() -> None:
    assert RECORDING_JOB_STEPS == STEPS


# --- constraints ---------------------------------------------------------------------------


@pytest.fixture
async def tenant(database: Database) -> int:
    return await make_centre(database)


async def refused(database: Database, tenant_id: int, statement: Any, rows: list[dict]) -> None:
    async with database.tenant_session(tenant_id) as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await session.execute(statement, rows)


async def test_a_recording_with_an_unknown_status_or_storage_is_refused(
    database: Database, tenant: int
) -> None:
    call_id = await make_call(database, tenant)
    row = {"tenant_id": tenant, "call_id": call_id, "format": "wav", "created_at": NOW,
           "pauses": []}  # fmt: skip
    for bad in ({"status": "paused"}, {"status": "stored", "storage": "ftp"}):
        await refused(database, tenant, insert(Recording), [row | bad])


async def test_an_asterisk_recording_name_is_unique_within_a_tenant_only(
    database: Database, tenant: int
) -> None:
    other = await make_centre(database, "saule")
    await make_recording(database, tenant, await make_call(database, tenant), asterisk_name="r1")
    await make_recording(database, other, await make_call(database, other), asterisk_name="r1")
    call_id = await make_call(database, tenant)
    row = {"tenant_id": tenant, "call_id": call_id, "format": "wav", "status": "recording",
           "created_at": NOW, "pauses": [], "asterisk_name": "r1"}  # fmt: skip
    await refused(database, tenant, insert(Recording), [row])


async def test_a_job_at_an_unknown_step_is_refused(database: Database, tenant: int) -> None:
    recording_id = await make_recording(database, tenant, await make_call(database, tenant))
    await RecordingJobs(database).enqueue(tenant, recording_id, now=NOW)
    async with database.system_session() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await session.execute(update(RecordingJob).values(step="compress"))


async def test_retention_must_be_positive_and_policies_known_in_the_database(
    database: Database, tenant: int
) -> None:
    async with database.system_session() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await session.execute(
                    update(Tenant).where(Tenant.id == tenant).values(recording_retention_days=0)
                )
    await refused(
        database, tenant, insert(Queue), [{"tenant_id": tenant, "name": "q", "strategy":
        "ringall", "recording_policy": "sometimes"}]
    )  # fmt: skip


async def test_a_new_route_records_all_calls_and_a_new_queue_follows_its_route(
    database: Database, tenant: int
) -> None:
    async with database.tenant_session(tenant) as session, session.begin():
        queue = Queue(name="billing")
        session.add(queue)
        await session.flush()
        number = await session.scalar(select(InboundNumber.id))
        route = InboundRoute(inbound_number_id=number, queue_id=queue.id)
        session.add(route)
        await session.flush()
        assert (route.recording_policy, route.recording_announcement) == ("all", None)
        assert queue.recording_policy is None
    async with database.system_session() as session:
        assert await session.scalar(select(Tenant.recording_retention_days)) is None


async def test_the_purge_index_only_covers_recordings_not_yet_purged(
    database: Database,
) -> None:
    async with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_recordings_purge'"
        else:
            query = "SELECT sql FROM sqlite_master WHERE name = 'ix_recordings_purge'"
        definition = (await connection.execute(text(query))).scalar_one()
    assert "(tenant_id, expires_at)" in definition
    assert "WHERE" in definition and "purged_at IS NULL" in definition


async def test_check_constraints_carry_the_names_the_models_give_them(
    database: Database,
) -> None:
    """Alembic's schema comparison skips CHECK constraints; their names are compared here."""
    touched = ("tenants", "queues", "inbound_routes", "recordings", "recording_jobs",
               "legal_holds")  # fmt: skip

    def reflected(connection: Connection) -> dict[str, set[str]]:
        found = inspect(connection)
        return {t: {c["name"] for c in found.get_check_constraints(t)} for t in touched}

    async with database.engine.connect() as connection:
        names = await connection.run_sync(reflected)
    expected = {
        table: {
            c.name for c in Base.metadata.tables[table].constraints
            if isinstance(c, CheckConstraint)
        }
        for table in touched
    }  # fmt: skip
    assert names == expected


# --- tenant isolation ----------------------------------------------------------------------


async def test_a_tenant_sees_and_changes_only_its_own_recordings_jobs_and_holds(
    database: Database, tenant: int
) -> None:
    other = await make_centre(database, "saule")
    for owner in (tenant, other):
        recording_id = await make_stored_recording(database, owner, expires_at=NOW)
        await RecordingJobs(database).enqueue(owner, recording_id, now=NOW)
        async with database.tenant_session(owner) as session, session.begin():
            call_id = await session.scalar(select(Recording.call_id))
            session.add(LegalHold(call_id=call_id, reason=f"hold {owner}", placed_at=NOW))

    async with database.tenant_session(tenant) as session, session.begin():
        for model in (Recording, RecordingJob, LegalHold):
            owners = set(await session.scalars(select(model.tenant_id)))
            assert owners == {tenant}, model.__name__
        await session.execute(update(Recording).values(status="failed"))
        await session.execute(update(LegalHold).values(released_at=NOW))
    async with database.tenant_session(other) as session:
        assert await session.scalar(select(Recording.status)) == "stored"
        assert await session.scalar(select(LegalHold.released_at)) is None


async def test_the_purge_keeps_each_tenants_holds_to_that_tenant(
    database: Database, tenant: int
) -> None:
    """A hold in one tenant says nothing about another tenant's call with the same id."""
    other = await make_centre(database, "saule")
    held = await make_stored_recording(database, tenant, expires_at=NOW)
    free = await make_stored_recording(database, other, expires_at=NOW)
    async with database.tenant_session(tenant) as session, session.begin():
        call_id = await session.scalar(select(Recording.call_id).where(Recording.id == held))
        session.add(LegalHold(call_id=call_id, reason="x", placed_at=NOW))
    report = await purge_expired(database, MemoryStore(), now=NOW)
    assert (report.purged, report.held) == (1, 1)
    async with database.tenant_session(other) as session:
        assert await session.scalar(select(Recording.status).where(Recording.id == free)) == (
            "purged"
        )


# --- migration 0004 over existing rows -----------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_database(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Database]:
    """An empty database of its own: the shared ones stay at the head revision."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'round-trip.db'}")
        yield database
        await database.close()
        return
    name = f"ledgerline_migration_{uuid.uuid4().hex[:10]}"
    admin = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(admin)
    await connection.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    database = Database(f"{base}/{name}")
    try:
        yield database
    finally:
        await database.close()
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


async def downgrade(database: Database, revision: str) -> None:
    def run(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), revision)

    async with database.engine.begin() as connection:
        await connection.run_sync(run)


# A call centre as revision 0003 knew it; children of tenants and queues included, since a
# table copy of a parent on SQLite would cascade into them.
_CENTRE_AT_0003 = [
    "INSERT INTO tenants (id, slug, name, default_region, currency, timezone, created_at) "
    "VALUES (1, 'ofek', 'Ofek', 'IL', 'ILS', 'UTC', CURRENT_TIMESTAMP)",
    "INSERT INTO customers (id, customer_ref, name, created_at, updated_at, tenant_id) "
    "VALUES (1, 'C-1', 'Avi', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)",
    "INSERT INTO users (id, username, display_name, role, credit_limit_minor, active, "
    "created_at, tenant_id) VALUES (1, 'dana', 'Dana', 'agent', 0, true, CURRENT_TIMESTAMP, 1)",
    "INSERT INTO queues (id, name, strategy, ring_timeout_seconds, wrapup_seconds, tenant_id) "
    "VALUES (1, 'billing', 'ringall', 15, 0, 1)",
    "INSERT INTO queue_members (id, queue_id, user_id, penalty, position, tenant_id) "
    "VALUES (1, 1, 1, 0, 0, 1)",
    "INSERT INTO inbound_numbers (id, e164, label, tenant_id) VALUES (1, '+97235550100', '', 1)",
    "INSERT INTO inbound_routes (id, inbound_number_id, queue_id, closed_kind, closed_target, "
    "verification, verification_attempts, menu, updated_at, tenant_id) "
    "VALUES (1, 1, 1, 'hangup', '', 'none', 3, '{}', CURRENT_TIMESTAMP, 1)",
    "INSERT INTO calls (id, channel_id, caller_raw, match, customer_id, arrived_at, tenant_id) "
    "VALUES (1, 'chan-1', '+97235551234', 'unique', 1, CURRENT_TIMESTAMP, 1)",
    "INSERT INTO recordings (id, call_id, format, status, created_at, tenant_id) "
    "VALUES (1, 1, 'wav', 'pending', CURRENT_TIMESTAMP, 1)",
    "INSERT INTO recordings (id, call_id, format, status, created_at, tenant_id) "
    "VALUES (2, 1, 'wav', 'uploading', CURRENT_TIMESTAMP, 1)",
]
_CHILDREN = ("customers", "users", "queues", "queue_members", "inbound_routes", "calls",
             "recordings")  # fmt: skip


async def counts(database: Database) -> dict[str, int]:
    async with database.engine.connect() as connection:
        return {
            table: (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in _CHILDREN
        }


async def tables(database: Database) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with database.engine.connect() as connection:
        return await connection.run_sync(names)


async def test_migration_0004_keeps_existing_rows_and_round_trips(
    fresh_database: Database,
) -> None:
    database = fresh_database
    await upgrade(database, "0003")
    async with database.engine.begin() as connection:
        for statement in _CENTRE_AT_0003:
            await connection.execute(text(statement))
    before = await counts(database)
    assert set(before.values()) == {1, 2} and before["recordings"] == 2

    await upgrade(database)
    assert await counts(database) == before
    async with database.engine.connect() as connection:
        row = (await connection.execute(text(
            "SELECT r.recording_policy, r.recording_announcement, q.recording_policy, "
            "t.recording_retention_days FROM inbound_routes r, queues q, tenants t"
        ))).one()  # fmt: skip
        assert tuple(row) == ("all", None, None, None)
        statuses = (await connection.execute(text(
            "SELECT status, pauses FROM recordings ORDER BY id"
        ))).all()  # fmt: skip
    assert [(s, _json(p)) for s, p in statuses] == [("pending", []), ("failed", [])]
    async with database.tenant_session(1) as session:  # the models read the migrated rows
        assert await session.scalar(select(func.count()).select_from(Recording)) == 2

    await downgrade(database, "0003")
    assert await counts(database) == before
    assert {"recording_jobs", "legal_holds"}.isdisjoint(await tables(database))
    await upgrade(database)
    assert await current_revision(database) == head_revision()
    assert await counts(database) == before


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
