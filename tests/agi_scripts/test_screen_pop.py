"""`agi://…/screen-pop` from app_queue's connect routine pops the agent's desk, for a caller
that caller-lookup vouched for and for nobody else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from agi_scripts.fastagi.server import FastAGIServer
from agi_scripts.handlers.screen_pop import screen_pop
from agi_scripts.pop_token import TOKEN_TTL, PopTokens, VouchedCaller
from pbx.callflow.calls import FlowCall
from pbx.callflow.config import FlowConfig
from pbx.callflow.executor import call_view
from pbx.db.database import Database
from pbx.db.models import User
from pbx.events.hub import Hub, Subscriber
from pbx.events.log import MemoryEventLog
from pbx.events.model import Viewer
from pbx.events.publisher import DeskPublisher
from pbx.simulator.fastagi_peer import AgiCallRecord, run_fastagi_call
from tests.agi_scripts.conftest import NOW, TEL_AVIV_DID

CALLER = "1795430000.42"  # the caller's channel, which caller-lookup ran on
# What the ARI call flow's pop says of a call (pbx.callflow.executor.call_view).
CALL_VIEW = call_view(FlowCall(CALLER, 1, 1, CALLER), FlowConfig(), NOW)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    hub = Hub(MemoryEventLog(100), wait_s=0.2)
    yield hub
    await hub.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def pop_server(
    database: Database, hub: Hub, pop_tokens: PopTokens, clock: Clock
) -> AsyncIterator[FastAGIServer]:
    handler = screen_pop(DeskPublisher(hub, database, clock), clock, pop_tokens)
    server = FastAGIServer({"screen-pop": handler}, host="127.0.0.1", port=0,
                           idle_timeout=2.0, max_sessions=10)  # fmt: skip
    await server.start()
    yield server
    await server.stop()


async def add_agent(database: Database, tenant_id: int, name: str, endpoint: str) -> int:
    async with database.tenant_session(tenant_id) as session, session.begin():
        agent = User(username=name, display_name=name.title(), role="agent", endpoint=endpoint)
        session.add(agent)
        await session.flush()
        return agent.id


async def desk_of(hub: Hub, agent_id: int, tenant_id: int) -> Subscriber:
    desk = Subscriber(Viewer(agent_id, tenant_id, supervisor=False))
    await hub.attach(desk)
    return desk


async def look_up(agi_server: FastAGIServer, callerid: str = "0502345678") -> dict[str, str]:
    """caller-lookup on the caller's channel, as the inbound dialplan runs it."""
    record = await run_fastagi_call(
        "127.0.0.1", agi_server.port, "caller-lookup", callerid=callerid, args=(TEL_AVIV_DID,),
        uniqueid=CALLER,
    )  # fmt: skip
    return record.variables


async def pop(pop_server: FastAGIServer, *args: str) -> AgiCallRecord:
    """screen-pop on the agent's channel, as `[ledgerline-screen-pop]` runs it."""
    return await run_fastagi_call("127.0.0.1", pop_server.port, "screen-pop",
                                  callerid="0502345678", channel="PJSIP/1001-00000007",
                                  args=args)  # fmt: skip


async def test_the_agent_ringing_for_the_call_gets_the_pop(
    database: Database, hub: Hub, agi_server: FastAGIServer, pop_server: FastAGIServer,
    customers: dict[str, int],
) -> None:  # fmt: skip
    agent = await add_agent(database, customers["il"], "avi", "PJSIP/1001")
    desk = await desk_of(hub, agent, customers["il"])
    found = await look_up(agi_server)

    record = await pop(pop_server, "PJSIP/1001", CALLER, found["LL_CUSTOMER_ID"],
                       found["LL_POP_TOKEN"])  # fmt: skip

    assert record.variables["LL_POP"] == "sent"
    _, event = await asyncio.wait_for(desk.queue.get(), 5)
    assert event.type == "call.offered" and event.data["call_id"] == CALLER
    assert event.data["caller_number"] == "+972502345678"
    assert event.data["panel"]["accounts"][0]["balance_minor"] == 45_050
    await hub.detach(desk)


async def test_the_agi_pop_has_the_shape_of_the_call_flow_s_pop(
    database: Database, hub: Hub, agi_server: FastAGIServer, pop_server: FastAGIServer,
    customers: dict[str, int],
) -> None:  # fmt: skip
    agent = await add_agent(database, customers["il"], "avi", "PJSIP/1001")
    desk = await desk_of(hub, agent, customers["il"])
    found = await look_up(agi_server)

    await pop(pop_server, "PJSIP/1001", CALLER, found["LL_CUSTOMER_ID"], found["LL_POP_TOKEN"])

    _, event = await asyncio.wait_for(desk.queue.get(), 5)
    assert set(event.data) == set(CALL_VIEW) | {"panel"}
    assert (event.data["match"], event.data["customer_id"]) == ("unique", customers["sara"])
    assert event.data["record_id"] is None  # app_queue's call: Ledgerline logs none
    await hub.detach(desk)


async def test_a_customer_of_another_business_pops_as_an_unknown_caller(
    database: Database, hub: Hub, pop_server: FastAGIServer, pop_tokens: PopTokens,
    customers: dict[str, int],
) -> None:  # fmt: skip
    agent = await add_agent(database, customers["il"], "avi", "PJSIP/1001")
    desk = await desk_of(hub, agent, customers["il"])
    theirs = customers["zygis"]  # a customer of the Vilnius business
    token = await pop_tokens.issue(VouchedCaller(customers["il"], CALLER, theirs), NOW)

    await pop(pop_server, "PJSIP/1001", CALLER, str(theirs), token)

    _, event = await asyncio.wait_for(desk.queue.get(), 5)
    assert (event.data["match"], event.data["customer_id"], event.data["panel"]) == (
        "none", None, None
    )
    await hub.detach(desk)


async def test_an_endpoint_no_agent_has_is_answered_not_crashed(
    agi_server: FastAGIServer, pop_server: FastAGIServer, customers: dict[str, int]
) -> None:
    found = await look_up(agi_server)
    record = await pop(pop_server, "PJSIP/9999", CALLER, found["LL_CUSTOMER_ID"],
                       found["LL_POP_TOKEN"])  # fmt: skip
    assert record.variables["LL_POP"] == "unknown-agent"


@pytest.mark.parametrize("token", ["", "1.9999999999.0123456789abcdef0123456789abcdef", "x"])
async def test_a_pop_without_a_token_from_caller_lookup_pops_nothing_and_says_so(
    database: Database, hub: Hub, pop_server: FastAGIServer, customers: dict[str, int],
    token: str, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    agent = await add_agent(database, customers["il"], "avi", "PJSIP/1001")
    desk = await desk_of(hub, agent, customers["il"])

    record = await pop(pop_server, "PJSIP/1001", CALLER, str(customers["sara"]), token)

    assert record.variables == {"LL_ERROR": "unverified-caller"}
    assert desk.queue.empty() and pop_server.sessions_failed == 1
    assert not [r for r in caplog.records if r.exc_info]
    await hub.detach(desk)


async def test_a_token_vouches_only_for_its_caller_and_the_customer_the_lookup_found(
    database: Database, hub: Hub, agi_server: FastAGIServer, pop_server: FastAGIServer,
    customers: dict[str, int],
) -> None:  # fmt: skip
    agent = await add_agent(database, customers["il"], "avi", "PJSIP/1001")
    desk = await desk_of(hub, agent, customers["il"])
    token = (await look_up(agi_server))["LL_POP_TOKEN"]
    other_customer = str(customers["zygis"])

    another_caller = await pop(pop_server, "PJSIP/1001", "1795430000.43", str(customers["sara"]),
                               token)  # fmt: skip
    another_customer = await pop(pop_server, "PJSIP/1001", CALLER, other_customer, token)

    assert another_caller.variables == another_customer.variables == {
        "LL_ERROR": "unverified-caller"
    }
    assert desk.queue.empty()
    await hub.detach(desk)


async def test_an_expired_token_pops_nothing(
    database: Database, hub: Hub, agi_server: FastAGIServer, pop_server: FastAGIServer,
    customers: dict[str, int], clock: Clock,
) -> None:  # fmt: skip
    await add_agent(database, customers["il"], "avi", "PJSIP/1001")
    found = await look_up(agi_server)
    clock.now = NOW + TOKEN_TTL + timedelta(seconds=1)

    record = await pop(pop_server, "PJSIP/1001", CALLER, found["LL_CUSTOMER_ID"],
                       found["LL_POP_TOKEN"])  # fmt: skip

    assert record.variables == {"LL_ERROR": "unverified-caller"}


async def test_a_pop_reaches_only_the_vouching_business_s_agent_on_a_shared_endpoint_name(
    database: Database, hub: Hub, agi_server: FastAGIServer, pop_server: FastAGIServer,
    customers: dict[str, int],
) -> None:  # fmt: skip
    ours = await add_agent(database, customers["il"], "avi", "PJSIP/1001")
    theirs = await add_agent(database, customers["lt"], "jonas", "PJSIP/1001")
    our_desk = await desk_of(hub, ours, customers["il"])
    their_desk = await desk_of(hub, theirs, customers["lt"])
    found = await look_up(agi_server)

    record = await pop(pop_server, "PJSIP/1001", CALLER, found["LL_CUSTOMER_ID"],
                       found["LL_POP_TOKEN"])  # fmt: skip

    assert record.variables["LL_POP"] == "sent"
    await asyncio.wait_for(our_desk.queue.get(), 5)
    assert their_desk.queue.empty()
    await hub.detach(our_desk)
    await hub.detach(their_desk)


@pytest.mark.parametrize(
    "args",
    [
        ("PJSIP/1001", CALLER, "²", "t"),  # a digit to str.isdigit(), not to int()
        ("PJSIP/1001", CALLER, "7" * 5000, "t"),  # past int()'s 4,300-digit cap
        ("PJSIP/1001", CALLER, "-5", "t"),
        ("PJSIP/1001", CALLER, "9" * 19, "t"),  # beyond a 64-bit id
        ("PJSIP/1001", "", "", "t"),
        ("PJSIP/1001", "1.1; DROP", "", "t"),
        ("not an interface", CALLER, "", "t"),
        ("PJSIP/1001", CALLER, "", "t", "fifth"),
    ],
)
async def test_malformed_arguments_are_told_to_the_dialplan_and_logged_once_without_a_traceback(
    pop_server: FastAGIServer, customers: dict[str, int], args: tuple[str, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO)
    record = await pop(pop_server, *args)

    assert record.variables == {"LL_ERROR": "bad-request"}
    assert record.server_closed
    assert pop_server.counters()["sessions_failed"] == 1
    assert not [r for r in caplog.records if r.exc_info]
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "screen-pop" in warning.getMessage() and len(warning.getMessage()) < 300
