"""A subscription disabled after days of failures is told to its business's active admins:
by email at their address (or at a user name that is one, for an admin with no address),
and, once the change commits, on their desks as `webhook.disabled`."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from billing_bridge.events import envelope
from billing_bridge.webhooks_out import store
from billing_bridge.webhooks_out.sender import Sender
from billing_bridge.webhooks_out.worker import DeliveryWorker, OnDisabled, WorkerSettings
from pbx.audit import By
from pbx.db.database import Database
from pbx.db.models import OutboxMessage, User, WebhookSubscription
from pbx.events.codec import decode_payload
from pbx.events.hub import Hub
from pbx.events.log import MemoryEventLog
from pbx.events.model import Viewer
from pbx.events.notices import AdminNotices, webhooks_disabled
from pbx.events.payloads import WebhookDisabled
from tests.webhooks_out.conftest import Business, Clock, Receiver, make_business
from tests.webhooks_out.test_delivery import until_settled


class Desks:
    """Stands in for the desk publisher: what the worker told, or a failure to tell it."""

    def __init__(self, *, fails: bool = False) -> None:
        self.told: list[store.Disabled] = []
        self.fails = fails

    async def __call__(self, disabled: Sequence[store.Disabled]) -> None:
        if self.fails:
            raise ConnectionError("the event log is away")
        self.told.extend(disabled)


def make_worker(database: Database, clock: Clock, on_disabled: OnDisabled) -> DeliveryWorker:
    return DeliveryWorker(database, Sender(timeout_s=2.0, allow_private=True), envelope,
                          WorkerSettings(allow_private=True), clock=clock,
                          rng=random.Random(7), on_disabled=on_disabled)  # fmt: skip


async def _staff(database: Database, tenant_id: int) -> dict[str, int]:
    people = [
        User(username="dana", display_name="Dana", role="admin", email="dana@ofek.example"),
        User(username="noam@ofek.example", display_name="Noam", role="admin"),  # name only
        User(username="rina@ofek.example", display_name="Rina", role="admin",
             email="rina.cohen@ofek.example"),  # the address wins over the name
        User(username="eli", display_name="Eli", role="admin"),  # nowhere to email
        User(username="gil", display_name="Gil", role="admin", email="gil@ofek.example",
             active=False),
        User(username="avi", display_name="Avi", role="agent", email="avi@ofek.example"),
    ]  # fmt: skip
    async with database.tenant_session(tenant_id) as session, session.begin():
        session.add_all(people)
        await session.flush()
        return {person.username: person.id for person in people}


async def _disable(worker: DeliveryWorker, business: Business, receiver: Receiver,
                   clock: Clock) -> int:  # fmt: skip
    receiver.status = 503
    subscription_id, _ = await business.subscribe(receiver.url)
    await business.emit("payment.refunded", business.accounts[0])
    await until_settled(worker, business, clock)
    return subscription_id


async def test_the_active_admins_are_emailed_at_their_address_and_their_desks_told(
    business: Business, receiver: Receiver, clock: Clock, database: Database
) -> None:
    staff = await _staff(database, business.tenant_id)
    desks = Desks()
    worker = make_worker(database, clock, on_disabled=desks)
    try:
        subscription_id = await _disable(worker, business, receiver, clock)
    finally:
        await worker.stop()

    async with database.tenant_session(business.tenant_id) as session:
        emails = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        subscription = await session.get_one(WebhookSubscription, subscription_id)
    assert sorted(m.recipient for m in emails) == [
        "dana@ofek.example", "noam@ofek.example", "rina.cohen@ofek.example"]  # fmt: skip
    assert {m.channel for m in emails} == {"email"}
    [told] = desks.told
    assert told.subscription_id == subscription_id and told.tenant_id == business.tenant_id
    assert told.url == receiver.url and told.reason == subscription.disabled_reason
    assert told.disabled_at == subscription.disabled_at
    assert sorted(told.admin_ids) == sorted(
        staff[name] for name in ("dana", "noam@ofek.example", "rina@ofek.example", "eli")
    )


async def test_desks_that_cannot_be_told_cost_the_disabling_nothing(
    business: Business, receiver: Receiver, clock: Clock, database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    await _staff(database, business.tenant_id)
    worker = make_worker(database, clock, on_disabled=Desks(fails=True))
    try:
        subscription_id = await _disable(worker, business, receiver, clock)
    finally:
        await worker.stop()

    [delivery] = await business.deliveries()
    async with database.tenant_session(business.tenant_id) as session:
        subscription = await session.get_one(WebhookSubscription, subscription_id)
        emails = list(await session.scalars(select(OutboxMessage.recipient)))
    assert delivery.status == "failed" and not subscription.enabled
    assert len(emails) == 3
    assert "desks not told" in caplog.text
    assert "could not record its outcome" not in caplog.text


async def test_the_desk_event_reaches_the_business_s_admins_and_nobody_else(
    business: Business, receiver: Receiver, clock: Clock, database: Database
) -> None:
    staff = await _staff(database, business.tenant_id)
    other = await make_business(database, "saule", accounts=1)
    log = MemoryEventLog(retention=100)
    worker = make_worker(database, clock, on_disabled=AdminNotices(Hub(log)).webhooks_disabled)
    try:
        subscription_id = await _disable(worker, business, receiver, clock)
    finally:
        await worker.stop()

    page = await log.after(business.tenant_id, "", 100)
    [(_, event)] = page.entries
    assert event.type == "webhook.disabled"
    payload = decode_payload(event.type, event.data)  # the JSON the desk gets reads back
    assert isinstance(payload, WebhookDisabled) and payload.subscription_id == subscription_id
    assert payload.url == receiver.url and "failed for 3 days" in payload.reason
    assert payload.failing_since < payload.disabled_at

    def sees(username: str, tenant_id: int = business.tenant_id, supervisor: bool = True) -> bool:
        return Viewer(staff.get(username, 0), tenant_id, supervisor).may_see(event)

    assert sees("dana") and sees("eli")
    assert not sees("gil")  # inactive
    assert not sees("avi", supervisor=False)
    assert not sees("supervisor-nobody")  # a supervisor is not told
    assert not sees("dana", tenant_id=other.tenant_id)
    assert (await log.after(other.tenant_id, "", 100)).entries == []


def test_a_business_with_no_active_admin_gets_no_desk_event() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    off = store.Disabled(1, 2, "https://billing.example/hooks", "every delivery failed for 3 days",
                         now, now, admin_ids=())  # fmt: skip
    assert webhooks_disabled([off]) == []


async def test_a_manual_redelivery_that_disables_the_subscription_tells_the_desks_too(
    business: Business, receiver: Receiver, clock: Clock, database: Database
) -> None:
    staff = await _staff(database, business.tenant_id)
    desks = Desks()
    worker = make_worker(database, clock, on_disabled=desks)
    receiver.status = 500
    subscription_id, _ = await business.subscribe(receiver.url)
    await business.emit("payment.failed", business.accounts[0])
    try:
        assert await worker.run_once() == 1  # the first failure: failing since now
        assert desks.told == []
        clock.advance(days=3, seconds=1)
        [delivery] = await business.deliveries()
        await worker.redeliver(tenant_id=business.tenant_id, actor=By("admin:dana"),
                               subscription_id=subscription_id,
                               delivery_id=delivery.id)  # fmt: skip
    finally:
        await worker.stop()

    [told] = desks.told
    assert told.subscription_id == subscription_id and staff["dana"] in told.admin_ids
