"""The desk's WebSocket: authenticated handshakes, screen-pops to the right agent, call and
agent events, replay after a reconnect, supervisors' queues, and fan-out across processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from datetime import date
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from pbx.db.models import Queue, QueueMember
from pbx.events.hub import Hub
from pbx.events.log import RedisEventLog
from pbx.events.model import Audience, DeskEvent, id_key
from pbx.events.payloads import AgentState, CallOffered
from pbx.http import desk_socket as desk_socket_module
from tests.callflow.world import WAIT_S
from tests.conftest import REDIS_TEST_URL
from tests.events.samples import SAMPLES, sample
from tests.factories import make_customer, make_tenant
from tests.http.conftest import PASSWORD, Site, start_site

OFFERED = SAMPLES["call.offered"][0]
assert isinstance(OFFERED, CallOffered)
RINGING = replace(SAMPLES["agent.state"][0], state="ringing")
assert isinstance(RINGING, AgentState)


class Desk:
    """A browser's socket, as a test sees it. It reads all the time, as a browser does, so
    it answers the server's pings however long the test looks elsewhere (read only when the
    test asked for a message, a desk was closed as dead when a busy machine made the test's
    other steps outlast the heartbeat)."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse, http: aiohttp.ClientSession):
        self.socket, self.http = socket, http
        self.texts: list[str] = []  # every message as it came, in order
        self.seen: list[dict[str, Any]] = []  # ... and decoded
        self.ended: aiohttp.WSMessage | None = None  # the close (or error) that ended it
        self._read = 0
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        while self.ended is None:
            message = await self.socket.receive()  # answers pings as it reads
            if message.type is aiohttp.WSMsgType.TEXT:
                self.texts.append(message.data)
                self.seen.append(json.loads(message.data))
            else:
                self.ended = message
            self._arrived.set()

    async def next(self, type_: str, within: float = WAIT_S) -> dict[str, Any]:
        """The next unread message of this type (those of other types before it are passed)."""
        async with asyncio.timeout(within):
            while True:
                while self._read < len(self.seen):
                    event = self.seen[self._read]
                    self._read += 1
                    if event["type"] == type_:
                        return event
                await self._wait()

    async def next_text(self, within: float = WAIT_S) -> str:
        """The next unread message as it came, whatever its type (but the hello)."""
        async with asyncio.timeout(within):
            while True:
                while self._read < len(self.texts):
                    self._read += 1
                    if self.seen[self._read - 1]["type"] != "hello":
                        return self.texts[self._read - 1]
                await self._wait()

    async def _wait(self) -> None:
        assert self.ended is None, f"the socket ended: {self.ended}"
        await self._wait_any()

    async def _wait_any(self) -> None:
        """Until a message arrives or the socket ends."""
        self._arrived.clear()
        await self._arrived.wait()

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.socket.close()
        await self.http.close()


async def token_for(site: Site, username: str) -> str:
    api = site.client()
    try:
        return (await api.login("ofek", username, PASSWORD))["token"]
    finally:
        await api.close()


async def open_desk(url: str, token: str, **params: str) -> Desk:
    http = aiohttp.ClientSession()
    socket = await http.ws_connect(url + "/api/v1/ws", params=params,
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    desk = Desk(socket, http)
    await desk.next("hello")
    desk._read = 0  # what was replayed before the hello is still to be read
    return desk


@pytest.fixture
async def centre(site: Site) -> dict[str, int]:
    world = site.world
    overdue = {"amount_minor": 45_050, "due_on": date(2026, 10, 1)}
    account = {"currency": "ILS", "balance_minor": 45_050, "status": "overdue",
               "invoices": [overdue]}  # fmt: skip
    phones = ["+972502345678"]
    await make_customer(world.database, world.tenant_id, "C-1", "שרה כהן", phones, [account])
    await world.add_queue("support", strategy="ringall")
    avi = await site.user("avi", "agent", endpoint="PJSIP/1001")
    bella = await site.user("bella", "agent", endpoint="PJSIP/1002")
    sam = await site.user("sam", "supervisor")
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        session.add(QueueMember(queue_id=world.queues["support"], user_id=avi))
    await world.add_route("support")
    world.agents.update(avi=str(avi), bella=str(bella))
    world.sim.agent("PJSIP/1001", answer_after=1.0)
    await world.flow.reload_config()
    await world.flow.agent_available(str(avi))
    return {"avi": avi, "bella": bella, "sam": sam}


async def test_no_session_and_a_foreign_origin_get_no_socket(site: Site, centre) -> None:
    token = await token_for(site, "avi")
    async with aiohttp.ClientSession() as http:
        for headers, status in (({}, 401), ({"Authorization": "Bearer forged"}, 401),
                                ({"Authorization": f"Bearer {token}",
                                  "Origin": "https://evil.example"}, 403)):  # fmt: skip
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(site.url + "/api/v1/ws", headers=headers)
            assert refused.value.status == status


async def test_the_offered_agent_gets_the_screen_pop_while_it_rings(site: Site, centre) -> None:
    avi = await open_desk(site.url, await token_for(site, "avi"))
    bella = await open_desk(site.url, await token_for(site, "bella"))
    try:
        call = await site.world.call("0502345678")

        pop = await avi.next("call.offered")
        data = pop["data"]
        assert data["caller_number"] == "+972502345678" and data["match"] == "unique"
        assert data["queue"] == "support" and data["call_id"] == call.channel_id
        panel = data["panel"]
        assert panel["customer"]["name"] == "שרה כהן"
        assert panel["accounts"][0]["balance_minor"] == 45_050
        assert [i["outstanding_minor"] for i in panel["overdue_invoices"]] == [45_050]
        assert (await avi.next("call.connected"))["data"]["agent_id"] == centre["avi"]
        await call.hangup()
        assert (await avi.next("call.ended"))["data"]["outcome"] == "answered"
        with pytest.raises(TimeoutError):
            await bella.next("call.offered", within=0.5)  # not her call
    finally:
        await avi.close()
        await bella.close()


async def test_a_reconnecting_desk_gets_what_it_missed_once_and_in_order(
    site: Site, centre
) -> None:
    token = await token_for(site, "avi")
    desk = await open_desk(site.url, token)
    await site.world.flow.pause_agent(str(centre["avi"]), "coffee")
    state = await desk.next("agent.state")
    await desk.close()  # the page reloads, the server restarts: the socket is gone

    await site.world.flow.agent_available(str(centre["avi"]))
    call = await site.world.call("0502345678")
    await site.world.until(lambda: site.world.connected_to(call) is not None, "connected")

    again = await open_desk(site.url, token, last_event_id=state["id"])
    try:
        await again.next("call.connected")
        seen = again.seen
        kinds = [e["type"] for e in seen if e["type"] != "hello"]
        assert kinds.count("call.offered") == 1
        assert kinds.index("call.offered") < kinds.index("call.connected")
        ids = [e["id"] for e in seen if "id" in e]
        assert ids == sorted(ids, key=id_key) and len(set(ids)) == len(ids)
    finally:
        await again.close()


async def test_a_supervisor_watches_the_queues_they_subscribe_to(site: Site, centre) -> None:
    sam = await open_desk(site.url, await token_for(site, "sam"))
    try:
        await sam.socket.send_json(
            {"type": "subscribe", "queue_ids": [site.world.queues["support"]]}
        )
        await sam.next("subscribed")
        await site.world.call("0502345678")
        assert (await sam.next("call.offered"))["data"]["queue"] == "support"
    finally:
        await sam.close()


async def test_an_agent_cannot_subscribe_to_queues(site: Site, centre) -> None:
    avi = await open_desk(site.url, await token_for(site, "avi"))
    try:
        await avi.socket.send_json(
            {"type": "subscribe", "queue_ids": [site.world.queues["support"]]}
        )
        assert "supervisors" in (await avi.next("error"))["message"]
    finally:
        await avi.close()


async def test_a_pop_published_by_one_process_reaches_a_desk_on_another(site: Site, centre) -> None:
    a_redis, b_redis = Redis.from_url(REDIS_TEST_URL), Redis.from_url(REDIS_TEST_URL)
    await a_redis.delete(f"ll:desk:{site.world.tenant_id}")
    hub_a, hub_b = (
        Hub(RedisEventLog(a_redis, 100), wait_s=0.5),
        Hub(RedisEventLog(b_redis, 100), wait_s=0.5),
    )
    process_b = await start_site(site.world, site.context.bus, with_flow=False, hub=hub_b)
    desk = await open_desk(process_b.url, await token_for(site, "avi"))
    try:
        pop = sample("call.offered", site.world.tenant_id, Audience((centre["avi"],)))
        event_id = await hub_a.publish(pop)
        received = await desk.next("call.offered")
        assert received == {"id": event_id, "type": "call.offered", "data": pop.data}
    finally:
        await desk.close()
        await process_b.runner.cleanup()
        await hub_b.close()
        await a_redis.aclose()
        await b_redis.aclose()


async def test_a_desk_that_stops_answering_pings_is_closed(site: Site, centre) -> None:
    token = await token_for(site, "avi")
    async with aiohttp.ClientSession() as http:
        socket = await http.ws_connect(site.url + "/api/v1/ws", autoping=False,
                                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        # The test's heartbeat is 1 s: a peer that never pongs is dropped soon after.
        async with asyncio.timeout(5):
            while (await socket.receive()).type not in (
                aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
            ):  # fmt: skip
                pass
        assert site.context.hub is not None
        await site.world.until(lambda: site.context.hub.connections() == 0, "forgotten")


async def test_a_signed_out_users_desk_closes_with_4401_at_the_next_check_and_others_stay(
    site: Site, centre
) -> None:
    sessions = site.context.sessions
    reads: list[int] = []
    check = sessions.still_signed_in

    async def counted(tokens):  # type: ignore[no-untyped-def]
        reads.append(len(tokens))
        return await check(tokens)

    avi_token, bella_token = await token_for(site, "avi"), await token_for(site, "bella")
    avi, bella = await open_desk(site.url, avi_token), await open_desk(site.url, bella_token)
    avi_again = await open_desk(site.url, avi_token)  # a second tab, the same session
    desk_sessions = site.context.desk_sessions
    assert desk_sessions is not None
    sessions.still_signed_in = counted  # type: ignore[method-assign]
    try:
        await desk_sessions.check()  # all still signed in: nothing closes
        await sessions.sign_out(avi_token)
        await desk_sessions.check()
        async with asyncio.timeout(WAIT_S):
            while avi.ended is None or avi_again.ended is None:
                await avi._wait_any()
        hub = site.context.hub
        assert hub is not None
        await hub.publish(DeskEvent.of(site.world.tenant_id, Audience((centre["bella"],)), RINGING))
        assert (await bella.next("agent.state"))["data"]["state"] == "ringing"
    finally:
        del sessions.still_signed_in
        for desk in (avi, avi_again, bella):
            await desk.close()

    assert reads == [2, 2]  # one read for every desk of the process, each session once
    assert avi.ended.type is aiohttp.WSMsgType.CLOSE and avi.ended.data == 4401
    assert avi_again.ended is not None and avi_again.ended.data == 4401
    assert bella.ended is None


async def test_events_that_arrive_while_the_sessions_are_checked_all_reach_the_desk_in_order(
    site: Site, centre
) -> None:
    sessions = site.context.sessions
    check = sessions.still_signed_in
    checking, published = asyncio.Event(), asyncio.Event()

    async def slow_check(tokens):  # type: ignore[no-untyped-def]
        checking.set()
        await published.wait()  # the check lasts until both events are in
        return await check(tokens)

    desk = await open_desk(site.url, await token_for(site, "avi"))
    desk_sessions = site.context.desk_sessions
    assert desk_sessions is not None
    sessions.still_signed_in = slow_check  # type: ignore[method-assign]
    checked = asyncio.create_task(desk_sessions.check())
    try:
        await asyncio.wait_for(checking.wait(), 5)  # the check is under way
        hub = site.context.hub
        assert hub is not None
        tenant, avi = site.world.tenant_id, (centre["avi"],)
        pop = DeskEvent.of(tenant, Audience(avi), replace(OFFERED, call_id="c-9"))
        await hub.publish_all([pop, DeskEvent.of(tenant, Audience(avi), RINGING)])
        published.set()
        await checked

        assert (await desk.next("call.offered"))["data"]["call_id"] == "c-9"
        assert (await desk.next("agent.state"))["data"]["state"] == "ringing"
        assert desk.ended is None
    finally:
        del sessions.still_signed_in
        await desk.close()


MALFORMED_SUBSCRIBES = {
    "an id that is not a list": '{"type": "subscribe", "queue_ids": 5}',
    "no list at all": '{"type": "subscribe", "queue_ids": null}',
    "an id past 64 bits": json.dumps({"type": "subscribe", "queue_ids": [2**66]}),
    "true for an id": '{"type": "subscribe", "queue_ids": [true]}',
    "a float for an id": '{"type": "subscribe", "queue_ids": [1.0]}',
    "a nested list": '{"type": "subscribe", "queue_ids": [[1]]}',
    "deeply nested JSON": "[" * 50_000 + "]" * 50_000,
    "a huge message": json.dumps({"type": "subscribe", "queue_ids": [1] * 200_000}),
    "an unknown field": '{"type": "subscribe", "queue_ids": [], "tenant_id": 1}',
    "not JSON": "subscribe me",
    "a JSON list": '[{"type": "subscribe", "queue_ids": []}]',
    "a JSON string": '"subscribe"',
    "a type that is not text": '{"type": ["subscribe"], "queue_ids": []}',
    "another type": '{"type": "unsubscribe"}',
    "an ack (a desk acknowledges nothing: its last event id is in the URL)": (
        '{"type": "ack", "id": "1733490000000-0"}'
    ),
    "a ping (heartbeats are WebSocket pings, answered by the browser itself)": '{"type": "ping"}',
}


async def test_a_malformed_subscribe_is_answered_with_an_error_and_the_socket_stays_open(
    site: Site, centre, caplog: pytest.LogCaptureFixture
) -> None:
    """Every message of MALFORMED_SUBSCRIBES, each on a desk socket of its own (one site)."""
    support = site.world.queues["support"]
    token = await token_for(site, "sam")
    for what, text in MALFORMED_SUBSCRIBES.items():
        sam = await open_desk(site.url, token)
        try:
            await sam.socket.send_str(text)
            error = await sam.next("error")
            assert error["code"] and error["message"], what

            await sam.socket.send_json({"type": "subscribe", "queue_ids": [support]})
            assert (await sam.next("subscribed"))["queue_ids"] == [support], what
        finally:
            await sam.close()
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_binary_frame_is_answered_with_an_error_and_the_socket_stays_open(
    site: Site, centre, caplog: pytest.LogCaptureFixture
) -> None:
    sam = await open_desk(site.url, await token_for(site, "sam"))
    try:
        await sam.socket.send_bytes(b'{"type": "subscribe", "queue_ids": []}')
        assert (await sam.next("error"))["code"] == "not_text"

        await sam.socket.send_json({"type": "subscribe", "queue_ids": []})
        assert (await sam.next("subscribed"))["queue_ids"] == []
    finally:
        await sam.close()
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_frame_over_a_mebibyte_closes_the_socket_with_1009_and_the_desk_leaves(
    site: Site, centre, caplog: pytest.LogCaptureFixture
) -> None:
    # The documented limit: aiohttp refuses the frame before buffering it whole.
    sam = await open_desk(site.url, await token_for(site, "sam"))
    try:
        await sam.socket.send_str(" " * (desk_socket_module.MAX_FRAME_BYTES + 1))
        async with asyncio.timeout(WAIT_S):
            while sam.ended is None:
                await sam._wait_any()
        assert sam.socket.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    finally:
        await sam.close()
    assert site.context.hub is not None
    await site.world.until(lambda: site.context.hub.connections() == 0, "the desk forgotten")
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_queue_of_another_business_gets_the_same_answer_as_one_that_does_not_exist(
    site: Site, centre
) -> None:
    other = await make_tenant(site.world.database, "saule", "LT", "EUR", ["+37052550100"])
    async with site.world.database.tenant_session(other) as session, session.begin():
        theirs = Queue(name="support")
        session.add(theirs)
        await session.flush()
    support = site.world.queues["support"]
    missing = theirs.id + 1000
    sam = await open_desk(site.url, await token_for(site, "sam"))
    try:
        answers = []
        for ids in ([theirs.id], [missing], [support, theirs.id]):
            await sam.socket.send_json({"type": "subscribe", "queue_ids": ids})
            answer = await sam.next_text()
            answers.append(answer)
            assert str(theirs.id) not in answer and str(missing) not in answer

        assert answers[0] == answers[1] == answers[2]
        assert json.loads(answers[0])["type"] == "error"
        # Nothing changed: a call to our queue is not shown, as no queue was subscribed.
        await site.world.call("0502345678")
        with pytest.raises(TimeoutError):
            await sam.next("call.offered", within=1.0)
    finally:
        await sam.close()
