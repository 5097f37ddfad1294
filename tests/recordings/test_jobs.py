"""The pipeline's durable queue: claims under leases, resumption after a crash, back-off."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import RecordingJob
from recordings.jobs import (
    BACKOFF_CAP,
    ERROR_LIMIT,
    ClaimedJob,
    LostLease,
    RecordingJobs,
    backoff,
    clean_error,
)
from tests.recordings.support import NOW, make_call, make_centre, make_recording

LEASE = timedelta(seconds=30)


@pytest.fixture
async def tenant(database: Database) -> int:
    return await make_centre(database)


async def new_recording(database: Database, tenant_id: int) -> int:
    return await make_recording(database, tenant_id, await make_call(database, tenant_id))


async def queued(
    database: Database, tenant_id: int, count: int = 1, *, now: datetime = NOW
) -> list[int]:
    """`count` recordings queued one second apart from `now`; their ids."""
    jobs = RecordingJobs(database)
    ids = []
    for n in range(count):
        recording_id = await new_recording(database, tenant_id)
        await jobs.enqueue(tenant_id, recording_id, now=now + timedelta(seconds=n))
        ids.append(recording_id)
    return ids


async def job_row(database: Database, recording_id: int) -> RecordingJob:
    async with database.system_session() as session:
        query = select(RecordingJob).where(RecordingJob.recording_id == recording_id)
        return (await session.scalars(query)).one()


# --- back-off (pure) -----------------------------------------------------------------------


def test_backoff_starts_at_two_seconds_and_doubles_up_to_five_minutes() -> None:
    waits = [backoff(n).total_seconds() for n in range(1, 11)]
    assert waits == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff(10_000) == BACKOFF_CAP


def test_backoff_jitter_only_shortens_a_wait_by_a_quarter_at_most() -> None:
    assert backoff(3, jitter=0.0) == timedelta(seconds=8)
    assert backoff(3, jitter=0.999999) > timedelta(seconds=6)
    assert backoff(20, jitter=0.5) <= BACKOFF_CAP


def test_stored_error_text_is_capped_and_free_of_nul_bytes() -> None:
    assert clean_error("bad\x00 gateway") == "bad gateway"
    capped = clean_error("x" * 10_000)
    assert len(capped) == ERROR_LIMIT
    assert capped.endswith("…")


# --- enqueue and claim ---------------------------------------------------------------------


async def test_enqueueing_a_recording_twice_queues_it_once(database: Database, tenant: int) -> None:
    jobs = RecordingJobs(database)
    recording_id = await new_recording(database, tenant)
    assert await jobs.enqueue(tenant, recording_id, now=NOW) is True
    assert await jobs.enqueue(tenant, recording_id, now=NOW + timedelta(minutes=1)) is False
    async with database.system_session() as session:
        rows = (await session.scalars(select(RecordingJob))).all()
    assert [(r.recording_id, r.step, r.next_attempt_at) for r in rows] == [
        (recording_id, "fetch", NOW)
    ]


async def test_a_job_enqueued_in_the_callers_transaction_lives_and_dies_with_it(
    database: Database, tenant: int
) -> None:
    jobs = RecordingJobs(database)
    recording_id = await new_recording(database, tenant)
    for commit in (False, True):
        async with database.tenant_session(tenant) as session:
            await session.begin()
            await jobs.enqueue(tenant, recording_id, now=NOW, session=session)
            await (session.commit() if commit else session.rollback())
        job = await jobs.claim("w1", now=NOW, lease=LEASE)
        assert (job is not None) is commit


async def test_a_claim_takes_the_oldest_due_job_first(database: Database, tenant: int) -> None:
    first, second = await queued(database, tenant, 2)
    jobs = RecordingJobs(database)
    later = NOW + timedelta(minutes=1)
    taken = [await jobs.claim(f"w{n}", now=later, lease=LEASE) for n in range(3)]
    assert [job.recording_id for job in taken[:2]] == [first, second]
    assert taken[2] is None
    assert taken[0] == ClaimedJob(
        id=taken[0].id, tenant_id=tenant, recording_id=first, step="fetch", attempts=0,
        payload={}, claimed_by="w0", claimed_until=later + LEASE,
    )  # fmt: skip


async def test_a_job_is_not_claimed_before_it_is_due(database: Database, tenant: int) -> None:
    await queued(database, tenant, now=NOW + timedelta(minutes=5))
    jobs = RecordingJobs(database)
    assert await jobs.claim("w1", now=NOW, lease=LEASE) is None
    assert await jobs.claim("w1", now=NOW + timedelta(minutes=5), lease=LEASE) is not None


async def test_a_leased_job_is_not_claimed_by_another_worker(
    database: Database, tenant: int
) -> None:
    await queued(database, tenant)
    jobs = RecordingJobs(database)
    assert await jobs.claim("w1", now=NOW, lease=LEASE) is not None
    assert await jobs.claim("w2", now=NOW + LEASE - timedelta(seconds=1), lease=LEASE) is None


async def test_a_crashed_workers_job_resumes_at_its_step_once_the_lease_runs_out(
    database: Database, tenant: int
) -> None:
    (recording_id,) = await queued(database, tenant)
    jobs = RecordingJobs(database)
    crashed = await jobs.claim("w1", now=NOW, lease=LEASE)
    assert crashed is not None
    await jobs.advance(crashed, "transcode", {"spool": "/spool/1.wav"}, now=NOW)
    # w1 dies here, in the middle of transcoding.
    resumed = await jobs.claim("w2", now=NOW + LEASE, lease=LEASE)
    assert resumed is not None
    assert (resumed.recording_id, resumed.step, resumed.claimed_by) == (
        recording_id, "transcode", "w2"
    )  # fmt: skip
    assert resumed.payload == {"spool": "/spool/1.wav"}


async def test_a_worker_that_lost_its_lease_cannot_advance_and_changes_nothing(
    database: Database, tenant: int
) -> None:
    (recording_id,) = await queued(database, tenant)
    jobs = RecordingJobs(database)
    stale = await jobs.claim("w1", now=NOW, lease=LEASE)
    current = await jobs.claim("w2", now=NOW + LEASE + timedelta(seconds=1), lease=LEASE)
    assert stale is not None and current is not None
    with pytest.raises(LostLease):
        await jobs.advance(stale, "transcode", {"spool": "stale"}, now=NOW + LEASE)
    for call in (
        jobs.retry_later(stale, "late", now=NOW + LEASE),
        jobs.fail(stale, "late", now=NOW + LEASE),
        jobs.renew(stale, now=NOW + LEASE, lease=LEASE),
    ):
        with pytest.raises(LostLease):
            await call
    assert await jobs.release(stale, now=NOW + LEASE) is False
    row = await job_row(database, recording_id)
    assert (row.step, row.claimed_by, row.payload, row.attempts, row.last_error) == (
        "fetch", "w2", {}, 0, None
    )  # fmt: skip


async def test_a_job_object_from_before_an_advance_cannot_advance_again(
    database: Database, tenant: int
) -> None:
    await queued(database, tenant)
    jobs = RecordingJobs(database)
    job = await jobs.claim("w1", now=NOW, lease=LEASE)
    assert job is not None
    await jobs.advance(job, "transcode", now=NOW)
    with pytest.raises(LostLease):
        await jobs.advance(job, "transcode", now=NOW)


# --- advancing, retrying, failing ----------------------------------------------------------


async def test_advance_moves_on_resets_attempts_merges_the_payload_and_keeps_the_lease(
    database: Database, tenant: int
) -> None:
    await queued(database, tenant)
    jobs = RecordingJobs(database, random=lambda: 0.0)
    job = await jobs.claim("w1", now=NOW, lease=LEASE)
    assert job is not None
    job = await jobs.advance(job, "transcode", {"spool": "/s/1.wav"}, now=NOW)
    await jobs.retry_later(job, "ffmpeg was killed", now=NOW)
    job = await jobs.claim("w1", now=NOW + timedelta(seconds=2), lease=LEASE)
    assert job is not None and job.attempts == 1
    later = NOW + timedelta(seconds=3)
    job = await jobs.advance(job, "upload", {"sha256": "ab" * 32}, now=later)
    assert (job.step, job.attempts, job.claimed_by) == ("upload", 0, "w1")
    assert job.payload == {"spool": "/s/1.wav", "sha256": "ab" * 32}
    row = await job_row(database, job.recording_id)
    assert (row.step, row.attempts, row.last_error, row.updated_at) == ("upload", 0, None, later)


async def test_advancing_to_done_finishes_the_job_for_good(database: Database, tenant: int) -> None:
    (recording_id,) = await queued(database, tenant)
    jobs = RecordingJobs(database)
    job = await jobs.claim("w1", now=NOW, lease=LEASE)
    assert job is not None
    for step in ("transcode", "upload", "verify", "index", "publish", "delete_source"):
        job = await jobs.advance(job, step, now=NOW)
    finished = await jobs.advance(job, "done", now=NOW + timedelta(seconds=9))
    assert finished.step == "done"
    row = await job_row(database, recording_id)
    assert (row.claimed_by, row.finished_at) == (None, NOW + timedelta(seconds=9))
    assert await jobs.claim("w2", now=NOW + timedelta(days=1), lease=LEASE) is None
    assert await jobs.enqueue(tenant, recording_id, now=NOW + timedelta(days=1)) is False


async def test_advancing_to_an_unknown_step_or_to_failed_is_refused(
    database: Database, tenant: int
) -> None:
    await queued(database, tenant)
    jobs = RecordingJobs(database)
    job = await jobs.claim("w1", now=NOW, lease=LEASE)
    assert job is not None
    for step in ("compress", "failed"):
        with pytest.raises(ValueError):
            await jobs.advance(job, step, now=NOW)


async def test_retry_later_backs_off_and_the_job_waits_until_then(
    database: Database, tenant: int
) -> None:
    (recording_id,) = await queued(database, tenant)
    jobs = RecordingJobs(database, random=lambda: 0.0)
    waits = []
    now = NOW
    for _ in range(4):
        job = await jobs.claim("w1", now=now, lease=LEASE)
        assert job is not None
        due = await jobs.retry_later(job, "S3 unavailable: connect timeout", now=now)
        assert await jobs.claim("w2", now=due - timedelta(microseconds=1), lease=LEASE) is None
        waits.append((due - now).total_seconds())
        now = due
    assert waits == [2, 4, 8, 16]
    row = await job_row(database, recording_id)
    assert (row.step, row.attempts, row.claimed_by) == ("fetch", 4, None)
    assert row.last_error == "S3 unavailable: connect timeout"


async def test_transient_errors_are_retried_without_limit(database: Database, tenant: int) -> None:
    await queued(database, tenant)
    jobs = RecordingJobs(database, random=lambda: 0.0)
    now = NOW
    for _ in range(30):  # hours of outage
        job = await jobs.claim("w1", now=now, lease=LEASE)
        assert job is not None
        now = await jobs.retry_later(job, "unavailable", now=now)
    job = await jobs.claim("w1", now=now, lease=LEASE)
    assert job is not None and job.attempts == 30


async def test_a_failed_job_keeps_its_last_step_and_error_and_is_never_claimed(
    database: Database, tenant: int
) -> None:
    (recording_id,) = await queued(database, tenant)
    jobs = RecordingJobs(database)
    job = await jobs.claim("w1", now=NOW, lease=LEASE)
    assert job is not None
    job = await jobs.advance(job, "transcode", {"spool": "/s/1.wav"}, now=NOW)
    await jobs.fail(job, "not a WAV file", now=NOW)
    row = await job_row(database, recording_id)
    assert (row.step, row.last_error, row.finished_at, row.claimed_by) == (
        "failed", "not a WAV file", NOW, None
    )  # fmt: skip
    assert row.payload == {"spool": "/s/1.wav", "failed_step": "transcode"}
    assert await jobs.claim("w2", now=NOW + timedelta(days=1), lease=LEASE) is None


async def test_release_gives_the_job_back_at_once(database: Database, tenant: int) -> None:
    await queued(database, tenant)
    jobs = RecordingJobs(database)
    job = await jobs.claim("w1", now=NOW, lease=LEASE)
    assert job is not None
    assert await jobs.release(job, now=NOW) is True
    again = await jobs.claim("w2", now=NOW, lease=LEASE)
    assert again is not None and (again.id, again.step, again.attempts) == (job.id, "fetch", 0)


async def test_renewing_a_lease_keeps_other_workers_off_the_job(
    database: Database, tenant: int
) -> None:
    await queued(database, tenant)
    jobs = RecordingJobs(database)
    job = await jobs.claim("w1", now=NOW, lease=LEASE)
    assert job is not None
    renewed = await jobs.renew(job, now=NOW + timedelta(seconds=25), lease=LEASE)
    assert renewed.claimed_until == NOW + timedelta(seconds=55)
    assert await jobs.claim("w2", now=NOW + timedelta(seconds=40), lease=LEASE) is None
    assert await jobs.advance(renewed, "transcode", now=NOW + timedelta(seconds=50))


async def test_pending_counts_are_by_step_with_failed_and_without_done(
    database: Database, tenant: int
) -> None:
    await queued(database, tenant, 4)
    jobs = RecordingJobs(database)
    first = await jobs.claim("w", now=NOW + timedelta(minutes=1), lease=LEASE)
    second = await jobs.claim("w", now=NOW + timedelta(minutes=1), lease=LEASE)
    third = await jobs.claim("w", now=NOW + timedelta(minutes=1), lease=LEASE)
    assert first and second and third
    await jobs.advance(first, "done", now=NOW)
    await jobs.advance(second, "upload", now=NOW)
    await jobs.fail(third, "gone", now=NOW)
    counts = await jobs.pending_counts()
    assert counts == {
        "fetch": 1, "transcode": 0, "upload": 1, "verify": 0, "index": 0, "publish": 0,
        "delete_source": 0, "failed": 1,
    }  # fmt: skip


# --- concurrency ---------------------------------------------------------------------------


async def test_two_processes_claiming_at_once_never_get_the_same_job(
    database: Database, tenant: int
) -> None:
    """Two engines on one database (SQLite file or PostgreSQL), as two processes would be."""
    total = 60
    await queued(database, tenant, total)
    other = Database(database.url)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    started = {worker: asyncio.Event() for worker in claimed}
    later = NOW + timedelta(hours=1)

    async def work(worker: str, db: Database) -> None:
        jobs = RecordingJobs(db)
        while sum(map(len, claimed.values())) < total:
            job = await jobs.claim(worker, now=later, lease=LEASE)
            if job is None:  # PostgreSQL may skip a row the other worker just took
                await asyncio.sleep(0.01)
                continue
            claimed[worker].append(job.id)
            started[worker].set()
            # Both take part whatever the scheduling (on SQLite one writer could otherwise
            # take every job while the other waits on the lock): after its first job, each
            # waits for the other's first, then they race for the rest.
            await asyncio.gather(*(event.wait() for event in started.values()))

    try:
        await asyncio.wait_for(asyncio.gather(work("a", database), work("b", other)), 60)
    finally:
        await other.close()
    everything = claimed["a"] + claimed["b"]
    assert len(everything) == len(set(everything)) == total
    assert claimed["a"] and claimed["b"]  # both really took part


async def test_many_claimers_on_postgresql_never_share_a_job(postgres_database: Database) -> None:
    tenant = await make_centre(postgres_database)
    total = 200
    await queued(postgres_database, tenant, total)
    engines = [Database(postgres_database.url) for _ in range(3)]
    later = NOW + timedelta(hours=1)
    seen: list[int] = []

    async def work(n: int, db: Database) -> None:
        jobs = RecordingJobs(db)
        while len(seen) < total:
            job = await jobs.claim(f"w{n}", now=later, lease=LEASE)
            if job is None:
                await asyncio.sleep(0.005)
                continue
            seen.append(job.id)
            await jobs.advance(job, "done", now=later)

    try:
        loops = [work(n, db) for n, db in enumerate([postgres_database, *engines] * 2)]
        await asyncio.wait_for(asyncio.gather(*loops), 60)
    finally:
        for db in engines:
            await db.close()
    assert len(seen) == len(set(seen)) == total
