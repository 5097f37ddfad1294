"""Agent states, the call log and call control through /api/v1."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from sqlalchemy import select

from billing_bridge.payments.sandbox import SandboxProvider
from pbx.bootstrap import take_payments
from pbx.bus import RedisBus
from pbx.callflow.live_calls import local_desk
from pbx.db.models import Account, InboundRoute, Queue, QueueMember
from pbx.desk.remote import DeskServer, ForwardingDesk
from pbx.desk.remote import topic as desk_topic
from pbx.http.context import CONFIG_TOPIC
from tests.conftest import REDIS_TEST_URL
from tests.factories import make_customer, make_tenant
from tests.http.conftest import PASSWORD, Site, start_site


async def test_an_agent_logs_in_pauses_and_logs_out_through_the_api(site: Site, desk) -> None:
    avi, bella = desk["avi"], desk["bella"]
    ident = site.world.agents["avi"]

    status, state = await avi.call("PUT", f"/agents/{ident}/state", {"state": "available"})
    assert status == 200 and state["state"] == "available"
    status, state = await avi.call(
        "PUT", f"/agents/{ident}/state", {"state": "paused", "reason": "lunch"}
    )
    assert (state["state"], state["pause_reason"]) == ("paused", "lunch")
    assert (await avi.call("PUT", f"/agents/{ident}/state", {"state": "paused"}))[0] == 422
    assert (await bella.call("PUT", f"/agents/{ident}/state", {"state": "available"}))[0] == 403
    status, states = await desk["sam"].call("GET", "/agent-states")
    assert status == 200 and {s["state"] for s in states["items"]} == {"paused", "logged_out"}


async def test_the_agent_on_the_call_holds_and_hangs_up_through_the_api(site: Site, desk) -> None:
    world, avi, bella = site.world, desk["avi"], desk["bella"]
    await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    call = await world.call()
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
    live = f"/calls/{call.channel_id}"

    assert (await bella.call("POST", live + "/hold"))[0] == 403  # not her call
    assert (await avi.call("POST", live + "/hold"))[0] == 204
    assert call.heard[-1].startswith("moh:")
    assert (await avi.call("POST", live + "/hold"))[0] == 409
    assert (await avi.call("POST", live + "/resume"))[0] == 204
    assert (await avi.call("POST", live + "/hangup"))[0] == 204
    await world.until(lambda: world.flow.state.calls == {}, "ended")

    status, log = await desk["sam"].call("GET", "/calls", outcome="answered")
    assert status == 200 and [c["call_id"] for c in log["items"]] == [call.channel_id]
    assert (await bella.call("GET", "/calls"))[1]["items"] == []  # agents see their own
    assert len((await avi.call("GET", "/calls"))[1]["items"]) == 1
    assert (await avi.call("GET", "/calls", to="yesterday"))[0] == 422


async def test_a_transfer_to_a_queue_through_the_api(site: Site, desk) -> None:
    world, avi = site.world, desk["avi"]
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        billing = Queue(name="billing")
        session.add(billing)
        await session.flush()
        session.add(QueueMember(queue_id=billing.id, user_id=int(world.agents["bella"])))
    await world.flow.reload_config()
    await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    await desk["bella"].call(
        "PUT", f"/agents/{world.agents['bella']}/state", {"state": "available"}
    )
    call = await world.call()
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")

    both = {"queue_id": billing.id, "number": "+97237778888"}
    assert (await avi.call("POST", f"/calls/{call.channel_id}/transfer", both))[0] == 422
    status, _ = await avi.call(
        "POST", f"/calls/{call.channel_id}/transfer", {"queue_id": billing.id}
    )

    assert status == 204
    await world.until(lambda: world.connected_to(call) == world.agents["bella"], "bella has it")


async def test_click_to_call_through_the_api(site: Site, desk) -> None:
    world, avi = site.world, desk["avi"]
    await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    customer = world.sim.agent("PJSIP/+97237778888@pstn-trunk", answer_after=0.05)

    status, started = await avi.call("POST", f"/agents/{world.agents['avi']}/calls",
                                     {"number": "+97237778888"})  # fmt: skip

    assert status == 201
    await world.until(lambda: len(customer.channel_ids) == 1, "customer dialled")
    status, state = await avi.call("GET", f"/agents/{world.agents['avi']}/state")
    assert state["state"] == "on_call" and state["call_id"] == started["call_id"]
    busy = await avi.call(
        "POST", f"/agents/{world.agents['avi']}/calls", {"number": "+97237778888"}
    )
    assert busy[0] == 409


async def test_call_control_without_asterisk_is_503(site: Site, desk) -> None:
    bare = await start_site(site.world, site.context.bus, with_flow=False)
    api = bare.client()
    try:
        await api.login("ofek", "avi", PASSWORD)
        status, body = await api.call("PUT", f"/agents/{site.world.agents['avi']}/state",
                                      {"state": "available"})  # fmt: skip
    finally:
        await api.close()
        await bare.runner.cleanup()
    assert status == 503 and body["error"]["code"] == "no_call_control"


async def test_a_change_made_on_one_process_reaches_the_call_flow_on_another(site: Site) -> None:
    """Process A serves only the API; process B runs the call flow. They share Redis."""
    world = site.world
    a_redis, b_redis = Redis.from_url(REDIS_TEST_URL), Redis.from_url(REDIS_TEST_URL)
    flow = world.flow
    reloads: list[dict] = []

    async def reload(message: dict) -> None:
        reloads.append(message)
        await flow.reload_config()

    b_bus = RedisBus(b_redis)
    b_bus.subscribe(CONFIG_TOPIC, reload)
    await b_bus.start()
    await asyncio.wait_for(b_bus.subscribed.wait(), 5)
    process_a = await start_site(world, RedisBus(a_redis), with_flow=False)
    await site.user("boss", "admin")
    admin = process_a.client()
    try:
        await admin.login("ofek", "boss", PASSWORD)
        status, _ = await admin.call("POST", "/queues", {"name": "night"})
        assert status == 201
        await world.until(lambda: f"{world.tenant_id}:night" in flow.state.engine.queues,
                          "process B's ACD has the new queue")  # fmt: skip
        assert {"tenant_id": world.tenant_id, "what": "queue"} in reloads
    finally:
        await admin.close()
        await process_a.runner.cleanup()
        await b_bus.stop()
        await a_redis.aclose()
        await b_redis.aclose()


async def test_desk_requests_to_a_standby_process_are_served_by_the_owner(site: Site, desk) -> None:
    """Process A has the call flow configured but not the lease: it forwards to B."""
    world = site.world
    a_redis, b_redis = Redis.from_url(REDIS_TEST_URL), Redis.from_url(REDIS_TEST_URL)
    b_bus = RedisBus(b_redis)
    b_bus.subscribe(desk_topic("test-node"), DeskServer(local_desk(world.flow), b_redis).handle)
    await b_bus.start()
    await asyncio.wait_for(b_bus.subscribed.wait(), 5)
    standby_flow = world.new_flow()  # configured, never started: not the owner
    a_bus = RedisBus(a_redis)
    forwarding = ForwardingDesk(local_desk(standby_flow), a_bus, a_redis, "test-node",
                                timeout_s=3)  # fmt: skip
    process_a = await start_site(world, a_bus, with_flow=False)
    process_a.context.desk = forwarding
    avi = process_a.client()
    try:
        await avi.login("ofek", "avi", PASSWORD)
        status, state = await avi.call("PUT", f"/agents/{world.agents['avi']}/state",
                                       {"state": "available"})  # fmt: skip
        assert status == 200 and state["state"] == "available"
        call = await world.call()
        await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
        assert (await avi.call("POST", f"/calls/{call.channel_id}/hold"))[0] == 204
        assert (await avi.call("POST", "/calls/nope/hold"))[0] == 404  # errors travel back too
        assert call.heard[-1].startswith("moh:")

        await b_bus.stop()  # the owner stops listening: nobody answers
        forwarding.timeout_s = 0.3
        assert (await avi.call("POST", f"/calls/{call.channel_id}/resume"))[0] == 503
    finally:
        await avi.close()
        await process_a.runner.cleanup()
        await b_bus.stop()
        await standby_flow.client.close()
        await a_redis.aclose()
        await b_redis.aclose()


async def test_wrap_up_search_and_live_queues(site: Site, desk) -> None:
    world, avi, sam = site.world, desk["avi"], desk["sam"]
    from tests.factories import make_customer

    await make_customer(world.database, world.tenant_id, "C-7", "דנה לוי", ["+972502345678"])
    await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    status, stats = await sam.call("GET", "/queue-stats")
    assert status == 200 and stats["items"][0]["agents"] == {"on_call": 1}
    await call.hangup()
    await world.until(lambda: world.flow.state.calls == {}, "ended")
    record = (await avi.call("GET", "/calls"))[1]["items"][0]["id"]

    status, row = await avi.call("PUT", f"/calls/{record}/disposition",
                                 {"disposition": "resolved", "notes": "שולם"})  # fmt: skip
    assert status == 200 and (row["disposition"]) == "resolved"
    assert (await desk["bella"].call("PUT", f"/calls/{record}/disposition",
                                     {"disposition": "x"}))[0] == 403  # fmt: skip

    for query in ("דנה", "C-7", "050-234-5678"):
        status, found = await avi.call("GET", "/customers", q=query)
        assert status == 200 and [c["ref"] for c in found["items"]] == ["C-7"], query
    assert (await avi.call("GET", "/customers", q="x"))[0] == 422


async def test_the_agent_pauses_and_resumes_the_recording_and_starts_one_only_on_demand(
    site: Site, desk
) -> None:
    world, avi, bella = site.world, desk["avi"], desk["bella"]
    await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    call = await world.call()
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
    live = f"/calls/{call.channel_id}/recording"

    assert (await bella.call("POST", live + "/pause", {"reason": "card"}))[0] == 403
    assert (await avi.call("POST", live + "/pause", {"reason": "card"}))[0] == 204
    assert (await avi.call("POST", live + "/pause", {"reason": "card"}))[0] == 409  # already
    assert (await avi.call("POST", live + "/resume"))[0] == 204
    assert (await avi.call("POST", live + "/stop"))[0] == 409  # recorded by policy: not stoppable
    await call.hangup()

    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        route = await session.scalar(select(InboundRoute))
        route.recording_policy = "on_demand"
    await world.flow.reload_config()
    call = await world.call()
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
    live = f"/calls/{call.channel_id}/recording"
    assert (await avi.call("POST", live + "/pause", {"reason": "card"}))[0] == 409  # none yet
    assert (await avi.call("POST", live + "/start"))[0] == 204
    assert world.flow.state.calls[call.channel_id].recording is not None
    assert (await avi.call("POST", live + "/stop"))[0] == 204
    assert world.flow.state.calls[call.channel_id].recording is None


async def test_the_agent_starts_a_card_payment_through_the_api_for_their_callers_account(
    site: Site, desk
) -> None:
    world, avi, bella = site.world, desk["avi"], desk["bella"]
    customer = await make_customer(world.database, world.tenant_id, "C-1", "Dana",
                                   ["+972502345678"], [{"currency": "ILS", "balance_minor": 9_900,
                                                        "status": "active"}])  # fmt: skip
    async with world.database.tenant_session(world.tenant_id) as session:
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
    flow = world.flow
    path = "/calls/{}/payments/card"
    await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    call = await world.call("0502345678")
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
    live = path.format(call.channel_id)

    assert (await avi.call("POST", live, {"account_id": account}))[0] == 503  # no provider
    take_payments(flow, SandboxProvider(webhook_secret="s"), world.database, flow.clock)
    assert (await bella.call("POST", live, {"account_id": account}))[0] == 403
    assert (await avi.call("POST", live, {"account_id": account + 999}))[0] == 404
    assert (await avi.call("POST", live, {"account_id": account, "amount_minor": 0}))[0] == 422
    status, started = await avi.call("POST", live, {"account_id": account})
    assert status == 202 and started == {"amount_minor": 9_900, "currency": "ILS",
                                         "status": "started"}  # fmt: skip
    assert (await avi.call("POST", live, {"account_id": account}))[0] == 409  # one at a time
    await world.until(lambda: "sound:ledgerline-card-number" in call.heard, "the caller asked")


async def test_click_to_call_for_a_customer_not_of_this_business_is_422_and_the_agent_stays_free(
    site: Site, desk
) -> None:
    world, avi, sam = site.world, desk["avi"], desk["sam"]
    other = await make_tenant(world.database, "saule", "LT", "EUR", ["+37052000000"])
    theirs = await make_customer(world.database, other, "S-1", "Ona", ["+37061234567"])
    ours = await make_customer(world.database, world.tenant_id, "C-1", "Dana", ["+97237778888"])
    path = f"/agents/{world.agents['avi']}/calls"
    await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    world.sim.agent("PJSIP/+97237778888@pstn-trunk", answer_after=0.05)

    for customer_id in (424242, theirs):
        status, body = await sam.call("POST", path, {"number": "+97237778888",
                                                     "customer_id": customer_id})  # fmt: skip
        assert status == 422 and body["error"]["code"] == "invalid", customer_id
        state = (await avi.call("GET", f"/agents/{world.agents['avi']}/state"))[1]
        assert state["state"] == "available"
    assert (await sam.call("GET", "/calls"))[1]["items"] == []

    status, started = await sam.call("POST", path, {"number": "+97237778888",
                                                    "customer_id": ours})  # fmt: skip
    assert status == 201
    status, log = await sam.call("GET", "/calls", customer_id=str(ours))
    assert [c["call_id"] for c in log["items"]] == [started["call_id"]]


async def test_a_transfer_to_an_agent_who_is_not_free_is_409_and_one_who_is_gets_busy(
    site: Site, desk
) -> None:
    world, avi, bella = site.world, desk["avi"], desk["bella"]
    await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    call = await world.call()
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
    transfer = f"/calls/{call.channel_id}/transfer"
    to_bella = {"agent_id": int(world.agents["bella"]), "mode": "blind"}

    status, body = await avi.call("POST", transfer, to_bella)  # bella is logged out
    assert status == 409 and body["error"]["code"] == "conflict"
    assert world.connected_to(call) == world.agents["avi"]
    assert not world.flow.state.calls[call.channel_id].on_hold

    await bella.call("PUT", f"/agents/{world.agents['bella']}/state", {"state": "available"})
    assert (await avi.call("POST", transfer, to_bella))[0] == 204
    await world.until(lambda: world.connected_to(call) == world.agents["bella"], "bella has it")
    status, state = await bella.call("GET", f"/agents/{world.agents['bella']}/state")
    assert state["state"] == "on_call" and state["call_id"] == call.channel_id
    assert (await bella.call("POST", f"/calls/{call.channel_id}/hold"))[0] == 204  # hers now
