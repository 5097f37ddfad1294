"""Pay-by-link from the call, and the provider's webhooks completing it: signatures,
replays, out-of-order events, unknown types; the agent's desk updated live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import select

from billing_bridge.payments.port import WebhookEvent
from billing_bridge.payments.sandbox import SandboxProvider
from pbx.db.models import Account, OutboxMessage, Payment
from pbx.events.hub import Subscriber
from pbx.events.model import Viewer
from tests.factories import make_customer
from tests.http.conftest import Site
from tests.http.support import PREFIX


async def post_webhook(site: Site, body: bytes, headers: dict[str, str],
                       provider: str = "sandbox") -> tuple[int, Any]:  # fmt: skip
    url = f"{site.url}{PREFIX}/webhooks/{provider}"
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as got:
        return got.status, await got.json()


async def test_a_pay_link_is_sent_and_the_paid_webhook_updates_the_balance_and_the_desk(
    site: Site, desk: dict[str, Any]
) -> None:
    world, avi = site.world, desk["avi"]
    sandbox = SandboxProvider(webhook_secret="whsec-test")
    site.context.payments = world.flow.payments = sandbox
    customer = await make_customer(world.database, world.tenant_id, "C-1", "Dana",
                                   ["+972502345678"], [{"currency": "ILS", "balance_minor": 9_900,
                                                        "status": "active"}])  # fmt: skip
    async with world.database.tenant_session(world.tenant_id) as session:
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
    agent = int(world.agents["avi"])
    watching = Subscriber(Viewer(agent, world.tenant_id, False))
    assert site.context.hub is not None
    await site.context.hub.attach(watching)
    await avi.call("PUT", f"/agents/{agent}/state", {"state": "available"})
    call = await world.call("0502345678")
    await world.until(lambda: world.connected_to(call) == str(agent), "connected")

    status, sent = await avi.call("POST", f"/calls/{call.channel_id}/payments/link",
                                  {"account_id": account})  # fmt: skip
    assert status == 201 and sent["status"] == "sent" and sent["to"] == "+9725•••5678"
    assert sent["url"].startswith("https://sandbox.ledgerline.invalid/pay/")
    async with world.database.tenant_session(world.tenant_id) as session:
        message = await session.scalar(select(OutboxMessage))
        payment = await session.scalar(select(Payment))
    assert message is not None and message.status == "sent" and sent["url"] in message.body
    assert payment is not None and (payment.status, payment.method) == ("pending", "link")

    body, headers = sandbox.settle(payment.provider_ref or "")
    status, answer = await post_webhook(site, body, headers)
    assert status == 200 and set(answer["outcomes"].values()) == {"applied"}
    replay = await post_webhook(site, body, headers)
    assert set(replay[1]["outcomes"].values()) == {"duplicate"}

    async with world.database.tenant_session(world.tenant_id) as session:
        assert await session.scalar(select(Payment.status)) == "succeeded"
        assert await session.scalar(select(Account.balance_minor)) == 0  # lowered once
    await world.until(lambda: not watching.queue.empty(), "the desk told")
    kinds = []
    while not watching.queue.empty():
        kinds.append(watching.queue.get_nowait()[1])
    paid = [e for e in kinds if e.type == "payment.status"]
    assert paid and paid[0].data["status"] == "succeeded" and paid[0].data["balance_minor"] == 0
    await site.context.hub.detach(watching)


async def test_webhooks_are_refused_unsigned_and_older_or_unknown_events_change_nothing(
    site: Site, desk: dict[str, Any]
) -> None:
    world = site.world
    sandbox = SandboxProvider(webhook_secret="whsec-test")
    site.context.payments = sandbox
    customer = await make_customer(world.database, world.tenant_id, "C-1", "Dana",
                                   ["+972502345678"], [{"currency": "ILS", "balance_minor": 500,
                                                        "status": "active"}])  # fmt: skip
    link = await sandbox.create_pay_link(amount_minor=500, currency="ILS", idempotency_key="k1",
                                         description="x", customer_ref="C-1")  # fmt: skip
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
        session.add(Payment(account_id=account, amount_minor=500, currency="ILS",
                            method="link", provider="sandbox", provider_ref=link.provider_ref,
                            idempotency_key="k1", status="pending"))  # fmt: skip
    now = datetime.now(UTC)

    def event(event_id: str, status: str, at: datetime) -> WebhookEvent:
        return WebhookEvent(event_id, f"pay_link.{status}", "pay_link", link.provider_ref,
                            status, at)  # fmt: skip

    body, headers = sandbox.webhook([event("ev-new", "succeeded", now)])
    assert (await post_webhook(site, body + b" ", headers))[0] == 400  # tampered
    assert (await post_webhook(site, body, {}))[0] == 400  # unsigned
    assert (await post_webhook(site, body, headers, provider="stripe"))[0] == 404
    assert (await post_webhook(site, body, headers))[0] == 200

    older, headers = sandbox.webhook([event("ev-old", "failed", now - timedelta(minutes=5)),
                                      WebhookEvent("ev-odd", "customer.updated", "customer",
                                                   "cus_1", None, now)])  # fmt: skip
    status, answer = await post_webhook(site, older, headers)
    assert status == 200 and answer["outcomes"] == {"ev-old": "stale", "ev-odd": "unknown_type"}
    async with world.database.tenant_session(world.tenant_id) as session:
        assert await session.scalar(select(Payment.status)) == "succeeded"  # not moved back
        assert await session.scalar(select(Account.balance_minor)) == 0
