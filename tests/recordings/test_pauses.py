"""Pause intervals: opened and closed, as offsets from the start, and audited on the row."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import AuditEntry
from recordings.index import record_pause, record_resume
from recordings.pauses import (
    AlreadyPaused,
    NotPaused,
    PauseError,
    PauseOffsets,
    close_pause,
    is_paused,
    offsets,
    open_pause,
    paused_ms,
)
from tests.recordings.support import NOW, make_admin, make_call, make_centre, make_recording


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_a_pause_is_an_open_interval_until_it_is_closed() -> None:
    paused = open_pause([], at=at(10), reason="card payment", by=7)
    assert paused == [{"from": at(10).isoformat(), "to": None, "reason": "card payment", "by": 7}]
    assert is_paused(paused)
    resumed = close_pause(paused, at=at(42.5))
    assert resumed[0]["to"] == at(42.5).isoformat()
    assert not is_paused(resumed)
    assert paused[0]["to"] is None  # the list given is left as it was


def test_pausing_twice_or_resuming_when_not_paused_is_refused() -> None:
    paused = open_pause([], at=at(1), reason="agent", by=None)
    with pytest.raises(AlreadyPaused):
        open_pause(paused, at=at(2), reason="agent", by=None)
    with pytest.raises(NotPaused):
        close_pause(close_pause(paused, at=at(3)), at=at(4))


def test_intervals_cannot_run_backwards() -> None:
    paused = open_pause([], at=at(10), reason="agent", by=None)
    with pytest.raises(PauseError):
        close_pause(paused, at=at(9))
    with pytest.raises(PauseError):
        open_pause(close_pause(paused, at=at(20)), at=at(15), reason="agent", by=None)


def test_times_must_be_timezone_aware_and_are_kept_in_utc() -> None:
    with pytest.raises(ValueError):
        open_pause([], at=datetime(2026, 3, 2, 9, 0), reason="agent", by=None)
    vilnius = datetime(2026, 3, 2, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    opened = open_pause([], at=vilnius, reason="agent", by=None)
    assert opened[0]["from"] == "2026-03-02T09:00:00+00:00"


def test_intervals_become_milliseconds_from_the_start_of_the_recording() -> None:
    pauses = close_pause(open_pause([], at=at(10), reason="card", by=3), at=at(42.25))
    pauses = open_pause(pauses, at=at(50), reason="agent", by=None)
    assert offsets(pauses, started_at=NOW) == [
        PauseOffsets(10_000, 42_250, "card", 3),
        PauseOffsets(50_000, None, "agent", None),
    ]
    # A pause still open when the recording ended runs to the end.
    assert offsets(pauses, started_at=NOW, ended_at=at(60))[1] == PauseOffsets(
        50_000, 60_000, "agent", None
    )
    assert paused_ms(pauses, started_at=NOW, ended_at=at(60)) == 32_250 + 10_000


async def test_pausing_and_resuming_a_live_recording_is_kept_on_it_and_audited(
    database: Database,
) -> None:
    tenant = await make_centre(database)
    admin = await make_admin(database, tenant)
    call_id = await make_call(database, tenant)
    recording_id = await make_recording(database, tenant, call_id, status="recording")
    async with database.tenant_session(tenant) as session, session.begin():
        await record_pause(session, tenant, recording_id, at=at(5), reason="card payment", by=admin)
        with pytest.raises(AlreadyPaused):
            await record_pause(session, tenant, recording_id, at=at(6), reason="x", by=None)
    async with database.tenant_session(tenant) as session, session.begin():
        row = await record_resume(session, tenant, recording_id, at=at(35), by=None)
    assert offsets(row.pauses, started_at=NOW) == [
        PauseOffsets(5_000, 35_000, "card payment", admin.user_id)
    ]
    async with database.tenant_session(tenant) as session:
        entries = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [(e.action, e.actor_label, e.target_id) for e in entries] == [
        ("recording.pause", "admin:ada", str(recording_id)),
        ("recording.resume", "system", str(recording_id)),
    ]


async def test_a_finished_recording_cannot_be_paused(database: Database) -> None:
    tenant = await make_centre(database)
    call_id = await make_call(database, tenant)
    recording_id = await make_recording(database, tenant, call_id, status="stored")
    async with database.tenant_session(tenant) as session:
        with pytest.raises(PauseError):
            await record_pause(session, tenant, recording_id, at=at(1), reason="x", by=None)
