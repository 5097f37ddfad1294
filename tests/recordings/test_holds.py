"""Legal holds: placing, releasing, what they cover, and that a purge cannot slip past one."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from pbx.db.database import Database
from pbx.db.models import AuditEntry, Customer, LegalHold
from recordings.holds import (
    HoldAlreadyReleased,
    HoldError,
    HoldNotFound,
    HoldTargetNotFound,
    is_held,
    live_holds,
    place_hold,
    release_hold,
)
from recordings.retention import PurgeReport, purge_expired
from tests.recordings.support import (
    NOW,
    MemoryStore,
    make_admin,
    make_call,
    make_centre,
    make_customer_in,
    make_stored_recording,
    recording,
)

PAST = NOW - timedelta(days=1)


@pytest.fixture
async def tenant(database: Database) -> int:
    return await make_centre(database)


async def held(database: Database, tenant_id: int, recording_id: int) -> bool:
    async with database.tenant_session(tenant_id) as session:
        return await is_held(session, recording_id)


async def test_a_hold_names_exactly_one_call_or_one_customer(
    database: Database, tenant: int
) -> None:
    call_id = await make_call(database, tenant)
    customer_id = await make_customer_in(database, tenant)
    async with database.tenant_session(tenant) as session:
        for target in ({}, {"call_id": call_id, "customer_id": customer_id}):
            with pytest.raises(ValueError):
                await place_hold(session, tenant, reason="x", by=None, now=NOW, **target)


async def test_a_hold_needs_a_reason(database: Database, tenant: int) -> None:
    call_id = await make_call(database, tenant)
    async with database.tenant_session(tenant) as session:
        with pytest.raises(ValueError):
            await place_hold(session, tenant, call_id=call_id, reason="  ", by=None, now=NOW)


async def test_the_database_refuses_a_hold_on_both_or_neither_or_without_reason(
    database: Database, tenant: int
) -> None:
    call_id = await make_call(database, tenant)
    customer_id = await make_customer_in(database, tenant)
    rows = [
        {"call_id": call_id, "customer_id": customer_id, "reason": "x"},
        {"call_id": None, "customer_id": None, "reason": "x"},
        {"call_id": call_id, "customer_id": None, "reason": ""},
    ]
    for row in rows:
        async with database.tenant_session(tenant) as session:
            with pytest.raises(IntegrityError):
                async with session.begin():
                    await session.execute(
                        insert(LegalHold), [{"tenant_id": tenant, "placed_at": NOW, **row}]
                    )


async def test_a_call_hold_holds_that_calls_recordings_only(
    database: Database, tenant: int
) -> None:
    target = await make_stored_recording(database, tenant, expires_at=PAST)
    other = await make_stored_recording(database, tenant, expires_at=PAST)
    call_id = (await recording(database, tenant, target)).call_id
    async with database.tenant_session(tenant) as session, session.begin():
        await place_hold(session, tenant, call_id=call_id, reason="complaint", by=None, now=NOW)
    assert await held(database, tenant, target)
    assert not await held(database, tenant, other)


async def test_a_customer_hold_covers_their_recordings_and_their_calls_recordings(
    database: Database, tenant: int
) -> None:
    customer_id = await make_customer_in(database, tenant)
    on_recording = await make_stored_recording(
        database, tenant, expires_at=PAST, customer_id=customer_id
    )
    on_call = await make_stored_recording(
        database, tenant, expires_at=PAST, call_customer_id=customer_id
    )
    unrelated = await make_stored_recording(database, tenant, expires_at=PAST)
    async with database.tenant_session(tenant) as session, session.begin():
        await place_hold(session, tenant, customer_id=customer_id, reason="x", by=None, now=NOW)
    assert [await held(database, tenant, i) for i in (on_recording, on_call, unrelated)] == [
        True, True, False
    ]  # fmt: skip


async def test_placing_and_releasing_a_hold_is_audited_with_who_did_it(
    database: Database, tenant: int
) -> None:
    admin = await make_admin(database, tenant)
    call_id = await make_call(database, tenant)
    async with database.tenant_session(tenant) as session, session.begin():
        hold = await place_hold(
            session, tenant, call_id=call_id, reason="regulator", by=admin, now=NOW
        )
    later = NOW + timedelta(days=3)
    async with database.tenant_session(tenant) as session, session.begin():
        released = await release_hold(session, tenant, hold.id, by=admin, now=later)
    assert (released.placed_by, released.released_by, released.released_at) == (
        admin.user_id, admin.user_id, later
    )  # fmt: skip
    async with database.tenant_session(tenant) as session:
        entries = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [(e.action, e.actor_id, e.target_type, e.target_id) for e in entries] == [
        ("recording.hold.place", admin.user_id, "legal_hold", str(hold.id)),
        ("recording.hold.release", admin.user_id, "legal_hold", str(hold.id)),
    ]
    assert entries[0].details == {"call_id": call_id, "customer_id": None, "reason": "regulator"}


async def test_a_released_hold_holds_nothing_and_is_not_live(
    database: Database, tenant: int
) -> None:
    recording_id = await make_stored_recording(database, tenant, expires_at=PAST)
    call_id = (await recording(database, tenant, recording_id)).call_id
    async with database.tenant_session(tenant) as session, session.begin():
        hold = await place_hold(session, tenant, call_id=call_id, reason="x", by=None, now=NOW)
        assert [h.id for h in await live_holds(session, call_id=call_id)] == [hold.id]
    async with database.tenant_session(tenant) as session, session.begin():
        await release_hold(session, tenant, hold.id, by=None, now=NOW)
        assert await live_holds(session, call_id=call_id) == []
    assert not await held(database, tenant, recording_id)


async def test_releasing_a_hold_twice_or_one_that_does_not_exist_is_refused(
    database: Database, tenant: int
) -> None:
    call_id = await make_call(database, tenant)
    async with database.tenant_session(tenant) as session, session.begin():
        hold = await place_hold(session, tenant, call_id=call_id, reason="x", by=None, now=NOW)
        await release_hold(session, tenant, hold.id, by=None, now=NOW)
        with pytest.raises(HoldAlreadyReleased):
            await release_hold(session, tenant, hold.id, by=None, now=NOW)
        with pytest.raises(HoldNotFound):
            await release_hold(session, tenant, hold.id + 1000, by=None, now=NOW)


async def test_a_tenant_cannot_hold_or_see_another_tenants_calls(
    database: Database, tenant: int
) -> None:
    other = await make_centre(database, "saule")
    their_call = await make_call(database, other)
    async with database.tenant_session(other) as session, session.begin():
        await place_hold(session, other, call_id=their_call, reason="theirs", by=None, now=NOW)
    async with database.tenant_session(tenant) as session:
        with pytest.raises(HoldTargetNotFound):
            await place_hold(session, tenant, call_id=their_call, reason="x", by=None, now=NOW)
        assert list(await session.scalars(select(LegalHold))) == []
    admin = await make_admin(database, tenant)
    async with database.tenant_session(other) as session:
        with pytest.raises(HoldError):
            await place_hold(session, other, call_id=their_call, reason="x", by=admin, now=NOW)


async def test_a_customer_who_was_ever_held_cannot_be_deleted_behind_the_holds_back(
    database: Database, tenant: int
) -> None:
    customer_id = await make_customer_in(database, tenant)
    async with database.tenant_session(tenant) as session, session.begin():
        await place_hold(session, tenant, customer_id=customer_id, reason="x", by=None, now=NOW)
    async with database.tenant_session(tenant) as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await session.execute(delete(Customer).where(Customer.id == customer_id))


async def test_a_hold_placed_while_a_purge_is_deciding_wins(postgres_database: Database) -> None:
    """The hold's transaction has locked the recording; the purge waits for it, then sees
    the hold and keeps the recording."""
    database = postgres_database
    tenant = await make_centre(database)
    recording_id = await make_stored_recording(database, tenant, expires_at=PAST)
    call_id = (await recording(database, tenant, recording_id)).call_id
    store = MemoryStore([(await recording(database, tenant, recording_id)).object_key])

    async with database.tenant_session(tenant) as session:
        await session.begin()
        await place_hold(session, tenant, call_id=call_id, reason="x", by=None, now=NOW)
        purge = asyncio.create_task(purge_expired(database, store, now=NOW))
        await asyncio.sleep(0.3)
        assert not purge.done()  # waiting on the recording's row lock
        await session.commit()
    report = await asyncio.wait_for(purge, 10)
    assert report == PurgeReport(held=1)
    assert store.deleted == []
    assert (await recording(database, tenant, recording_id)).status == "stored"
