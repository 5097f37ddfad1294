"""Calls are recorded through the simulator's ARI and end up verified in S3 (moto's server),
with nothing lost when S3 is down, a worker dies mid-upload or a checksum does not match."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from billing_bridge.verification import hash_pin
from pbx.db.models import AuditEntry, Customer, Recording, RecordingJob
from pbx.events.payloads import RecordingStored
from pbx.simulator.ari.scripts import Call as SimCall
from recordings.ari_source import AriRecordingSources
from recordings.pipeline import PipelineSettings, RecordingPipeline
from recordings.s3_store import S3Store
from recordings.store import ObjectStore, StoredObject
from tests.callflow.world import Clock, World
from tests.factories import make_customer
from tests.s3 import CREDENTIALS, REGION


class Published(list[tuple[int, RecordingStored]]):
    async def __call__(self, tenant_id: int, stored: RecordingStored) -> None:
        self.append((tenant_id, stored))


async def centre(world: World, **route: Any) -> None:
    await world.add_queue("support", strategy="linear")
    await world.add_agent("dana", "1001", "support")
    await world.add_route("support", **route)
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("dana")


async def talk_and_hang_up(world: World, seconds: float = 0.6) -> tuple[SimCall, Recording]:
    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    await asyncio.sleep(seconds)
    await call.hangup()
    row = await recording_when(world, lambda r: r.status == "pending", "queued for the pipeline")
    return call, row


async def recording_when(world: World, done: Callable[[Recording], bool], what: str) -> Recording:
    found: list[Recording] = []

    async def check() -> bool:
        async with world.database.tenant_session(world.tenant_id) as session:
            rows = list(await session.scalars(select(Recording)))
        found[:] = [row for row in rows if done(row)]
        return bool(found)

    await world.until_async(check, what)
    return found[0]


def pipeline(
    world: World, store: ObjectStore, tmp_path: Path, clock: Callable[[], datetime] | None = None,
    published: Published | None = None,
) -> RecordingPipeline:  # fmt: skip
    return RecordingPipeline(
        world.database, AriRecordingSources.single(world.flow.snapshots.node, world.flow.client),
        store,
        PipelineSettings(tmp_path / "spool"), clock or Clock(),
        published if published is not None else Published(),
    )  # fmt: skip


async def work_all(worker: RecordingPipeline) -> None:
    while await worker.work_one():
        pass


async def job_of(world: World, recording_id: int) -> RecordingJob:
    async with world.database.system_session() as session:
        job = await session.scalar(
            select(RecordingJob).where(RecordingJob.recording_id == recording_id)
        )
    assert job is not None
    return job


async def test_a_call_is_recorded_transcoded_uploaded_verified_indexed_and_only_then_deleted(
    world: World, s3_store: S3Store, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    await centre(world)
    call, row = await talk_and_hang_up(world)
    assert "sound:ledgerline-call-recorded" in call.heard  # the caller was told
    assert row.asterisk_name in world.sim.model.stored
    published = Published()

    await work_all(pipeline(world, s3_store, tmp_path, published=published))

    stored = await recording_when(world, lambda r: r.status == "stored", "stored")
    assert re.fullmatch(rf"ofek/\d{{4}}/\d\d/\d\d/{stored.call_id}\.opus", stored.object_key)
    head = s3_client.head_object(Bucket=bucket, Key=stored.object_key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "audio/ogg" and head["ContentLength"] == stored.size_bytes
    assert head["Metadata"]["tenant"] == "ofek" and head["Metadata"]["agent"] == "dana"
    body = s3_client.get_object(Bucket=bucket, Key=stored.object_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == stored.sha256
    # At least the talk (0.6 s), at most the time Asterisk recorded (within the row's times).
    recorded_ms = (stored.ended_at - stored.started_at).total_seconds() * 1000
    assert 400 <= (stored.duration_ms or 0) <= recorded_ms + 1 and stored.agent_id is not None
    assert [told.recording_id for _, told in published] == [stored.id]
    assert row.asterisk_name not in world.sim.model.stored  # Asterisk's copy: deleted last
    assert list((tmp_path / "spool").iterdir()) == []  # and the spool cleaned


async def test_paused_time_is_cut_out_listed_with_the_recording_and_audited(
    world: World, s3_store: S3Store, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    await centre(world)
    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    live = world.flow.state.calls[call.channel_id]
    await asyncio.sleep(0.3)  # talk before the pause (at least this long)
    pausing = datetime.now(UTC)
    await world.flow.recorder.pause(live, "card capture", None)
    paused_by = datetime.now(UTC)
    await asyncio.sleep(1.5)
    resuming = datetime.now(UTC)
    await world.flow.recorder.resume(live, None)
    resumed_by = datetime.now(UTC)
    await asyncio.sleep(0.3)  # and after it
    await call.hangup()
    row = await recording_when(world, lambda r: r.status == "pending", "queued")

    assert [(p["reason"], p["to"] is not None) for p in row.pauses] == [("card capture", True)]
    paused_from, paused_to = (datetime.fromisoformat(row.pauses[0][k]) for k in ("from", "to"))
    # Each end is the moment its call was made, however long the call took on a busy machine.
    assert pausing <= paused_from <= paused_by and resuming <= paused_to <= resumed_by
    paused = paused_to - paused_from
    file = world.sim.model.stored[row.asterisk_name].data
    seconds_in_file = (len(file) - 44) / 16_000  # 8 kHz, 16-bit mono
    talked = (row.ended_at - row.started_at).total_seconds()  # Asterisk's recording is within
    # The pause is cut out: Asterisk was paused from before `paused_by` until after
    # `resuming` at least, and the file holds only the talk around it (0.3 s before, 0.3 s
    # after, at least).
    assert 0.5 <= seconds_in_file <= talked - (resuming - paused_by).total_seconds() + 0.01
    async with world.database.tenant_session(world.tenant_id) as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions[-2:] == ["recording.pause", "recording.resume"]

    await work_all(pipeline(world, s3_store, tmp_path))  # the intervals travel with the file
    stored = await recording_when(world, lambda r: r.status == "stored", "stored")
    metadata = s3_client.head_object(Bucket=bucket, Key=stored.object_key)["Metadata"]
    start, end = (int(ms) for ms in metadata["pauses"].split("-"))
    assert end - start == pytest.approx(paused.total_seconds() * 1000, abs=5)


async def test_an_s3_outage_loses_nothing_and_the_upload_completes_when_s3_is_back(
    world: World, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    outage = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    outage.start()
    host, port = outage.get_host_and_port()
    store = S3Store(bucket, region=REGION, endpoint_url=f"http://{host}:{port}",
                    credentials=CREDENTIALS)  # fmt: skip
    await centre(world)
    _, row = await talk_and_hang_up(world)
    outage.stop()  # S3 goes away
    clock = Clock()
    worker = pipeline(world, store, tmp_path, clock)
    try:
        for _ in range(3):  # tried, and tried again after the back-off: still down
            await work_all(worker)
            job = await job_of(world, row.id)
            assert job.step == "upload" and job.last_error
            clock.ahead += timedelta(minutes=10)
        assert job.attempts == 3
        assert row.asterisk_name in world.sim.model.stored  # nothing deleted meanwhile

        outage = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        outage.start()  # back (moto keeps its buckets in this process)
        await work_all(worker)
    finally:
        outage.stop()
        store.close()

    stored = await recording_when(world, lambda r: r.status == "stored", "stored")
    assert s3_client.head_object(Bucket=bucket, Key=stored.object_key)["ContentLength"] > 0
    assert row.asterisk_name not in world.sim.model.stored


class StallingStore:
    """Our store port around S3 whose first upload never finishes: the worker is killed."""

    def __init__(self, inner: S3Store) -> None:
        self.inner, self.name, self.started = inner, inner.name, asyncio.Event()

    async def put(self, key: str, source: Path, **options: Any) -> None:
        self.started.set()
        await asyncio.Event().wait()

    async def stat(self, key: str) -> StoredObject | None:
        return await self.inner.stat(key)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def playback_url(self, key: str, *, expires_in: int) -> str | None:
        return await self.inner.playback_url(key, expires_in=expires_in)


async def test_a_worker_killed_mid_upload_is_resumed_by_another_and_stored_once(
    world: World, s3_store: S3Store, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    await centre(world)
    _, row = await talk_and_hang_up(world)
    stalling = StallingStore(s3_store)
    doomed = asyncio.create_task(work_all(pipeline(world, stalling, tmp_path / "a")))
    await asyncio.wait_for(stalling.started.wait(), 10)
    doomed.cancel()  # killed in the middle of the upload, lease still held
    with pytest.raises(asyncio.CancelledError):
        await doomed
    clock = Clock()
    survivor = pipeline(world, s3_store, tmp_path / "b", clock)

    assert not await survivor.work_one()  # the dead worker's lease still runs
    clock.ahead = timedelta(minutes=6)  # ... and then runs out
    await work_all(survivor)

    stored = await recording_when(world, lambda r: r.status == "stored", "stored")
    objects = s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [o["Key"] for o in objects] == [stored.object_key]
    assert (await job_of(world, row.id)).step == "done"


class CorruptingStore(StallingStore):
    """Reports the wrong checksum for the first upload, as a store that mangled it would."""

    def __init__(self, inner: S3Store) -> None:
        super().__init__(inner)
        self.lies = 1

    async def put(self, key: str, source: Path, **options: Any) -> None:
        await self.inner.put(key, source, **options)

    async def stat(self, key: str) -> StoredObject | None:
        found = await self.inner.stat(key)
        if found is not None and self.lies:
            self.lies -= 1
            return StoredObject(found.key, found.size, "0" * 64, found.content_type)
        return found


async def test_a_checksum_mismatch_is_uploaded_again_and_nothing_is_deleted_before_it_matches(
    world: World, s3_store: S3Store, tmp_path: Path
) -> None:
    await centre(world)
    _, row = await talk_and_hang_up(world)
    clock = Clock()
    worker = pipeline(world, CorruptingStore(s3_store), tmp_path, clock)

    await work_all(worker)
    job = await job_of(world, row.id)
    assert job.step == "upload" and "not what was uploaded" in (job.last_error or "")
    assert row.asterisk_name in world.sim.model.stored
    clock.ahead = timedelta(minutes=1)
    await work_all(worker)

    await recording_when(world, lambda r: r.status == "stored", "stored after the retry")
    assert (await job_of(world, row.id)).payload["mismatches"] == 1


@pytest.mark.parametrize(
    ("route", "queue", "recorded"),
    [("all", None, True), ("none", None, False), ("on_demand", None, False),
     ("all", "none", False), ("none", "all", True)],
)  # fmt: skip
async def test_the_queues_policy_wins_over_the_routes(
    world: World, route: str, queue: str | None, recorded: bool
) -> None:
    await world.add_queue("support", strategy="linear", recording_policy=queue)
    await world.add_agent("dana", "1001", "support")
    await world.add_route("support", recording_policy=route)
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("dana")

    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")

    assert (world.flow.state.calls[call.channel_id].recording is not None) == recorded
    assert ("sound:ledgerline-call-recorded" in call.heard) == recorded


async def test_a_recording_that_ended_while_ledgerline_was_down_goes_to_the_pipeline_after(
    world: World,
) -> None:
    await centre(world)
    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    await world.stop_ledgerline()  # down: RecordingFinished goes unheard
    await call.hangup()
    await asyncio.sleep(0.2)

    await world.start_ledgerline()

    row = await recording_when(world, lambda r: r.status == "pending", "settled after restart")
    assert row.asterisk_name in world.sim.model.stored
    assert (await job_of(world, row.id)).step == "fetch"


async def test_a_recording_the_database_refused_at_its_end_goes_to_the_pipeline_without_a_reconnect(
    world: World,
) -> None:
    await centre(world)
    recorder = world.flow.recorder
    handed, refused = recorder.finished, []

    async def refused_twice(name: str, *, failed: bool = False) -> None:
        if len(refused) < 2:  # as SQLite's busy timeout or PostgreSQL restarting answers
            refused.append(name)
            raise OperationalError("UPDATE recordings", {}, Exception("database is locked"))
        await handed(name, failed=failed)

    settled = recorder.settle
    settles: list[set[str]] = []

    async def settle(live: set[str]) -> None:
        settles.append(live)
        await settled(live)

    recorder.finished = refused_twice  # type: ignore[method-assign]
    recorder.settle = settle  # type: ignore[method-assign]
    recorder.retry_s = (0.01, 0.01, 0.01)

    _, row = await talk_and_hang_up(world)

    assert refused == [row.asterisk_name] * 2
    assert (await job_of(world, row.id)).step == "fetch"
    assert settles == []  # handed over by the retries, not by a reconnect's settle


async def test_a_recording_the_database_keeps_refusing_is_left_for_the_next_connect(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await centre(world)
    recorder = world.flow.recorder
    tries: list[str] = []

    async def refused(name: str, *, failed: bool = False) -> None:
        tries.append(name)
        raise OperationalError("UPDATE recordings", {}, Exception("database is locked"))

    recorder.finished = refused  # type: ignore[method-assign]
    recorder.retry_s = (0.01, 0.01)
    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    await call.hangup()
    await world.until(lambda: "the next ARI connect settles it" in caplog.text, "given up")
    assert len(tries) == 3  # the first try and one for each delay
    await recording_when(world, lambda r: r.status == "recording", "still recording")

    await world.stop_ledgerline()
    await world.start_ledgerline()

    row = await recording_when(world, lambda r: r.status == "pending", "settled after restart")
    assert (await job_of(world, row.id)).step == "fetch"


async def test_recording_starts_as_the_caller_enters_and_pauses_while_they_key_their_pin(
    world: World,
) -> None:
    customer = await make_customer(world.database, world.tenant_id, "C-1", "Dana",
                                   ["+972502345678"])  # fmt: skip
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        await session.execute(
            update(Customer).where(Customer.id == customer).values(pin_hash=hash_pin("2468"))
        )
    await centre(world, verification="pin")
    call = await world.call("0502345678")
    await world.until(lambda: "sound:ledgerline-enter-pin" in call.heard, "asked for the PIN")
    live = world.flow.state.calls[call.channel_id]
    assert live.recording is not None  # recorded from the start, the announcement first
    assert call.heard.index("sound:ledgerline-call-recorded") < call.heard.index(
        "sound:ledgerline-enter-pin"
    )
    await call.press("2468#")
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    await call.hangup()

    row = await recording_when(world, lambda r: r.status == "pending", "queued")
    assert [(p["reason"], p["by"], p["to"] is not None) for p in row.pauses] == [
        ("verification", None, True)
    ]
