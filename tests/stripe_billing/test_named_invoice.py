"""A card payment for the Stripe invoice the agent names pays that invoice at Stripe
(Invoice.pay), whichever of the account's invoices it is, and the invoice here in the
payment's transaction; the payment's event names it. Through the Asterisk simulator and the
fake Stripe API (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from billing_bridge.payments.stripe_provider import StripeProvider
from billing_bridge.stripe_billing.api import StripeBillingApi
from billing_bridge.stripe_billing.sync import sync_stripe_billing
from pbx.db.models import BillingEvent, Invoice, Payment
from pbx.desk.commands import Actor, TakeCardPayment
from pbx.desk.errors import Invalid
from tests.callflow.money_support import Events, connected_call, key_card, on_desk
from tests.callflow.world import World
from tests.payments.fake_stripe import FakeStripe
from tests.stripe_billing.test_card_payment import (
    DECLINED,
    EXPIRY,
    FEB_1,
    VISA,
    VISA_CVC,
    stripe_centre,
)

MAR_1 = int(datetime(2026, 3, 1, 9, 0, tzinfo=UTC).timestamp())


async def two_invoices(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe,
    events: Events,
) -> tuple[int, Actor, dict[str, Any], dict[str, Any], int]:  # fmt: skip
    """OFEK-0001 (450.50) and the newer OFEK-0002 (120.00) owed at Stripe and synced; the
    account, agent dana, both at Stripe, and OFEK-0002's id here."""
    account, dana, first = await stripe_centre(world, api, provider, fake, events)
    second = fake.add_invoice(fake.objects[first["customer"]], 12_000, number="OFEK-0002",
                              created=FEB_1, due_date=MAR_1)  # fmt: skip
    await sync_stripe_billing(world.database, api, "ofek", since=None,
                              started=datetime.now(UTC), actor="cli:test")  # fmt: skip
    async with world.database.tenant_session(world.tenant_id) as session:
        second_id = await session.scalar(
            select(Invoice.id).where(Invoice.provider_ref == second["id"])
        )
    assert second_id is not None
    return account, dana, first, second, second_id


async def pay_invoice(
    world: World, events: Events, account: int, actor: Actor, invoice_id: int, number: str
) -> dict[str, Any]:
    before = len(events.of("payment.result"))
    call = await connected_call(world)
    await on_desk(world, TakeCardPayment(call.channel_id, account, invoice_id=invoice_id), actor)
    await key_card(world, call, number, EXPIRY, VISA_CVC)
    # The result comes after the keypad's capture and three or four Stripe requests to the
    # local server, each in a thread: a bound for a machine whose cores are all taken.
    await world.until(lambda: len(events.of("payment.result")) > before, "the result",
                      within=60)  # fmt: skip
    await call.hangup()
    return events.of("payment.result")[-1]


async def invoices_and_payment(world: World) -> tuple[dict[str, Invoice], Payment]:
    async with world.database.tenant_session(world.tenant_id) as session:
        invoices = {i.provider_ref or "": i for i in await session.scalars(select(Invoice))}
        payment = await session.scalar(select(Payment))
    assert payment is not None
    return invoices, payment


async def test_the_named_stripe_invoice_is_paid_at_stripe_though_it_is_not_the_oldest(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe
) -> None:
    events = Events()
    account, dana, first, second, second_id = await two_invoices(world, api, provider, fake,
                                                                  events)  # fmt: skip

    result = await pay_invoice(world, events, account, dana, second_id, VISA)

    assert (result["status"], result["amount_minor"]) == ("succeeded", 12_000)
    assert (second["status"], first["status"]) == ("paid", "open")
    assert len(fake.posts(f"/v1/invoices/{second['id']}/pay")) == 1
    assert fake.posts("/v1/payment_intents") == []
    invoices, payment = await invoices_and_payment(world)
    assert (invoices[second["id"]].status, invoices[second["id"]].outstanding_minor) == (
        "paid", 0)  # fmt: skip
    assert invoices[first["id"]].outstanding_minor == 45_050
    assert (payment.status, payment.invoice_id) == ("succeeded", second_id)
    async with world.database.tenant_session(world.tenant_id) as session:
        event = await session.scalar(
            select(BillingEvent).where(BillingEvent.type == "payment.succeeded")
        )
    assert event is not None and event.data["invoice_ref"] == invoices[second["id"]].invoice_ref


async def test_a_declined_card_leaves_the_named_stripe_invoice_owed(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe
) -> None:
    events = Events()
    account, dana, _, second, second_id = await two_invoices(world, api, provider, fake,
                                                              events)  # fmt: skip

    result = await pay_invoice(world, events, account, dana, second_id, DECLINED)

    assert result["status"] == "failed" and second["status"] == "open"
    invoices, payment = await invoices_and_payment(world)
    assert (invoices[second["id"]].status, invoices[second["id"]].outstanding_minor) == (
        "open", 12_000)  # fmt: skip
    assert (payment.status, payment.invoice_id) == ("failed", second_id)


async def test_part_of_a_named_stripe_invoice_is_refused_as_stripe_pays_whole(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe
) -> None:
    events = Events()
    account, dana, _, second, second_id = await two_invoices(world, api, provider, fake,
                                                              events)  # fmt: skip
    call = await connected_call(world)

    with pytest.raises(Invalid) as refused:
        await on_desk(world, TakeCardPayment(call.channel_id, account, 5_000, second_id), dana)

    assert refused.value.code == "amount_minor" and second["status"] == "open"
    assert events.of("payment.progress") == [] and fake.posts("/v1/payment_methods") == []
