"""Several Asterisk nodes: a recording is fetched from (and then deleted on) the node that made
it, whichever process works its job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pbx.ari import AriClient
from pbx.callflow.app import CallFlow
from pbx.db.database import Database
from pbx.db.models import Recording, RecordingJob
from pbx.events.payloads import RecordingStored
from pbx.simulator.ari import AsteriskSimulator
from recordings.ari_source import AriRecordingSources
from recordings.local_store import LocalFolderStore
from recordings.pipeline import PipelineSettings, RecordingPipeline
from tests.callflow.world import FAST, World, make_world


async def no_events(tenant_id: int, stored: RecordingStored) -> None:
    pass


@pytest.fixture
async def two_nodes(database: Database) -> AsyncIterator[tuple[World, World]]:
    """One business served by two Asterisks ("east", "west"), each with its own call flow."""
    east = await make_world(database)
    west_sim = AsteriskSimulator(timing=FAST)
    await west_sim.start()
    west = World(database, west_sim, east.tenant_id, east.agents, east.queues)
    try:
        yield east, west
    finally:
        for world in (east, west):
            while world.flows:
                await world.stop_ledgerline()
            await world.sim.stop()


async def start(world: World, node: str) -> CallFlow:
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    flow = world.new_flow(node=node)
    await flow.start()
    await world.until(lambda: flow.ready, f"{node} in sync with its Asterisk")
    world.flows.append(flow)
    await flow.agent_available(world.agents["dana"])
    return flow


async def record_a_call(world: World) -> Recording:
    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    await asyncio.sleep(0.4)
    await call.hangup()
    found: list[Recording] = []

    async def pending() -> bool:
        async with world.database.tenant_session(world.tenant_id) as session:
            rows = await session.scalars(select(Recording).where(Recording.status == "pending"))
            found[:] = [row for row in rows if row.asterisk_name in world.sim.model.stored]
        return bool(found)

    await world.until_async(pending, "the call's recording queued for the pipeline")
    return found[0]


def sources_for(*worlds: tuple[str, World]) -> AriRecordingSources:
    """What the composition root builds: an ARI client per configured node."""
    clients = {node: AriClient(world.sim.url, "ledgerline", "secret", "ledgerline")
               for node, world in worlds}  # fmt: skip
    return AriRecordingSources(clients, default=worlds[0][0])


async def work_all(pipeline: RecordingPipeline) -> None:
    while await pipeline.work_one():
        pass


async def test_each_recording_is_fetched_from_and_deleted_on_the_node_that_made_it(
    two_nodes: tuple[World, World], tmp_path: Path
) -> None:
    east, west = two_nodes
    await east.add_queue("support", strategy="linear")
    await east.add_agent("dana", "1001", "support")
    await east.add_route("support")
    await start(east, "east")
    await start(west, "west")
    east_row, west_row = await record_a_call(east), await record_a_call(west)
    assert (east_row.node, west_row.node) == ("east", "west")

    # A process of either node works both jobs, with a client for each node from settings.
    sources = sources_for(("east", east), ("west", west))
    pipeline = RecordingPipeline(
        east.database, sources, LocalFolderStore(tmp_path / "store"),
        PipelineSettings(tmp_path / "spool", format="wav"), lambda: east.flow.clock(), no_events,
    )  # fmt: skip
    try:
        await work_all(pipeline)
    finally:
        await sources.close()

    async with east.database.tenant_session(east.tenant_id) as session:
        rows = {row.id: row for row in await session.scalars(select(Recording))}
    assert rows[east_row.id].status == rows[west_row.id].status == "stored"
    assert east_row.asterisk_name not in east.sim.model.stored
    assert west_row.asterisk_name not in west.sim.model.stored


async def test_a_recording_on_a_node_this_process_cannot_reach_waits_for_one_that_can(
    two_nodes: tuple[World, World], tmp_path: Path
) -> None:
    east, west = two_nodes
    await east.add_queue("support", strategy="linear")
    await east.add_agent("dana", "1001", "support")
    await east.add_route("support")
    await start(west, "west")
    west_row = await record_a_call(west)
    ahead = timedelta()
    settings = PipelineSettings(tmp_path / "spool", format="wav")
    store = LocalFolderStore(tmp_path / "store")

    east_only = sources_for(("east", east))  # west is missing from this process's settings
    try:
        await work_all(RecordingPipeline(east.database, east_only, store, settings,
                                         lambda: datetime.now(UTC) + ahead, no_events))  # fmt: skip
    finally:
        await east_only.close()
    async with east.database.system_session() as session:
        job = await session.scalar(
            select(RecordingJob).where(RecordingJob.recording_id == west_row.id)
        )
    assert job is not None and job.step == "fetch" and "'west'" in (job.last_error or "")
    assert west_row.asterisk_name in west.sim.model.stored

    ahead = timedelta(minutes=10)  # past the back-off
    both = sources_for(("east", east), ("west", west))
    try:
        await work_all(RecordingPipeline(east.database, both, store, settings,
                                         lambda: datetime.now(UTC) + ahead, no_events))  # fmt: skip
    finally:
        await both.close()
    async with east.database.tenant_session(east.tenant_id) as session:
        stored = await session.get(Recording, west_row.id)
    assert stored is not None and stored.status == "stored"
    assert west_row.asterisk_name not in west.sim.model.stored
