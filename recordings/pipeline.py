"""The recording pipeline: from Asterisk's finished file to a verified, indexed object.

Steps, one durable job per recording (`recordings.jobs`), each safe to run twice:

    fetch          Asterisk's file through ARI into the spool folder, from the node that
                   made it (the row's `node`), whichever process works the job
    transcode      pydub/ffmpeg: mono, the configured format; duration and SHA-256
    upload         to the object store, with the tenant, call, customer and agent
    verify         the store's size and SHA-256 of what it holds equal ours
    index          the recording's row: where, what, and when it expires
    publish        `recording.stored` to the desks
    delete_source  Asterisk's copy and the spool files: only now, after all the above

A step that fails for a reason that can pass (the store or Asterisk away, a checksum that
did not match) is retried with back-off, without limit; a permanent one (a corrupt file,
Asterisk has no such recording) fails the job, which stays for an operator. A process that
dies mid-step leaves its lease to run out and the next worker resumes at that step: the
spool is re-fetched if it is not on this host, an upload is simply done again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select

from billing_bridge.events import changes
from pbx.db.database import Database
from pbx.db.models import Customer, Recording, Tenant, User
from pbx.events.payloads import RecordingStored
from recordings import index, pauses
from recordings.jobs import ClaimedJob, LostLease, RecordingJobs
from recordings.keys import object_key
from recordings.media import FORMATS, MediaError, transcode
from recordings.store import ObjectStore, StoreError, StoreUnavailable

log = logging.getLogger(__name__)


class SourceGone(Exception):
    """Asterisk has no recording of that name (deleted, or never written)."""


class SourceUnavailable(Exception):
    """Asterisk could not be asked now: retry later."""


class RecordingSource(Protocol):
    """Where finished recordings are fetched from and deleted: Asterisk, through ARI."""

    async def fetch(self, name: str) -> bytes: ...

    async def delete(self, name: str) -> None: ...


class RecordingSources(Protocol):
    """A source per Asterisk node: a recording is fetched from the node that made it."""

    def of(self, node: str | None) -> RecordingSource:
        """The node's source (None: a row from before rows named their node); raises
        `SourceUnavailable` for a node this process cannot reach."""
        ...


@dataclass(frozen=True)
class PipelineSettings:
    spool: Path
    format: str = "opus"
    normalise: bool = False
    bitrate: str | None = None
    lease: timedelta = timedelta(minutes=5)
    idle_poll_seconds: float = 2.0


class Retry(Exception):
    """This step could not be done now; the job is given back for later."""


class Permanent(Exception):
    """This step can never succeed: the job fails and waits for an operator."""


Publish = Callable[[int, RecordingStored], Awaitable[None]]  # tenant, what is stored


class RecordingPipeline:
    def __init__(
        self,
        database: Database,
        sources: RecordingSources,
        store: ObjectStore,
        settings: PipelineSettings,
        clock: Callable[[], datetime],
        publish: Publish,
        *,
        worker: str | None = None,
        jobs: RecordingJobs | None = None,
    ) -> None:
        self.database, self.sources, self.store = database, sources, store
        self.settings, self.clock, self.publish = settings, clock, publish
        self.jobs = jobs or RecordingJobs(database)
        self.worker = worker or f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._steps = {
            "fetch": self._fetch, "transcode": self._transcode, "upload": self._upload,
            "verify": self._verify, "index": self._index, "publish": self._publish,
            "delete_source": self._delete_source,
        }  # fmt: skip

    async def run(self) -> None:
        """Work jobs until cancelled; sleeps a little when there are none."""
        while True:
            try:
                worked = await self.work_one()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away, a bug: keep the worker alive
                log.exception("recording pipeline: a job could not be worked")
                worked = False
            if not worked:
                await asyncio.sleep(self.settings.idle_poll_seconds)

    async def work_one(self) -> bool:
        """Claim one due job and take it as far as it goes; False when none was due."""
        job = await self.jobs.claim(self.worker, now=self.clock(), lease=self.settings.lease)
        if job is None:
            return False
        try:
            while job.step not in ("done", "failed"):
                job = await self._step(job)
        except LostLease:
            log.warning("recording job %s: lease lost, another worker has it", job.id)
        except _Stop:
            pass
        return True

    async def _step(self, job: ClaimedJob) -> ClaimedJob:
        step = self._steps[job.step]
        try:
            next_step, payload = await step(job)
        except _Reupload as exc:  # the store holds something else: upload again, later
            mismatches = int(job.payload.get("mismatches", 0)) + 1
            job = await self.jobs.advance(job, "upload", {"mismatches": mismatches},
                                          now=self.clock())  # fmt: skip
            await self.jobs.retry_later(job, str(exc), now=self.clock())
            log.warning("recording %s: %s; uploading again", job.recording_id, exc)
            raise _Stop from exc
        except Retry as exc:
            when = await self.jobs.retry_later(job, str(exc), now=self.clock())
            log.warning("recording %s %s: %s; again at %s", job.recording_id, job.step, exc,
                        when.isoformat())  # fmt: skip
            raise _Stop from exc
        except Permanent as exc:
            await self.jobs.fail(job, str(exc), now=self.clock())
            await self._set_status(job, "failed")
            log.error("recording %s failed at %s: %s", job.recording_id, job.step, exc)
            raise _Stop from exc
        job = await self.jobs.advance(job, next_step, payload, now=self.clock())
        if next_step != "done":
            job = await self.jobs.renew(job, now=self.clock(), lease=self.settings.lease)
        return job

    # --- steps ------------------------------------------------------------------------

    async def _fetch(self, job: ClaimedJob) -> tuple[str, dict[str, Any]]:
        recording = await self._recording(job)
        try:
            data = await self.sources.of(recording.node).fetch(recording.asterisk_name)
        except SourceGone as exc:
            raise Permanent(f"Asterisk has no recording {recording.asterisk_name}") from exc
        except SourceUnavailable as exc:
            raise Retry(f"Asterisk unavailable: {exc}") from exc
        spool = self._spool(job, ".wav")
        try:
            await asyncio.to_thread(_write_atomically, spool, data)
        except OSError as exc:  # the spool disk full or away: may pass
            raise Retry(f"spooling: {exc}") from exc
        return "transcode", {"spool": str(spool), "fetched_sha256": _sha256(data)}

    async def _transcode(self, job: ClaimedJob) -> tuple[str, dict[str, Any]]:
        spool = Path(job.payload["spool"])
        if not await asyncio.to_thread(spool.exists):  # resumed on another host, or cleaned
            return "fetch", {}
        folder = self.settings.spool / f"job-{job.id}"
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        try:
            audio = await asyncio.to_thread(
                transcode, spool, folder, self.settings.format,
                normalise=self.settings.normalise, bitrate=self.settings.bitrate,
            )  # fmt: skip
        except MediaError as exc:
            raise Permanent(str(exc)) from exc
        except OSError as exc:  # the spool disk: may pass
            raise Retry(f"transcoding: {exc}") from exc
        return "upload", {
            "file": str(audio.path), "format": audio.format.name, "sha256": audio.sha256,
            "size": audio.size, "duration_ms": audio.duration_ms,
            "content_type": audio.format.content_type, "extension": audio.format.extension,
        }  # fmt: skip

    async def _upload(self, job: ClaimedJob) -> tuple[str, dict[str, Any]]:
        file = Path(job.payload.get("file", ""))
        if not await asyncio.to_thread(file.is_file):
            return "fetch", {}  # the transcoded file is on another host: do it again here
        key, metadata = await self._key_and_metadata(job)
        try:
            await self.store.put(
                key, file, content_type=job.payload["content_type"],
                sha256=job.payload["sha256"], metadata=metadata,
            )  # fmt: skip
        except StoreUnavailable as exc:
            raise Retry(str(exc)) from exc
        except StoreError as exc:
            raise Retry(f"store refused the upload: {exc}") from exc  # config can be fixed
        return "verify", {"key": key}

    async def _verify(self, job: ClaimedJob) -> tuple[str, dict[str, Any]]:
        key = job.payload["key"]
        try:
            stored = await self.store.stat(key)
        except StoreUnavailable as exc:
            raise Retry(str(exc)) from exc
        expected = (job.payload["size"], job.payload["sha256"])
        if stored is None or (stored.size, stored.sha256) != expected:
            found = "nothing" if stored is None else f"{stored.size} bytes {stored.sha256[:12]}"
            raise _Reupload(f"stored object {key} is {found}, not what was uploaded")
        return "index", {}

    async def _index(self, job: ClaimedJob) -> tuple[str, dict[str, Any]]:
        """The recording's row says stored, and the billing system hears of it (the ended
        call's `call.updated`) in that transaction; a rerun of this step (the process died
        before the next) stores it again and tells nobody twice."""
        p = job.payload
        async with self.database.tenant_session(job.tenant_id) as session, session.begin():
            was = await session.scalar(
                select(Recording.status).where(Recording.id == job.recording_id)
            )
            expiry = await index.mark_stored(
                session, job.tenant_id, job.recording_id, storage=self.store.name,
                object_key=p["key"], format=p["format"], content_type=p["content_type"],
                size_bytes=p["size"], sha256=p["sha256"], duration_ms=p["duration_ms"],
                stored_at=self.clock(),
            )  # fmt: skip
            if was != "stored":
                await changes.call_recording_stored(session, job.recording_id)
        log.info("recording %s stored as %s (%s ms, %d bytes)", job.recording_id, p["key"],
                 p["duration_ms"], p["size"])  # fmt: skip
        return "publish", {"expires_at": expiry.isoformat() if expiry else None}

    async def _publish(self, job: ClaimedJob) -> tuple[str, dict[str, Any]]:
        recording = await self._recording(job)
        await self.publish(job.tenant_id, RecordingStored(
            recording_id=recording.id, call_id=recording.call_id, agent_id=recording.agent_id,
            duration_ms=recording.duration_ms, format=recording.format,
        ))  # fmt: skip
        return "delete_source", {}

    async def _delete_source(self, job: ClaimedJob) -> tuple[str, dict[str, Any]]:
        recording = await self._recording(job)
        try:
            await self.sources.of(recording.node).delete(recording.asterisk_name)
        except SourceGone:
            pass  # deleted already (this step ran before and the process died after it)
        except SourceUnavailable as exc:
            raise Retry(f"Asterisk unavailable: {exc}") from exc
        files = [Path(job.payload[name]) for name in ("spool", "file") if name in job.payload]
        await asyncio.to_thread(_remove, files, self.settings.spool / f"job-{job.id}")
        return "done", {}

    # --- helpers ----------------------------------------------------------------------

    async def _set_status(self, job: ClaimedJob, status: str) -> None:
        async with self.database.tenant_session(job.tenant_id) as session, session.begin():
            recording = await session.get(Recording, job.recording_id)
            if recording is not None and recording.status != "purged":
                recording.status = status

    def _spool(self, job: ClaimedJob, suffix: str) -> Path:
        return self.settings.spool / f"recording-{job.recording_id}{suffix}"

    async def _recording(self, job: ClaimedJob) -> Recording:
        async with self.database.tenant_session(job.tenant_id) as session:
            recording = await session.get(Recording, job.recording_id)
        if recording is None:
            raise Permanent(f"recording {job.recording_id} is not in the index")
        return recording

    async def _key_and_metadata(self, job: ClaimedJob) -> tuple[str, dict[str, str]]:
        """`TENANT/YYYY/MM/DD/CALL_ID.EXT`; a call's second recording (on demand, after a
        stop) gets `CALL_ID-2`, and so on, in the order they were made."""
        async with self.database.tenant_session(job.tenant_id) as session:
            recording = await session.get(Recording, job.recording_id)
            if recording is None:
                raise Permanent(f"recording {job.recording_id} is not in the index")
            earlier = await session.scalar(
                select(func.count()).select_from(Recording).where(
                    Recording.call_id == recording.call_id, Recording.id < recording.id
                )
            )  # fmt: skip
            tenant = await session.scalar(select(Tenant.slug).where(Tenant.id == job.tenant_id))
            customer = agent = None
            if recording.customer_id is not None:
                customer = await session.get(Customer, recording.customer_id)
            if recording.agent_id is not None:
                agent = await session.get(User, recording.agent_id)
        call = f"{recording.call_id}" if not earlier else f"{recording.call_id}-{earlier + 1}"
        started = recording.started_at or self.clock()
        key = object_key(str(tenant), started, call, job.payload["extension"])
        metadata = {
            "tenant": str(tenant), "call": str(recording.call_id),
            "recording": str(recording.id),
            "customer": customer.customer_ref if customer else "",
            "agent": agent.username if agent else "",
            "pauses": _pauses_metadata(recording),
        }  # fmt: skip
        return key, {name: value for name, value in metadata.items() if value}


class _Stop(Exception):
    """The job was given back (retry) or failed: stop working it."""


class _Reupload(Retry):
    pass


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def _pauses_metadata(recording: Recording) -> str:
    """Pause intervals as milliseconds from the start, "start-end" joined by ";": the gaps
    cut out of the file, travelling with the object itself."""
    if recording.started_at is None or not recording.pauses:
        return ""
    found = pauses.offsets(recording.pauses, started_at=recording.started_at,
                           ended_at=recording.ended_at)  # fmt: skip
    return ";".join(f"{p.start_ms}-{'' if p.end_ms is None else p.end_ms}" for p in found)


def _remove(files: list[Path], folder: Path) -> None:
    for file in files:
        with contextlib.suppress(OSError):
            file.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


__all__ = ["FORMATS", "PipelineSettings", "RecordingPipeline", "RecordingSource"]
