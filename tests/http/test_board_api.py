"""The wall board's data: `GET /api/v1/board` for a business's supervisors and admins only,
and the board's tiles pushed to their desks' sockets as calls and agents move, never to an
agent's socket and never into another business's events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pbx.db.models import AuditEntry, Queue, User
from pbx.events.hub import Subscriber
from pbx.events.log import Entry
from pbx.events.model import Audience, DeskEvent, Viewer
from pbx.events.payloads import AgentState
from pbx.reports.board_feed import BoardFeed
from tests.factories import make_tenant
from tests.http.conftest import Site
from tests.http.support import ApiClient


@pytest.fixture
async def feed(site: Site) -> AsyncIterator[BoardFeed]:
    assert site.context.hub is not None and site.context.desk is not None
    board = BoardFeed(site.context.hub, site.world.database, site.context.desk,
                      lambda: datetime.now(UTC))  # fmt: skip
    board.start()
    yield board
    await board.stop()


async def _other_business(site: Site) -> int:
    """Kaunas, with a queue of its own."""
    database = site.world.database
    other = await make_tenant(database, "kaunas", "LT", "EUR", ["+37037200000"],
                              timezone="Europe/Vilnius")  # fmt: skip
    async with database.tenant_session(other) as session, session.begin():
        session.add(Queue(name="kaunas-support", strategy="linear"))
    await site.world.flow.reload_config()
    return other


async def _user_id(site: Site, name: str) -> int:
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        found = await session.scalar(select(User.id).where(User.username == name))
    assert found is not None
    return found


def _drain(subscriber: Subscriber, into: list[Entry]) -> list[Entry]:
    while not subscriber.queue.empty():
        into.append(subscriber.queue.get_nowait())
    return into


async def test_an_agent_gets_403_and_a_supervisor_sees_only_their_business_s_queues(
    site: Site, desk: dict[str, ApiClient]
) -> None:
    await _other_business(site)

    status, _ = await desk["avi"].call("GET", "/board")
    assert status == 403

    status, board = await desk["sam"].call("GET", "/board")
    assert status == 200
    assert [tile["name"] for tile in board["tiles"]] == ["support"]
    (tile,) = board["tiles"]
    assert (tile["waiting"], tile["offered"], tile["service_level_pct"]) == (0, 0, None)
    assert tile["status"] == "ok" and board["total"]["collected"] == {}


async def test_a_queued_caller_and_their_abandon_reach_the_supervisors_board_and_no_one_else(
    site: Site, desk: dict[str, ApiClient], feed: BoardFeed
) -> None:
    world, hub = site.world, site.context.hub
    assert hub is not None
    other = await _other_business(site)
    avi, sam = int(world.agents["avi"]), await _user_id(site, "sam")
    supervisor = Subscriber(Viewer(sam, world.tenant_id, True))
    agent = Subscriber(Viewer(avi, world.tenant_id, False))
    elsewhere = Subscriber(Viewer(1, other, True))
    for subscriber in (supervisor, agent, elsewhere):
        await hub.attach(subscriber)
    seen: list[Entry] = []

    def tile_with(**figures: int) -> bool:
        tiles = [e.data for _, e in _drain(supervisor, seen) if e.type == "board.tile"]
        return any(all(t[k] == v for k, v in figures.items()) for t in tiles)

    call = await world.call("0502345678")  # nobody is available: the caller waits
    await world.until(lambda: tile_with(waiting=1), "a tile with the caller waiting")
    await call.hangup()
    await world.until(lambda: tile_with(waiting=0, abandoned=1, offered=1),
                      "a tile with the abandon counted")  # fmt: skip
    assert any(e.type == "board.total" for _, e in seen)

    # The agent's socket: its own event, published after, arrives with no board before it.
    marker = AgentState(tenant_id=world.tenant_id, agent_id=avi, state="paused",
                        pause_reason="marker", since=None, call_id=None)  # fmt: skip
    await hub.publish(DeskEvent.of(world.tenant_id, Audience((avi,)), marker))
    got: list[Entry] = []
    await world.until(lambda: any(e.data.get("pause_reason") == "marker"
                                  for _, e in _drain(agent, got)), "the marker")  # fmt: skip
    assert not [e for _, e in got if e.type.startswith("board.")]
    other_log = await hub.events.after(other, "0-0", 500)
    assert not [e for _, e in other_log.entries if e.type.startswith("board.")]
    for subscriber in (supervisor, agent, elsewhere):
        await hub.detach(subscriber)


async def test_an_admin_sets_a_queue_s_board_thresholds_audited_and_the_board_shows_them(
    site: Site, desk: dict[str, ApiClient], admin: ApiClient
) -> None:
    queue = f"/queues/{site.world.queues['support']}"
    _, settings = await admin.call("GET", queue)
    settings.pop("id")
    for wrong, field in [
        ({"board_wait_amber_seconds": 40, "board_wait_red_seconds": 30}, "board_wait_red_seconds"),
        ({"board_service_level_amber_pct": 70, "board_service_level_red_pct": 80},
         "board_service_level_red_pct"),
        ({"board_wait_amber_seconds": "30"}, "board_wait_amber_seconds"),
        ({"board_wait_red_seconds": 10**20}, "board_wait_red_seconds"),
        ({"board_service_level_amber_pct": 101}, "board_service_level_amber_pct"),
        ({"board_service_level_red_pct": 50.5}, "board_service_level_red_pct"),
    ]:  # fmt: skip
        status, error = await admin.call("PUT", queue, settings | wrong)
        assert status == 422 and field in [d["field"] for d in error["error"]["details"]], wrong
    assert (await admin.call("GET", queue))[1]["board_wait_amber_seconds"] is None

    own = {"board_wait_amber_seconds": 30, "board_wait_red_seconds": 45,
           "board_service_level_amber_pct": 90, "board_service_level_red_pct": 90}  # fmt: skip
    status, updated = await admin.call("PUT", queue, settings | own)
    assert status == 200 and updated | own == updated

    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "queue.update"))
    assert entry is not None and entry.actor_label == "admin:boss"
    assert entry.details["before"]["board_wait_red_seconds"] is None
    assert entry.details["after"]["board_wait_red_seconds"] == 45
    status, board = await desk["sam"].call("GET", "/board")
    (tile,) = board["tiles"]
    assert (tile["wait_amber_seconds"], tile["wait_red_seconds"], tile["service_level_amber_pct"],
            tile["service_level_red_pct"]) == (30, 45, 90, 90)  # fmt: skip
