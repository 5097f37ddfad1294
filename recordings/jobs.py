"""The recording pipeline's durable work queue: one row a recording, worked step by step.

Knows steps, leases and back-off; nothing of ARI or S3. A worker `claim`s the oldest due job
under a lease, runs the job's step, then `advance`s it to the next step, or `retry_later`
(a transient error: the store is down, a checksum did not match) or `fail` (a permanent one).
A worker that dies leaves its lease to run out; the next claimer resumes the job at the step
it had reached, so every step must be safe to run twice. Every write checks that the lease
is still the caller's: a worker that lost it gets `LostLease` and changes nothing.

Transient errors are retried without limit (an S3 outage of any length must lose nothing);
the back-off caps the cost of that at one attempt per job every five minutes. Operators see
jobs stuck in retries through `pending_counts` and each job's `attempts` and `last_error`.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.db.database import Database
from pbx.db.models import RecordingJob

# The pipeline's steps in order; the model and migration 0004 repeat this tuple.
STEPS = (
    "fetch", "transcode", "upload", "verify", "index", "publish", "delete_source",
    "done", "failed",
)  # fmt: skip
FIRST_STEP = STEPS[0]
FINISHED = ("done", "failed")

BACKOFF_FIRST = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)
BACKOFF_JITTER = 0.25  # up to a quarter off each wait, so jobs that failed together spread out
ERROR_LIMIT = 2000  # characters of `last_error` kept
# SQLite has no SKIP LOCKED: a claimer tries a few candidates in case others won the first.
_SQLITE_CANDIDATES = 8


class LostLease(Exception):
    """The job is no longer claimed by this worker (its lease ran out and another took it,
    or it was released, retried or finished): the caller must drop it."""


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    tenant_id: int
    recording_id: int
    step: str
    attempts: int
    payload: Mapping[str, Any] = field(repr=False)
    claimed_by: str
    claimed_until: datetime


def backoff(attempts: int, jitter: float = 0.0) -> timedelta:
    """The wait after the `attempts`-th failed attempt at a step: 2 s, doubling each time, at
    most 5 minutes, shortened by up to a quarter by `jitter` (0 <= jitter < 1)."""
    doublings = min(max(attempts, 1) - 1, 16)  # 2 s * 2**16 is far past the cap already
    nominal = min(BACKOFF_CAP, BACKOFF_FIRST * 2**doublings)
    return nominal * (1 - BACKOFF_JITTER * min(max(jitter, 0.0), 1.0))


def clean_error(error: str) -> str:
    """What is kept of an error message: capped, without the NUL bytes PostgreSQL refuses.
    Callers pass messages without secrets; this only bounds their size."""
    text = error.replace("\x00", "")
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


_UNCLAIMED: dict[str, Any] = {"claimed_by": None, "claimed_until": None}
_COLUMNS = (
    RecordingJob.id,
    RecordingJob.tenant_id,
    RecordingJob.recording_id,
    RecordingJob.step,
    RecordingJob.attempts,
    RecordingJob.payload,
    RecordingJob.claimed_by,
    RecordingJob.claimed_until,
)


class RecordingJobs:
    """The queue, worked across tenants through system sessions."""

    def __init__(self, database: Database, *, random: Callable[[], float] = _random.random):
        self._database = database
        self._random = random

    async def enqueue(
        self,
        tenant_id: int,
        recording_id: int,
        *,
        now: datetime,
        payload: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> bool:
        """Queue a finished recording for the pipeline; False when it was queued already
        (a second enqueue, even of a finished job, changes nothing). With `session`, the row
        joins that session's transaction, e.g. with the recording's move to "pending"."""
        row = {
            "tenant_id": tenant_id,
            "recording_id": recording_id,
            "step": FIRST_STEP,
            "attempts": 0,
            "next_attempt_at": now,
            "payload": dict(payload or {}),
            "created_at": now,
            "updated_at": now,
        }
        if session is not None:
            return await _insert_once(session, row)
        async with self._database.system_session() as own, own.begin():
            return await _insert_once(own, row)

    async def claim(self, worker: str, *, now: datetime, lease: timedelta) -> ClaimedJob | None:
        """The oldest due job that is neither finished nor leased, now leased to `worker`
        until `now + lease`; None when there is none. Two claimers never get the same job."""
        due = _claimable(now)
        candidates = (
            select(RecordingJob.id)
            .where(due)
            .order_by(RecordingJob.next_attempt_at, RecordingJob.id)
        )
        if self._database.dialect == "postgresql":
            candidates = candidates.limit(1).with_for_update(skip_locked=True)
        else:
            candidates = candidates.limit(_SQLITE_CANDIDATES)
        async with self._database.system_session() as session, session.begin():
            for job_id in (await session.scalars(candidates)).all():
                # Compare-and-set: on SQLite another claimer may have won since the select.
                taken = await _write(
                    session,
                    and_(RecordingJob.id == job_id, due),
                    claimed_by=worker,
                    claimed_until=now + lease,
                    updated_at=now,
                )
                if taken is not None:
                    return taken
        return None

    async def advance(
        self,
        job: ClaimedJob,
        next_step: str,
        payload_update: Mapping[str, Any] | None = None,
        *,
        now: datetime,
    ) -> ClaimedJob:
        """Record that `job.step` is done: the job moves to `next_step` with its attempts
        reset and `payload_update` merged into its payload. The lease is kept, so the worker
        may go straight on; "done" finishes the job and frees it."""
        if next_step not in STEPS or next_step == "failed":
            raise ValueError(f"cannot advance to {next_step!r}: use fail() for failures")
        values: dict[str, Any] = {
            "step": next_step,
            "attempts": 0,
            "next_attempt_at": now,
            "payload": {**job.payload, **(payload_update or {})},
            "last_error": None,
            "updated_at": now,
        }
        if next_step == "done":
            values |= {**_UNCLAIMED, "finished_at": now}
        row = await self._write_held(job, values)
        if next_step == "done":  # the row names no holder any more: the job as it finished
            return replace(job, step="done", attempts=0, payload=values["payload"])
        return row

    async def renew(self, job: ClaimedJob, *, now: datetime, lease: timedelta) -> ClaimedJob:
        """Extend the lease for a long step (a big upload) before it runs out."""
        return await self._write_held(job, {"claimed_until": now + lease, "updated_at": now})

    async def retry_later(self, job: ClaimedJob, error: str, *, now: datetime) -> datetime:
        """Give the job back after a transient failure of its step; it is due again after the
        back-off for its attempts so far. Returns when."""
        attempts = job.attempts + 1
        due = now + backoff(attempts, self._random())
        await self._write_held(
            job,
            {
                "attempts": attempts,
                "next_attempt_at": due,
                "last_error": clean_error(error),
                **_UNCLAIMED,
                "updated_at": now,
            },
        )
        return due

    async def fail(self, job: ClaimedJob, error: str, *, now: datetime) -> None:
        """Stop working the job after a permanent error. The row stays for operators, with
        the step that failed in its payload (`failed_step`) and the error."""
        await self._write_held(
            job,
            {
                "step": "failed",
                "payload": {**job.payload, "failed_step": job.step},
                "last_error": clean_error(error),
                **_UNCLAIMED,
                "finished_at": now,
                "updated_at": now,
            },
        )

    async def release(self, job: ClaimedJob, *, now: datetime) -> bool:
        """Give the job back untouched (graceful shutdown) so another worker can take it at
        once. False when it was no longer this worker's: nothing to give back."""
        try:
            await self._write_held(job, {**_UNCLAIMED, "updated_at": now})
        except LostLease:
            return False
        return True

    async def pending_counts(self) -> dict[str, int]:
        """Jobs by step, for health and metrics: every step but "done", zeros included
        ("failed" ones wait for an operator)."""
        counts = dict.fromkeys((step for step in STEPS if step != "done"), 0)
        query = (
            select(RecordingJob.step, func.count())
            .where(RecordingJob.step != "done")
            .group_by(RecordingJob.step)
        )
        async with self._database.system_session() as session:
            for step, count in (await session.execute(query)).all():
                counts[step] = count
        return counts

    async def _write_held(self, job: ClaimedJob, values: dict[str, Any]) -> ClaimedJob:
        """Update the job only while `job.claimed_by` still holds it at `job.step`."""
        held = and_(
            RecordingJob.id == job.id,
            RecordingJob.claimed_by == job.claimed_by,
            RecordingJob.step == job.step,
        )
        async with self._database.system_session() as session, session.begin():
            row = await _write(session, held, **values)
        if row is None:
            raise LostLease(f"recording job {job.id} is no longer held by {job.claimed_by}")
        return row


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        RecordingJob.step.not_in(FINISHED),
        RecordingJob.next_attempt_at <= now,
        or_(RecordingJob.claimed_until.is_(None), RecordingJob.claimed_until <= now),
    )


async def _write(
    session: AsyncSession, condition: ColumnElement[bool], **values: Any
) -> ClaimedJob | None:
    statement = (
        update(RecordingJob)
        .where(condition)
        .values(**values)
        .returning(*_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else _claimed(row)


def _claimed(row: Any) -> ClaimedJob:
    return ClaimedJob(**{**row._mapping, "payload": dict(row.payload or {})})


async def _insert_once(session: AsyncSession, row: dict[str, Any]) -> bool:
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(RecordingJob)
        .on_conflict_do_nothing(index_elements=["recording_id"])
        .returning(RecordingJob.id)
    )
    # Parameters as a list, not .values(): a tenant session checks each row's tenant_id.
    return (await session.execute(statement, [row])).first() is not None
