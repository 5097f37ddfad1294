"""The delivery worker against a local receiver: signed posts, retries on a schedule the
tests drive with their own clock, per-account order, giving up and disabling."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from billing_bridge.events import envelope
from billing_bridge.webhooks_out import store
from billing_bridge.webhooks_out import subscriptions as subs
from billing_bridge.webhooks_out.sender import Outcome
from billing_bridge.webhooks_out.worker import DeliveryWorker
from pbx.db.database import Database
from pbx.db.models import AuditEntry, OutboxMessage, User, WebhookAttempt, WebhookSubscription
from tests.webhooks_out.conftest import ADMIN, Business, Clock, Receiver

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify():  # type: ignore[no-untyped-def]
    """The verification snippet of docs/webhooks.md, as a receiver would paste it."""
    snippet = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert snippet is not None
    namespace: dict = {}
    exec(snippet.group(1), namespace)
    return namespace["verify"]


async def until_settled(worker: DeliveryWorker, business: Business, clock: Clock,
                        rounds: int = 200) -> None:  # fmt: skip
    """Move the clock to each next due delivery and run the worker, until none is pending."""
    for _ in range(rounds):
        if not [d for d in await business.deliveries() if d.status == "pending"]:
            return
        await until_next_round(worker, business, clock)
    raise AssertionError("deliveries still pending")


async def test_an_event_is_posted_signed_so_that_the_documented_snippet_verifies_it(
    business: Business, receiver: Receiver, worker: DeliveryWorker, clock: Clock
) -> None:
    _, secret = await business.subscribe(receiver.url)
    event_id = await business.emit("payment.succeeded", business.accounts[0], amount_minor=5000)

    assert await worker.run_once() == 1

    [got] = receiver.received
    verify = documented_verify()
    signature = got.headers["Ledgerline-Signature"]
    body = json.loads(got.body)
    assert got.event_id == event_id == body["id"]
    assert body["type"] == "payment.succeeded" and body["data"]["object"]["amount_minor"] == 5000
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("Ledgerline-Webhooks/")
    now = clock.now.timestamp()
    assert verify(secret, signature, got.body, now=now)
    assert not verify(secret, signature, got.body + b" ", now=now)
    assert not verify(secret + "x", signature, got.body, now=now)
    assert not verify(secret, signature, got.body, now=now + 301)  # replayed too late
    assert not verify(secret, "t=1,v2=abc", got.body, now=now)
    [delivery] = await business.deliveries()
    assert delivery.status == "delivered" and delivery.last_status_code == 200


async def test_a_receiver_down_for_a_while_gets_every_event_in_account_order_with_its_ids(
    business: Business, receiver: Receiver, worker: DeliveryWorker, clock: Clock
) -> None:
    await business.subscribe(receiver.url)
    first, second = business.accounts
    await receiver.stop()
    emitted = {first: [], second: [], None: []}
    for n in range(3):
        for account in (first, second, None):
            emitted[account].append(await business.emit("credit.granted", account, n=n))

    for _ in range(5):  # down through five rounds of retries
        await until_next_round(worker, business, clock)
    assert receiver.received == []
    await receiver.start()
    await until_settled(worker, business, clock)

    got = receiver.ids()  # nothing lost, none twice: while down none arrived
    assert sorted(got) == sorted(i for ids in emitted.values() for i in ids)
    for account in (first, second):
        assert [i for i in got if i in emitted[account]] == emitted[account]
    attempts = {d.event_id: d.attempts for d in await business.deliveries()}
    assert all(count >= 1 for count in attempts.values())


async def until_next_round(worker: DeliveryWorker, business: Business, clock: Clock) -> None:
    """Run the worker; if nothing was due, move the clock to the next retry and run it."""
    if await worker.run_once():
        return
    now = clock.now
    later = [d.next_attempt_at for d in await business.deliveries()
             if d.status == "pending" and d.next_attempt_at > now]  # fmt: skip
    clock.to(min(later))
    await worker.run_once()


async def test_a_failing_delivery_is_retried_after_30_s_doubling_with_jitter_up_to_6_h(
    business: Business, receiver: Receiver, worker: DeliveryWorker, clock: Clock,
    database: Database,
) -> None:  # fmt: skip
    receiver.status = 500
    await business.subscribe(receiver.url)
    await business.emit("payment.failed", business.accounts[0])

    waits = []
    for _ in range(12):
        await until_next_round(worker, business, clock)
        [delivery] = await business.deliveries()
        waits.append((delivery.next_attempt_at - clock.now).total_seconds())

    for failures, wait in enumerate(waits, start=1):
        base = min(30 * 2 ** (failures - 1), 6 * 3600)
        assert base * 0.8 <= wait <= base * 1.2, (failures, wait)
    assert len(set(waits)) == len(waits)  # jittered, not in lockstep
    async with database.tenant_session(business.tenant_id) as session:
        attempts = list(await session.scalars(select(WebhookAttempt)))
    assert len(attempts) == 12
    assert all(a.status_code == 500 and a.error == "HTTP 500" and not a.manual for a in attempts)


async def test_a_refused_connection_is_a_failed_attempt_with_its_reason(
    business: Business, receiver: Receiver, worker: DeliveryWorker
) -> None:
    await business.subscribe(receiver.url)
    await receiver.stop()
    await business.emit("mandate.created", business.accounts[0])

    await worker.run_once()

    [delivery] = await business.deliveries()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status_code is None and delivery.last_error
    assert "Connect" in delivery.last_error or "refused" in delivery.last_error.lower()


async def test_after_three_days_of_failures_the_delivery_is_given_up_and_the_admins_told(
    business: Business, receiver: Receiver, worker: DeliveryWorker, clock: Clock,
    database: Database,
) -> None:  # fmt: skip
    receiver.status = 503
    subscription_id, _ = await business.subscribe(receiver.url)
    async with database.tenant_session(business.tenant_id) as session, session.begin():
        session.add_all([
            User(username="dana@ofek.example", display_name="Dana", role="admin"),
            User(username="noam", display_name="Noam", role="admin"),  # no address
            User(username="avi@ofek.example", display_name="Avi", role="agent"),
        ])  # fmt: skip
    event_id = await business.emit("payment.refunded", business.accounts[0])
    started = clock.now

    await until_settled(worker, business, clock)

    [delivery] = await business.deliveries()
    assert delivery.status == "failed"
    async with database.tenant_session(business.tenant_id) as session:
        attempts = list(await session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))
        subscription = await session.get_one(WebhookSubscription, subscription_id)
        emails = list(await session.scalars(select(OutboxMessage)))
        audit = list(await session.scalars(select(AuditEntry.action)))
    assert attempts[-1].attempted_at - started >= timedelta(days=3)
    assert attempts[-2].attempted_at - started < timedelta(days=3)  # not one more than needed
    assert not subscription.enabled and "failed for 3 days" in (subscription.disabled_reason or "")
    assert len(receiver.received) == len(attempts) > 10
    assert {r.event_id for r in receiver.received} == {event_id}  # the same id every time
    assert len({r.body for r in receiver.received}) == 1
    assert [(m.channel, m.recipient) for m in emails] == [("email", "dana@ofek.example")]
    assert receiver.url in emails[0].body
    assert "webhook_subscription.disable" in audit


async def test_a_disabled_subscription_s_pending_deliveries_wait_and_go_out_once_enabled(
    business: Business, receiver: Receiver, worker: DeliveryWorker, database: Database
) -> None:
    subscription_id, _ = await business.subscribe(receiver.url)
    waiting = await business.emit("payment.refunded", business.accounts[0])
    await change(business, subscription_id, subs.SubscriptionChange(enabled=False))
    unsent = await business.emit("payment.succeeded", business.accounts[1])

    assert await worker.run_once() == 0  # disabled: nothing claimed
    await change(business, subscription_id, subs.SubscriptionChange(enabled=True))
    await worker.run_once()

    assert receiver.ids() == [waiting]  # what happened while disabled was not queued for it
    assert unsent not in {d.event_id for d in await business.deliveries()}


async def change(business: Business, subscription_id: int,
                 what: subs.SubscriptionChange) -> None:  # fmt: skip
    async with business.database.tenant_session(business.tenant_id) as session, session.begin():
        await subs.update_subscription(session, tenant_id=business.tenant_id, actor=ADMIN,
                                       subscription_id=subscription_id, change=what,
                                       allow_private=True, now=datetime.now(UTC))  # fmt: skip


async def test_an_account_s_later_events_wait_behind_its_failing_one_while_others_proceed(
    business: Business, receiver: Receiver, worker: DeliveryWorker, clock: Clock
) -> None:
    await business.subscribe(receiver.url)
    stuck, free = business.accounts
    blocked = await business.emit("payment.failed", stuck)
    behind = await business.emit("payment.succeeded", stuck)
    others = [await business.emit("credit.granted", free, n=n) for n in range(3)]
    loose = await business.emit("call.ended", None)
    receiver.answers[blocked] = 500

    for _ in range(4):
        await worker.run_once()  # the clock stands still: the failed one is not due again

    assert blocked in receiver.ids() and behind not in receiver.ids()
    assert [i for i in receiver.ids() if i in others] == others and loose in receiver.ids()
    receiver.answers.pop(blocked)
    await until_settled(worker, business, clock)
    got = receiver.ids()
    assert got.index(behind) > len(got) - 1 - got[::-1].index(blocked)  # after its success


async def test_a_success_clears_the_subscription_s_failing_since(
    business: Business, receiver: Receiver, worker: DeliveryWorker, clock: Clock,
    database: Database,
) -> None:  # fmt: skip
    subscription_id, _ = await business.subscribe(receiver.url)
    receiver.status = 500
    await business.emit("payment.succeeded", business.accounts[0])
    await worker.run_once()
    async with database.tenant_session(business.tenant_id) as session:
        failing = (await session.get_one(WebhookSubscription, subscription_id)).failing_since
    receiver.status = 204
    await until_settled(worker, business, clock)

    async with database.tenant_session(business.tenant_id) as session:
        after = (await session.get_one(WebhookSubscription, subscription_id)).failing_since
    assert failing is not None and after is None


async def test_only_subscriptions_taking_the_type_get_the_event(
    business: Business, receiver: Receiver, worker: DeliveryWorker
) -> None:
    await business.subscribe(receiver.url, ["mandate.created"])
    await business.emit("payment.succeeded", business.accounts[0])
    taken = await business.emit("mandate.created", business.accounts[0])

    await worker.run_once()

    assert receiver.ids() == [taken]


async def test_an_outcome_from_a_claim_that_ran_out_is_logged_but_moves_nothing(
    business: Business, receiver: Receiver, database: Database, clock: Clock
) -> None:
    await business.subscribe(receiver.url)
    await business.emit("payment.succeeded", business.accounts[0])
    lease = timedelta(seconds=60)
    [late] = await store.claim_due(database, envelope, now=clock.now, limit=10, lease=lease)
    clock.advance(seconds=61)  # its process stalled past the lease; another claims it
    [taken] = await store.claim_due(database, envelope, now=clock.now, limit=10, lease=lease)
    rng, after = random.Random(1), timedelta(days=3)

    statuses = await store.settle_all(database, [
        store.Settlement(late, Outcome(500, 3, "HTTP 500"), clock.now),
        store.Settlement(taken, Outcome(200, 2), clock.now),
    ], rng=rng, disable_after=after)  # fmt: skip

    [delivery] = await business.deliveries()
    assert statuses == ["superseded", "delivered"] and delivery.status == "delivered"
    assert delivery.attempts == 1 and delivery.last_status_code == 200
    async with database.tenant_session(business.tenant_id) as session:
        logged = list(await session.scalars(select(WebhookAttempt.status_code)))
    assert sorted(logged) == [200, 500]


async def test_an_outcome_for_a_subscription_deleted_meanwhile_is_dropped(
    business: Business, receiver: Receiver, database: Database, clock: Clock
) -> None:
    subscription_id, _ = await business.subscribe(receiver.url)
    await business.emit("payment.succeeded", business.accounts[0])
    lease = timedelta(seconds=60)
    [claim] = await store.claim_due(database, envelope, now=clock.now, limit=10, lease=lease)
    async with database.tenant_session(business.tenant_id) as session, session.begin():
        await subs.delete_subscription(session, tenant_id=business.tenant_id, actor=ADMIN,
                                       subscription_id=subscription_id, now=clock.now)  # fmt: skip

    status = await store.settle(database, claim, Outcome(200, 1), attempted_at=clock.now,
                                rng=random.Random(1), disable_after=timedelta(days=3))  # fmt: skip

    assert status == "gone" and await business.deliveries() == []
