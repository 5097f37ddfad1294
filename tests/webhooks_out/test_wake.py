"""A commit that writes deliveries wakes the delivery worker of the same process at once,
whatever its poll interval; other commits tell nobody."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from billing_bridge.events import emit
from billing_bridge.events.outbox import when_deliveries_committed
from pbx.bootstrap import webhook_worker
from pbx.db.database import Database
from pbx.settings import WebhooksSettings
from tests.webhooks_out.conftest import Receiver, make_business

LONG_POLL_S = 600.0  # far longer than any test waits: only a wake gets a delivery out


class Refused(Exception):
    pass


class Listener:
    def __init__(self) -> None:
        self.calls = 0

    def committed(self) -> None:
        self.calls += 1


class FirstLookInThePast:
    """The worker's clock: an hour behind on its first look, so that look can never find a
    delivery committed now (whether it runs before the commit or after); real time after."""

    def __init__(self) -> None:
        self.looks = 0

    def __call__(self) -> datetime:
        self.looks += 1
        return datetime.now(UTC) - (timedelta(hours=1) if self.looks == 1 else timedelta())


async def test_a_commit_that_writes_deliveries_tells_the_listeners_of_its_database(
    database: Database, receiver: Receiver
) -> None:
    business = await make_business(database)
    listener = Listener()
    when_deliveries_committed(database.engine, listener.committed)

    await business.emit("payment.succeeded", business.accounts[0])  # nobody subscribed yet
    assert listener.calls == 0

    await business.subscribe(receiver.url)
    await business.emit("payment.succeeded", business.accounts[0])
    assert listener.calls == 1


async def test_a_commit_that_rolls_back_tells_nobody(
    database: Database, receiver: Receiver
) -> None:
    business = await make_business(database)
    await business.subscribe(receiver.url)
    listener = Listener()
    when_deliveries_committed(database.engine, listener.committed)

    with pytest.raises(Refused):
        async with database.tenant_session(business.tenant_id) as session, session.begin():
            emit(session, business.tenant_id, "credit.granted", {"n": 1})
            raise Refused

    assert listener.calls == 0
    assert await business.deliveries() == []


async def test_a_commit_wakes_the_served_worker_idling_at_a_long_poll_interval(
    database: Database, receiver: Receiver
) -> None:
    business = await make_business(database)
    await business.subscribe(receiver.url)
    settings = WebhooksSettings(enabled=True, poll_seconds=0.05, idle_poll_seconds=0.5,
                                concurrency=8, timeout_seconds=2.0, disable_after_hours=72,
                                allow_private_http=True)  # fmt: skip
    worker = webhook_worker(database, settings)  # as `serve` builds it
    worker.settings = dataclasses.replace(worker.settings, poll_s=LONG_POLL_S,
                                          idle_s=LONG_POLL_S)  # fmt: skip
    worker.clock = FirstLookInThePast()
    worker.start()
    try:
        event_id = await business.emit("payment.succeeded", business.accounts[0])
        await receiver.wait_for(lambda: event_id in receiver.ids(), within_s=30)
        # The receiver has it; the worker writes its answer next (a stop before that leaves
        # the delivery pending, to be sent again: at least once, as promised).
        deadline = asyncio.get_running_loop().time() + 30
        while [d.status for d in await business.deliveries()] != ["delivered"]:
            assert asyncio.get_running_loop().time() < deadline, "never marked delivered"
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    [delivery] = await business.deliveries()
    assert delivery.status == "delivered"
