"""Pay-by-link from the call, and the provider's webhooks completing it: signatures,
replays, out-of-order events, unknown types; the agent's desk updated live."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from billing_bridge.payments.gocardless_provider import GoCardlessProvider
from billing_bridge.payments.port import WebhookEvent
from billing_bridge.payments.sandbox import SIGNATURE_HEADER, SandboxProvider, sign
from billing_bridge.payments.stripe_provider import StripeProvider
from pbx.db.models import Account, OutboxMessage, Payment
from pbx.db.models import WebhookEvent as ReceivedEvent
from pbx.events.hub import Subscriber
from pbx.events.model import Viewer
from tests.factories import make_customer
from tests.http.conftest import Site
from tests.http.support import PREFIX
from tests.payments import fake_gocardless, fake_stripe


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


async def post_in_pieces(site: Site, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """The body sent chunked, a piece at a time, as a large delivery arrives over a network."""

    async def pieces():  # type: ignore[no-untyped-def]
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]
            await asyncio.sleep(0)

    url = f"{site.url}{PREFIX}/webhooks/sandbox"
    async with aiohttp.ClientSession() as http, http.post(url, data=pieces(),
                                                          headers=headers) as got:  # fmt: skip
        return got.status, await got.json()


def padded_delivery(sandbox: SandboxProvider, size: int) -> tuple[bytes, dict[str, str]]:
    """A correctly signed sandbox delivery of `size` bytes (JSON whitespace as padding)."""
    body, _ = sandbox.webhook([WebhookEvent("ev-big", "customer.updated", "customer", "cus_1",
                                            None, datetime.now(UTC))])  # fmt: skip
    body += b" " * (size - len(body))
    t = int(datetime.now(UTC).timestamp())
    return body, {SIGNATURE_HEADER: f"t={t},v1={sign(b'whsec-test', t, body)}"}


async def test_a_correctly_signed_large_body_is_read_whole_and_one_over_the_cap_is_413(
    site: Site,
) -> None:
    sandbox = SandboxProvider(webhook_secret="whsec-test")
    site.context.payments = sandbox

    for size in (700_000, 1_000_000):
        body, headers = padded_delivery(sandbox, size)
        status, answer = await post_in_pieces(site, body, headers)
        assert status == 200, answer
        assert answer["received"] == 1
    body, headers = padded_delivery(sandbox, 1_000_001)
    assert (await post_in_pieces(site, body, headers))[0] == 413  # chunked: no length given
    assert (await post_webhook(site, body, headers))[0] == 413  # Content-Length says so


@pytest.mark.parametrize("t", ["9" * 5000, "²", "1" * 400])
async def test_a_signature_timestamp_of_thousands_of_digits_is_400_without_any_secret(
    site: Site, t: str
) -> None:
    site.context.payments = SandboxProvider(webhook_secret="whsec-test")

    status, answer = await post_webhook(site, b'{"events": []}',
                                        {SIGNATURE_HEADER: f"t={t},v1={'0' * 64}"})  # fmt: skip

    assert status == 400 and answer["error"]["message"] == "signature did not verify"


async def test_a_signed_event_with_a_malformed_field_is_400_naming_the_field_and_changes_nothing(
    site: Site,
) -> None:
    sandbox = SandboxProvider(webhook_secret="whsec-test")
    site.context.payments = sandbox
    body = json.dumps({"events": [{"id": "e" * 10_000, "type": "payment.succeeded",
                                   "created": 1, "resource": "payment",
                                   "provider_ref": "sbx_pay_1", "status": "succeeded"}]}).encode()
    t = int(datetime.now(UTC).timestamp())

    status, answer = await post_webhook(
        site, body, {SIGNATURE_HEADER: f"t={t},v1={sign(b'whsec-test', t, body)}"}
    )

    assert status == 400
    assert answer["error"]["message"] == "signed, but malformed field events[0].id"
    async with site.world.database.system_session() as session:
        assert await session.scalar(select(func.count()).select_from(ReceivedEvent)) == 0


async def test_a_succeeded_payment_failed_by_a_later_event_is_held_until_a_supervisor_decides(
    site: Site, desk: dict[str, Any]
) -> None:
    world = site.world
    sandbox = SandboxProvider(webhook_secret="whsec-test")
    site.context.payments = sandbox
    customer = await make_customer(world.database, world.tenant_id, "C-1", "Dana",
                                   ["+972502345678"], [{"currency": "ILS", "balance_minor": 500,
                                                        "status": "active"}])  # fmt: skip
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
        session.add(Payment(account_id=account, amount_minor=500, currency="ILS", method="link",
                            provider="sandbox", provider_ref="sbx_link_1", idempotency_key="k1",
                            status="pending"))  # fmt: skip
    now = datetime.now(UTC)

    def event(event_id: str, status: str, at: datetime) -> WebhookEvent:
        return WebhookEvent(event_id, f"pay_link.{status}", "pay_link", "sbx_link_1", status, at)

    paid = sandbox.webhook([event("ev-paid", "succeeded", now - timedelta(seconds=1))])
    assert (await post_webhook(site, *paid))[1]["outcomes"] == {"ev-paid": "applied"}
    supervisors = Subscriber(Viewer(0, world.tenant_id, True))
    assert site.context.hub is not None
    await site.context.hub.attach(supervisors)
    failed = sandbox.webhook([event("ev-failed", "failed", now)])
    assert (await post_webhook(site, *failed))[1]["outcomes"] == {"ev-failed": "held"}
    told = None
    while told is None or told.type != "payment.held":
        told = (await asyncio.wait_for(supervisors.queue.get(), 10))[1]
    assert (told.data["status"], told.data["held_status"]) == ("succeeded", "failed")
    await site.context.hub.detach(supervisors)

    async def balance() -> tuple[str | None, int | None]:
        async with world.database.tenant_session(world.tenant_id) as session:
            return (await session.scalar(select(Payment.status)),
                    await session.scalar(select(Account.balance_minor)))  # fmt: skip

    assert await balance() == ("succeeded", 0)  # held: nothing undone, nothing applied
    assert (await desk["avi"].call("GET", "/payments/reviews"))[0] == 403
    status, listed = await desk["sam"].call("GET", "/payments/reviews")
    assert status == 200
    [held] = listed["reviews"]
    assert (held["from_status"], held["to_status"], held["event_id"]) == (
        "succeeded", "failed", "ev-failed")  # fmt: skip

    for missing in ("424242", "²", str(2**63)):
        assert (await desk["sam"].call("POST", f"/payments/reviews/{missing}/apply"))[0] == 404
    status, decided = await desk["sam"].call("POST", f"/payments/reviews/{held['review_id']}/apply")
    assert status == 200 and decided == {"review_id": held["review_id"], "decision": "applied",
                                         "payment_status": "failed", "balance_minor": 500}
    assert await balance() == ("failed", 500)
    again = await desk["sam"].call("POST", f"/payments/reviews/{held['review_id']}/dismiss")
    assert again[0] == 409
    assert (await desk["sam"].call("GET", "/payments/reviews"))[1] == {"reviews": []}


async def test_the_sandbox_endpoint_is_404_unless_the_sandbox_is_the_configured_provider(
    site: Site,
) -> None:
    signer = SandboxProvider(webhook_secret="whsec-test")
    body, headers = signer.webhook([WebhookEvent("ev-1", "pay_link.succeeded", "pay_link",
                                                 "sbx_link_1", "succeeded", datetime.now(UTC))])
    site.context.payments = GoCardlessProvider("token", webhook_secret="s")
    assert (await post_webhook(site, body, headers))[0] == 404
    site.context.payments = None
    assert (await post_webhook(site, body, headers))[0] == 404
    site.context.payments = signer
    assert (await post_webhook(site, body, headers))[0] == 200


@pytest.mark.parametrize(
    "event",
    [
        {"id": "evt_" + "1" * 10_000, "type": "payment_intent.succeeded", "created": 1,
         "data": {"object": {"id": "pi_1"}}},
        {"id": "evt_1", "type": "payment_intent.succeeded", "created": 2**80,
         "data": {"object": {"id": "pi_1"}}},
        {"id": "evt_1", "type": "payment_intent.succeeded", "created": 1,
         "data": {"object": [[[[["pi_1"]]]]]}},
        {"id": "evt_1", "type": ["x"], "created": 1, "data": {"object": {"id": "pi_1"}}},
    ],
)  # fmt: skip
async def test_a_correctly_signed_stripe_event_with_malformed_fields_is_400_not_500(
    site: Site, event: dict[str, Any]
) -> None:
    site.context.payments = stripe = StripeProvider(fake_stripe.API_KEY,
                                                    webhook_secret=fake_stripe.WEBHOOK_SECRET)
    body = json.dumps(event).encode()
    signed = {"Stripe-Signature": fake_stripe.sign(body)}
    try:
        status, answer = await post_webhook(site, body, signed, provider="stripe")
    finally:
        await stripe.aclose()

    assert status == 400 and answer["error"]["message"].startswith("signed, but malformed field")


@pytest.mark.parametrize(
    "events",
    [
        {"events": [{"id": 5, "created_at": "2026-03-02T10:15:00Z", "resource_type": "payments",
                     "action": "confirmed", "links": {"payment": "PM1"}}]},
        {"events": [{"id": "EV1", "created_at": "9" * 5000, "resource_type": "payments",
                     "action": "confirmed", "links": {"payment": "PM1"}}]},
        {"events": [{"id": "EV1", "created_at": "2026-03-02T10:15:00Z",
                     "resource_type": "payments", "action": "confirmed", "links": "PM1"}]},
        {"events": "x"},
    ],
)  # fmt: skip
async def test_a_correctly_signed_gocardless_webhook_with_malformed_fields_is_400_not_500(
    site: Site, events: dict[str, Any]
) -> None:
    site.context.payments = GoCardlessProvider(fake_gocardless.ACCESS_TOKEN,
                                               webhook_secret=fake_gocardless.WEBHOOK_SECRET)
    body = json.dumps(events).encode()
    signed = {"Webhook-Signature": fake_gocardless.sign(body)}

    status, answer = await post_webhook(site, body, signed, provider="gocardless")

    assert status == 400 and answer["error"]["message"].startswith("signed, but malformed field")
