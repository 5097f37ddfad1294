"""Retention: expiry from the tenant's days, retention changes, and the purge."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import AuditEntry, Tenant
from recordings.holds import place_hold, release_hold
from recordings.index import RecordingPurged, mark_stored
from recordings.retention import PurgeReport, expires_at, purge_expired, set_retention
from tests.recordings.support import (
    NOW,
    MemoryStore,
    make_admin,
    make_call,
    make_centre,
    make_customer_in,
    make_recording,
    make_stored_recording,
    recording,
)

PAST = NOW - timedelta(days=1)
LATER = NOW + timedelta(days=1)


@pytest.fixture
async def tenant(database: Database) -> int:
    return await make_centre(database)


async def keys_of(database: Database, tenant_id: int, *ids: int) -> list[str]:
    return [(await recording(database, tenant_id, i)).object_key for i in ids]


async def audit_of(database: Database, tenant_id: int, action: str) -> list[AuditEntry]:
    async with database.tenant_session(tenant_id) as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(await session.scalars(query))


# --- expiry (pure) -------------------------------------------------------------------------


def test_a_recording_expires_its_tenants_retention_days_after_it_was_stored() -> None:
    assert expires_at(NOW, 90) == NOW + timedelta(days=90)


def test_no_retention_keeps_a_recording_for_ever() -> None:
    assert expires_at(NOW, None) is None


@pytest.mark.parametrize("days", [0, -1, True, 1.5])
def test_retention_must_be_a_positive_number_of_days(days: object) -> None:
    with pytest.raises(ValueError):
        expires_at(NOW, days)  # type: ignore[arg-type]


# --- storing and retention changes ---------------------------------------------------------


async def store(database: Database, tenant_id: int, recording_id: int) -> datetime | None:
    async with database.tenant_session(tenant_id) as session, session.begin():
        return await mark_stored(
            session, tenant_id, recording_id,
            storage="s3", object_key=f"ofek/2026/03/02/{recording_id}.opus", format="opus",
            content_type="audio/ogg", size_bytes=48_213, sha256="ab" * 32, duration_ms=61_250,
            stored_at=NOW,
        )  # fmt: skip


async def test_storing_a_recording_indexes_it_with_its_expiry(
    database: Database, tenant: int
) -> None:
    admin = await make_admin(database, tenant)
    async with database.tenant_session(tenant) as session, session.begin():
        await set_retention(session, tenant, 30, by=admin, now=NOW)
    recording_id = await make_recording(database, tenant, await make_call(database, tenant))
    assert await store(database, tenant, recording_id) == NOW + timedelta(days=30)
    row = await recording(database, tenant, recording_id)
    assert (row.status, row.storage, row.format, row.size_bytes, row.duration_ms) == (
        "stored", "s3", "opus", 48_213, 61_250
    )  # fmt: skip
    assert (row.stored_at, row.expires_at) == (NOW, NOW + timedelta(days=30))


async def test_a_tenant_without_retention_keeps_what_it_stores(
    database: Database, tenant: int
) -> None:
    recording_id = await make_recording(database, tenant, await make_call(database, tenant))
    assert await store(database, tenant, recording_id) is None
    assert (await recording(database, tenant, recording_id)).expires_at is None


async def test_a_purged_recording_cannot_be_stored_again(database: Database, tenant: int) -> None:
    call_id = await make_call(database, tenant)
    recording_id = await make_recording(
        database, tenant, call_id, status="purged", purged_at=NOW, object_key="k"
    )
    with pytest.raises(RecordingPurged):
        await store(database, tenant, recording_id)


async def test_changing_retention_rewrites_the_expiry_of_every_stored_recording(
    database: Database, tenant: int
) -> None:
    stored = [await make_stored_recording(database, tenant, expires_at=None) for _ in range(2)]
    call_id = await make_call(database, tenant)
    pending = await make_recording(database, tenant, call_id)
    other = await make_centre(database, "saule")
    elsewhere = await make_stored_recording(database, other, expires_at=None)
    admin = await make_admin(database, tenant)

    async with database.tenant_session(tenant) as session, session.begin():
        assert await set_retention(session, tenant, 7, by=admin, now=NOW) == 2
    for recording_id in stored:
        # Microseconds kept: the SQLite expression keeps the stored fraction.
        assert (await recording(database, tenant, recording_id)).expires_at == NOW + timedelta(7)
    assert (await recording(database, tenant, pending)).expires_at is None
    assert (await recording(database, other, elsewhere)).expires_at is None

    async with database.tenant_session(tenant) as session, session.begin():
        await set_retention(session, tenant, None, by=admin, now=NOW)
        assert await session.scalar(select(Tenant.recording_retention_days)) is None
    assert (await recording(database, tenant, stored[0])).expires_at is None


async def test_a_retention_change_is_audited(database: Database, tenant: int) -> None:
    admin = await make_admin(database, tenant)
    async with database.tenant_session(tenant) as session, session.begin():
        await set_retention(session, tenant, 365, by=admin, now=NOW)
    (entry,) = await audit_of(database, tenant, "recording.retention.set")
    assert (entry.actor_id, entry.actor_label, entry.target_id) == (
        admin.user_id, "admin:ada", str(tenant)
    )  # fmt: skip
    assert entry.details["days"] == 365


async def test_a_user_cannot_change_another_tenants_retention(
    database: Database, tenant: int
) -> None:
    other = await make_centre(database, "saule")
    admin = await make_admin(database, tenant)
    async with database.tenant_session(other) as session, session.begin():
        with pytest.raises(ValueError):
            await set_retention(session, other, 1, by=admin, now=NOW)


# --- the purge -----------------------------------------------------------------------------


async def test_the_purge_deletes_expired_recordings_and_keeps_the_rest(
    database: Database, tenant: int
) -> None:
    expired = await make_stored_recording(database, tenant, expires_at=PAST)
    due_now = await make_stored_recording(database, tenant, expires_at=NOW)
    unexpired = await make_stored_recording(database, tenant, expires_at=LATER)
    forever = await make_stored_recording(database, tenant, expires_at=None)
    keys = await keys_of(database, tenant, expired, due_now, unexpired, forever)
    store = MemoryStore(keys)

    report = await purge_expired(database, store, now=NOW)

    assert report == PurgeReport(purged=2)
    assert sorted(store.objects) == sorted(keys[2:])
    for recording_id in (expired, due_now):
        row = await recording(database, tenant, recording_id)
        assert (row.status, row.purged_at) == ("purged", NOW)
        assert row.object_key is not None  # kept as the record of what was deleted
    for recording_id in (unexpired, forever):
        assert (await recording(database, tenant, recording_id)).status == "stored"
    assert await purge_expired(database, store, now=NOW) == PurgeReport()


async def test_the_purge_goes_through_every_tenant_and_every_batch(
    database: Database, tenant: int
) -> None:
    other = await make_centre(database, "saule")
    ids = [await make_stored_recording(database, tenant, expires_at=PAST) for _ in range(5)]
    ids_other = [await make_stored_recording(database, other, expires_at=PAST) for _ in range(2)]
    store = MemoryStore()
    assert (await purge_expired(database, store, now=NOW, batch=2)).purged == 7
    assert len(store.deleted) == len(ids) + len(ids_other)


async def test_each_purged_recording_is_audited_as_done_by_retention(
    database: Database, tenant: int
) -> None:
    recording_id = await make_stored_recording(database, tenant, expires_at=PAST)
    await purge_expired(database, MemoryStore(), now=NOW)
    (entry,) = await audit_of(database, tenant, "recording.purge")
    assert (entry.actor_id, entry.actor_label, entry.target_type, entry.target_id) == (
        None, "retention", "recording", str(recording_id)
    )  # fmt: skip
    assert entry.details["object_key"] == (await keys_of(database, tenant, recording_id))[0]
    assert entry.details["expired_at"] == PAST.isoformat()


async def test_a_hold_on_the_call_keeps_an_expired_recording(
    database: Database, tenant: int
) -> None:
    held = await make_stored_recording(database, tenant, expires_at=PAST)
    free = await make_stored_recording(database, tenant, expires_at=PAST)
    call_id = (await recording(database, tenant, held)).call_id
    async with database.tenant_session(tenant) as session, session.begin():
        await place_hold(session, tenant, call_id=call_id, reason="dispute", by=None, now=NOW)

    store = MemoryStore(await keys_of(database, tenant, held, free))
    assert await purge_expired(database, store, now=NOW) == PurgeReport(purged=1, held=1)
    assert (await recording(database, tenant, held)).status == "stored"
    assert list(store.objects) == await keys_of(database, tenant, held)


async def test_a_hold_on_the_customer_keeps_all_their_expired_recordings(
    database: Database, tenant: int
) -> None:
    customer_id = await make_customer_in(database, tenant)
    by_recording = await make_stored_recording(
        database, tenant, expires_at=PAST, customer_id=customer_id
    )
    by_call = await make_stored_recording(
        database, tenant, expires_at=PAST, call_customer_id=customer_id
    )
    someone_else = await make_stored_recording(database, tenant, expires_at=PAST)
    async with database.tenant_session(tenant) as session, session.begin():
        await place_hold(
            session, tenant, customer_id=customer_id, reason="court order", by=None, now=NOW
        )

    assert await purge_expired(database, MemoryStore(), now=NOW) == PurgeReport(purged=1, held=2)
    statuses = [
        (await recording(database, tenant, i)).status for i in (by_recording, by_call, someone_else)
    ]
    assert statuses == ["stored", "stored", "purged"]


async def test_a_released_hold_lets_the_next_purge_delete(database: Database, tenant: int) -> None:
    recording_id = await make_stored_recording(database, tenant, expires_at=PAST)
    call_id = (await recording(database, tenant, recording_id)).call_id
    async with database.tenant_session(tenant) as session, session.begin():
        hold = await place_hold(session, tenant, call_id=call_id, reason="x", by=None, now=NOW)
    store = MemoryStore()
    assert (await purge_expired(database, store, now=NOW)).held == 1

    async with database.tenant_session(tenant) as session, session.begin():
        await release_hold(session, tenant, hold.id, by=None, now=NOW)
    assert await purge_expired(database, store, now=NOW) == PurgeReport(purged=1)


async def test_a_store_outage_stops_the_purge_and_marks_only_what_was_deleted(
    database: Database, tenant: int
) -> None:
    ids = [await make_stored_recording(database, tenant, expires_at=PAST) for _ in range(4)]
    store = MemoryStore(await keys_of(database, tenant, *ids), unavailable_after=1)

    report = await purge_expired(database, store, now=NOW)

    assert report == PurgeReport(purged=1, interrupted=True)
    statuses = [(await recording(database, tenant, i)).status for i in ids]
    assert statuses == ["purged", "stored", "stored", "stored"]
    assert len(store.objects) == 3
    assert len(await audit_of(database, tenant, "recording.purge")) == 1

    store.unavailable_after = None  # the store is back: the next run finishes the work
    assert await purge_expired(database, store, now=NOW) == PurgeReport(purged=3)


async def test_a_store_down_from_the_start_purges_nothing(database: Database, tenant: int) -> None:
    recording_id = await make_stored_recording(database, tenant, expires_at=PAST)
    store = MemoryStore(await keys_of(database, tenant, recording_id), unavailable_after=0)
    assert await purge_expired(database, store, now=NOW) == PurgeReport(interrupted=True)
    assert (await recording(database, tenant, recording_id)).status == "stored"


async def test_a_delete_the_store_refuses_is_counted_and_the_purge_goes_on(
    database: Database, tenant: int
) -> None:
    refused, fine = [await make_stored_recording(database, tenant, expires_at=PAST) for _ in "ab"]
    store = MemoryStore(await keys_of(database, tenant, refused, fine))
    store.refused = set(await keys_of(database, tenant, refused))
    assert await purge_expired(database, store, now=NOW) == PurgeReport(purged=1, failed=1)
    assert (await recording(database, tenant, refused)).status == "stored"


async def test_recordings_not_yet_stored_are_never_purged(database: Database, tenant: int) -> None:
    call_id = await make_call(database, tenant)
    for status in ("recording", "finishing", "pending", "failed"):
        await make_recording(database, tenant, call_id, status=status, expires_at=PAST)
    assert await purge_expired(database, MemoryStore(), now=NOW) == PurgeReport()
