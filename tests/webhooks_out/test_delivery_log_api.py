"""The delivery log over HTTP: a subscription's deliveries page by page with their outcome,
one delivery with its attempts, and redelivery by hand (one now, or a range queued again)."""

from __future__ import annotations

from sqlalchemy import select

from pbx.db.models import Account, Tenant
from tests.factories import make_customer
from tests.http.support import ApiClient
from tests.platform.conftest import Platform
from tests.webhooks_out.conftest import Business, Clock, Receiver, make_worker
from tests.webhooks_out.test_delivery import until_settled

OFEK = "+97237630100"
PATH = "/webhooks/subscriptions"


async def _setup(platform: Platform, receiver: Receiver) -> tuple[ApiClient, Business, int]:
    """Ofek's admin, the business with an account, and its subscription to `receiver`."""
    admin = await platform.admin_of("ofek", OFEK)
    async with platform.database.system_session() as session:
        tenant = await session.scalar(select(Tenant.id).where(Tenant.slug == "ofek"))
    assert tenant is not None
    await make_customer(platform.database, tenant, "ofek-1", "Dana", [],
                        accounts=[{"currency": "ILS"}])  # fmt: skip
    async with platform.database.tenant_session(tenant) as session:
        accounts = list(await session.scalars(select(Account.id)))
    status, created = await admin.call("POST", PATH, {"url": receiver.url, "event_types": ["*"]})
    assert status == 201
    return admin, Business(platform.database, tenant, accounts), created["id"]


async def test_the_log_pages_newest_first_and_filters_by_status(
    platform: Platform, receiver: Receiver, clock: Clock
) -> None:
    admin, business, subscription = await _setup(platform, receiver)
    events = [await business.emit("call.ended", None, n=n) for n in range(5)]
    receiver.answers = {events[1]: 500, events[3]: 502}
    await make_worker(platform.database, clock).run_once()
    base = f"{PATH}/{subscription}/deliveries"

    pages, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        status, page = await admin.call("GET", base, **query)
        assert status == 200
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    _, pending = await admin.call("GET", base, status="pending")
    _, delivered = await admin.call("GET", base, status="delivered")

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [d["event_id"] for p in pages for d in p] == events[::-1]
    assert {d["event_id"] for d in pending["items"]} == {events[1], events[3]}
    assert {d["response_code"] for d in pending["items"]} == {500, 502}
    assert all(d["next_attempt_at"] and d["attempts"] == 1 for d in pending["items"])
    assert len(delivered["items"]) == 3
    assert all(d["event_type"] == "call.ended" and d["latency_ms"] is not None
               for d in delivered["items"])  # fmt: skip
    await admin.close()


async def test_a_delivery_reads_with_each_attempt(
    platform: Platform, receiver: Receiver, clock: Clock
) -> None:
    admin, business, subscription = await _setup(platform, receiver)
    event = await business.emit("payment.succeeded", business.accounts[0])
    receiver.status = 500
    worker = make_worker(platform.database, clock)
    await worker.run_once()
    receiver.status = 200
    [delivery] = await business.deliveries()
    clock.to(delivery.next_attempt_at)
    await worker.run_once()

    status, read = await admin.call("GET", f"{PATH}/{subscription}/deliveries/{delivery.id}")

    assert status == 200 and read["event_id"] == event and read["status"] == "delivered"
    assert [(a["response_code"], a["manual"]) for a in read["attempt_log"]] == [
        (500, False), (200, False)]  # fmt: skip
    assert read["attempt_log"][0]["error"] == "HTTP 500"
    await admin.close()


async def test_a_given_up_delivery_redelivered_by_hand_is_delivered_and_logged_manual(
    platform: Platform, receiver: Receiver, clock: Clock
) -> None:
    admin, business, subscription = await _setup(platform, receiver)
    event = await business.emit("mandate.failed", business.accounts[0])
    receiver.status = 500
    await until_settled(make_worker(platform.database, clock), business, clock)
    [delivery] = await business.deliveries()
    assert delivery.status == "failed"
    one = f"{PATH}/{subscription}/deliveries/{delivery.id}/redeliver"

    refused_status, again = await admin.call("POST", one)  # still failing: back in the queue
    receiver.status = 200
    status, done = await admin.call("POST", one)

    assert refused_status == 200 and again["status"] == "pending" and again["attempts"] == 1
    assert status == 200 and done["status"] == "delivered"
    assert [a["manual"] for a in done["attempt_log"][-2:]] == [True, True]
    assert receiver.ids()[-1] == event
    await admin.close()


async def test_redelivering_since_a_moment_sends_those_events_again_with_their_ids(
    platform: Platform, receiver: Receiver, clock: Clock
) -> None:
    admin, business, subscription = await _setup(platform, receiver)
    events = [await business.emit("credit.granted", business.accounts[0], n=n)
              for n in range(3)]  # fmt: skip
    worker = make_worker(platform.database, clock)
    await until_settled(worker, business, clock)
    since = "2000-01-01T00:00:00Z"

    status, queued = await admin.call("POST", f"{PATH}/{subscription}/redeliver",
                                      {"since": since})  # fmt: skip
    await until_settled(worker, business, clock)

    assert status == 200 and queued == {"queued": 3}
    assert receiver.ids() == events + events  # in order again, the same ids
    bad, answer = await admin.call("POST", f"{PATH}/{subscription}/redeliver",
                                   {"since": "2026-01-01T00:00:00"})  # fmt: skip
    assert bad == 422 and answer["error"]["details"][0]["field"] == "since"
    await admin.close()


async def test_hostile_query_values_are_a_422(platform: Platform, receiver: Receiver) -> None:
    admin, _, subscription = await _setup(platform, receiver)
    base = f"{PATH}/{subscription}/deliveries"

    for query in ({"status": "lost"}, {"cursor": "0"}, {"cursor": "1.5"}, {"limit": "101"},
                  {"limit": "0"}, {"cursor": str(2**63)}, {"status": "a\x00"}):  # fmt: skip
        status, _ = await admin.send("GET", base, **query)
        assert status == 422, query
    await admin.close()
