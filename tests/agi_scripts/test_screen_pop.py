"""`agi://…/screen-pop` from app_queue's connect routine pops the agent's desk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from agi_scripts.fastagi.server import FastAGIServer
from agi_scripts.handlers.screen_pop import screen_pop
from pbx.db.database import Database
from pbx.db.models import User
from pbx.events.hub import Hub, Subscriber
from pbx.events.log import MemoryEventLog
from pbx.events.model import Viewer
from pbx.simulator.fastagi_peer import run_fastagi_call


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    hub = Hub(MemoryEventLog(100), wait_s=0.2)
    yield hub
    await hub.close()


@pytest.fixture
async def pop_server(database: Database, hub: Hub) -> AsyncIterator[FastAGIServer]:
    handler = screen_pop(database, hub, lambda: datetime(2026, 11, 23, tzinfo=UTC))
    server = FastAGIServer({"screen-pop": handler}, host="127.0.0.1", port=0,
                           idle_timeout=2.0, max_sessions=10)  # fmt: skip
    await server.start()
    yield server
    await server.stop()


async def test_the_agent_ringing_for_the_call_gets_the_pop(
    database: Database, hub: Hub, pop_server: FastAGIServer, customers: dict[str, int]
) -> None:
    async with database.tenant_session(customers["il"]) as session, session.begin():
        agent = User(username="avi", display_name="Avi", role="agent", endpoint="PJSIP/1001")
        session.add(agent)
        await session.flush()
    desk = Subscriber(Viewer(agent.id, customers["il"], supervisor=False))
    await hub.attach(desk)

    record = await run_fastagi_call(
        "127.0.0.1", pop_server.port, "screen-pop", callerid="0502345678",
        channel="PJSIP/1001-00000007", args=("PJSIP/1001", "1795430000.42", str(customers["sara"])),
    )  # fmt: skip

    assert record.variables["LL_POP"] == "sent"
    _, event = await asyncio.wait_for(desk.queue.get(), 5)
    assert event.type == "call.offered" and event.data["call_id"] == "1795430000.42"
    assert event.data["caller_number"] == "+972502345678"
    assert event.data["panel"]["accounts"][0]["balance_minor"] == 45_050
    await hub.detach(desk)


async def test_an_endpoint_no_agent_has_is_answered_not_crashed(
    pop_server: FastAGIServer, customers: dict[str, int]
) -> None:
    record = await run_fastagi_call("127.0.0.1", pop_server.port, "screen-pop",
                                    args=("PJSIP/9999", "1.1", ""))  # fmt: skip
    assert record.variables["LL_POP"] == "unknown-agent"
