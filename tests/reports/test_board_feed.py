"""The board feed: one reading of a business's board at a time, the changes that come while
it reads folded into one more, and no reading for events that do not move the board or
while no supervisor of the business is connected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from pbx.db.database import Database
from pbx.desk.commands import Actor, Command
from pbx.desk.results import QueueStat, QueueStatList
from pbx.events.hub import Hub, Subscriber
from pbx.events.log import MemoryEventLog
from pbx.events.model import Audience, DeskEvent, Viewer
from pbx.reports.board_feed import BoardFeed
from tests.events.samples import sample
from tests.factories import make_tenant


class GatedDesk:
    """The desk's live queues, each reading held until the test lets it through."""

    def __init__(self) -> None:
        self.readings = 0
        self.gate = asyncio.Event()
        self.reading = asyncio.Event()

    async def run(self, command: Command, actor: Actor) -> QueueStatList:
        self.readings += 1
        self.reading.set()
        await self.gate.wait()
        return QueueStatList((QueueStat(1, "support", self.readings, 0, {"available": 1}),))


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    events = Hub(MemoryEventLog(retention=100), wait_s=0.2)
    yield events
    await events.close()


async def _published(hub: Hub, tenant: int) -> list[DeskEvent]:
    page = await hub.events.after(tenant, "", 100)
    return [event for _, event in page.entries if event.type.startswith("board.")]


async def test_changes_during_a_reading_are_folded_into_one_more_reading(
    database: Database, hub: Hub
) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    desk = GatedDesk()
    feed = BoardFeed(hub, database, desk, lambda: datetime.now(UTC))

    feed.changed(tenant)
    await desk.reading.wait()
    feed.changed(tenant)
    feed.changed(tenant)  # both while the first reading waits: one more reading for them
    desk.gate.set()
    reading = feed.reading(tenant)
    assert reading is not None
    await reading

    assert desk.readings == 2
    published = await _published(hub, tenant)
    assert [e.type for e in published] == ["board.tile", "board.total"] * 2
    assert published[-2].data["waiting"] == 2  # the second reading is the one shown last
    assert all(e.audience == Audience(supervisors=True) for e in published)


async def test_the_board_is_read_only_for_what_moves_it_and_a_supervisor_to_see_it(
    database: Database, hub: Hub
) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    desk = GatedDesk()
    desk.gate.set()
    feed = BoardFeed(hub, database, desk, lambda: datetime.now(UTC))
    agent = Subscriber(Viewer(7, tenant, False))
    await hub.attach(agent)

    feed.seen(tenant, sample("call.offered", tenant, Audience((7,))))  # no supervisor here
    supervisor = Subscriber(Viewer(8, tenant, True))
    await hub.attach(supervisor)
    feed.seen(tenant, sample("recording.stored", tenant, Audience((7,))))  # moves nothing
    assert desk.readings == 0 and feed.reading(tenant) is None

    feed.seen(tenant, sample("agent.state", tenant, Audience((7,), supervisors=True)))
    reading = feed.reading(tenant)
    assert reading is not None
    await reading
    assert desk.readings == 1
    await hub.detach(agent)
    await hub.detach(supervisor)
