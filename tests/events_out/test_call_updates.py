"""What changes on a call after it ended reaches the billing system as `call.updated` (the
same call object, as it is then): a disposition or notes set at wrap-up, and the call's
recording once it is stored; each in the change's own transaction, never for a save that
changes nothing, and never before the call has ended (then `call.ended` carries it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from billing_bridge.events import EVENT_TYPES, changes
from pbx.auth.roles import Principal, Role
from pbx.callflow.call_log import CallLog
from pbx.calls.errors import Forbidden
from pbx.calls.log import Disposition, set_disposition
from pbx.db.database import Database
from pbx.db.models import BillingEvent, Call, Recording, User
from pbx.events.payloads import RecordingStored
from recordings.ari_source import AriRecordingSources
from recordings.local_store import LocalFolderStore
from recordings.pipeline import PipelineSettings, RecordingPipeline
from tests.callflow.world import World
from tests.events_out.support import Business, business, events_of

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_call_updated_is_a_type_subscriptions_can_choose() -> None:
    assert "call.updated" in EVENT_TYPES


async def _agent(database: Database, shop: Business, name: str = "dana") -> Principal:
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        user = User(username=name, display_name=name.title(), role="agent")
        session.add(user)
        await session.flush()
        return Principal(user.id, shop.tenant_id, name, Role.AGENT)


async def _answered_call(database: Database, shop: Business, agent: Principal) -> int:
    log = CallLog(database)
    call_id = await log.open(
        shop.tenant_id, channel_id="1796186364.7", caller_raw="0502345678",
        caller_number="+972502345678", dialed_number="+97237630100", match="unique",
        customer_id=shop.customer_id, priority=0, arrived_at=T0,
    )  # fmt: skip
    await log.update(shop.tenant_id, call_id, agent_id=agent.user_id,
                     answered_at=T0 + timedelta(seconds=20))  # fmt: skip
    return call_id


async def _end(database: Database, shop: Business, call_id: int) -> None:
    await CallLog(database).update(shop.tenant_id, call_id, ended_at=T0 + timedelta(minutes=3),
                                   outcome="answered", talk_seconds=160)  # fmt: skip


async def test_a_disposition_set_after_the_end_is_call_updated_with_the_call_as_it_is_then(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    dana = await _agent(database, shop)
    call_id = await _answered_call(database, shop, dana)
    await _end(database, shop, call_id)

    await set_disposition(database, dana, Disposition(call_id, "resolved", "paid in full"))

    ended, updated = await events_of(database, shop.tenant_id)
    assert (ended.type, updated.type) == ("call.ended", "call.updated")
    assert ended.data["disposition"] is None and ended.data["notes"] is None
    assert (updated.data["id"], updated.data["disposition"], updated.data["notes"]) == (
        call_id, "resolved", "paid in full")  # fmt: skip
    assert updated.data["outcome"] == "answered" and updated.data["agent"] == "dana"
    assert set(updated.data) == set(ended.data)  # the same object


async def test_saving_the_same_disposition_again_tells_the_billing_system_nothing(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    dana = await _agent(database, shop)
    call_id = await _answered_call(database, shop, dana)
    await _end(database, shop, call_id)
    await set_disposition(database, dana, Disposition(call_id, "resolved", "paid"))

    await set_disposition(database, dana, Disposition(call_id, "resolved", "paid"))
    await set_disposition(database, dana, Disposition(call_id, "resolved", "paid, thanked"))

    types = [(e.type, e.data["notes"]) for e in await events_of(database, shop.tenant_id)]
    assert types == [("call.ended", None), ("call.updated", "paid"),
                     ("call.updated", "paid, thanked")]  # fmt: skip


async def test_a_disposition_set_before_the_end_is_carried_by_call_ended_alone(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    dana = await _agent(database, shop)
    call_id = await _answered_call(database, shop, dana)

    await set_disposition(database, dana, Disposition(call_id, "callback", None))
    await _end(database, shop, call_id)

    [ended] = await events_of(database, shop.tenant_id)
    assert (ended.type, ended.data["disposition"]) == ("call.ended", "callback")


async def test_a_refused_disposition_changes_nothing_and_tells_nothing(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    dana = await _agent(database, shop)
    avi = await _agent(database, shop, "avi")
    call_id = await _answered_call(database, shop, dana)
    await _end(database, shop, call_id)

    with pytest.raises(Forbidden):
        await set_disposition(database, avi, Disposition(call_id, "resolved", None))

    assert [e.type for e in await events_of(database, shop.tenant_id)] == ["call.ended"]


async def test_the_disposition_and_its_event_are_one_transaction(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    dana = await _agent(database, shop)
    call_id = await _answered_call(database, shop, dana)
    await _end(database, shop, call_id)

    async def fails(*args: object) -> None:
        raise RuntimeError("the event could not be written")

    monkeypatch.setattr(changes, "call_updated", fails)
    with pytest.raises(RuntimeError):
        await set_disposition(database, dana, Disposition(call_id, "resolved", None))

    async with database.tenant_session(shop.tenant_id) as session:
        call = await session.get(Call, call_id)
    assert call is not None and call.disposition is None


# --- the recording, stored by the pipeline after the call ended ----------------------------


class Clock:
    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


async def _published(tenant_id: int, stored: RecordingStored) -> None:
    return None


async def _recorded_call(world: World) -> Recording:
    """A call to agent dana, recorded, hung up: its recording queued for the pipeline."""
    await world.add_queue("support", strategy="linear")
    await world.add_agent("dana", "1001", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline()
    await world.login("dana")
    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    await asyncio.sleep(0.3)  # some talk to record
    await call.hangup()
    found: list[Recording] = []

    async def queued() -> bool:
        async with world.database.tenant_session(world.tenant_id) as session:
            found[:] = list(await session.scalars(
                select(Recording).where(Recording.status == "pending")
            ))  # fmt: skip
        return bool(found)

    await world.until_async(queued, "queued for the pipeline")
    return found[0]


def _pipeline(world: World, tmp_path: Path, clock: Clock) -> RecordingPipeline:
    return RecordingPipeline(
        world.database, AriRecordingSources.single(world.flow.snapshots.node, world.flow.client),
        LocalFolderStore(tmp_path / "store"), PipelineSettings(tmp_path / "spool"), clock,
        _published,
    )  # fmt: skip


async def _call_events(world: World) -> list[BillingEvent]:
    events = await events_of(world.database, world.tenant_id)
    return [event for event in events if event.type.startswith("call.")]


async def test_the_recording_stored_after_the_end_is_call_updated_with_its_id_and_status(
    world: World, tmp_path: Path
) -> None:
    recording = await _recorded_call(world)
    worker = _pipeline(world, tmp_path, Clock())

    while await worker.work_one():
        pass

    ended, updated = await _call_events(world)
    assert (ended.type, updated.type) == ("call.ended", "call.updated")
    # At the end, Asterisk is still closing the file, or it is queued: not stored yet.
    assert ended.data["recording_id"] == recording.id
    assert ended.data["recording_status"] in ("recording", "finishing", "pending")
    assert (updated.data["recording_id"], updated.data["recording_status"]) == (
        recording.id, "stored")  # fmt: skip
    assert updated.data["id"] == recording.call_id


async def test_an_index_step_run_again_after_a_crash_tells_the_billing_system_once(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = await _recorded_call(world)
    clock = Clock()
    worker = _pipeline(world, tmp_path, clock)
    advance = worker.jobs.advance

    async def dies_after_indexing(job: Any, step: str, *args: Any, **kwargs: Any) -> Any:
        if step == "publish":
            raise ConnectionError("the process died after the index committed")
        return await advance(job, step, *args, **kwargs)

    monkeypatch.setattr(worker.jobs, "advance", dies_after_indexing)
    with pytest.raises(ConnectionError):
        await worker.work_one()
    monkeypatch.setattr(worker.jobs, "advance", advance)
    clock.ahead = timedelta(hours=1)  # past the dead worker's lease
    while await worker.work_one():
        pass

    async with world.database.tenant_session(world.tenant_id) as session:
        status = await session.scalar(select(Recording.status).where(Recording.id == recording.id))
    assert status == "stored"
    assert [e.type for e in await _call_events(world)] == ["call.ended", "call.updated"]


async def test_a_recording_whose_event_cannot_be_written_is_not_stored_either(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = await _recorded_call(world)

    async def fails(*args: object) -> None:
        raise RuntimeError("the event could not be written")

    monkeypatch.setattr(changes, "call_recording_stored", fails)
    with pytest.raises(RuntimeError):
        await _pipeline(world, tmp_path, Clock()).work_one()

    async with world.database.tenant_session(world.tenant_id) as session:
        status = await session.scalar(select(Recording.status).where(Recording.id == recording.id))
    assert status == "pending"
    assert [e.type for e in await _call_events(world)] == ["call.ended"]
