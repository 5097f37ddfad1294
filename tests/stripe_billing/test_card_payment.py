"""A card keyed in a call for a Stripe invoice pays that invoice at Stripe (Invoice.pay with
the card as the invoice customer's PaymentMethod), never a loose PaymentIntent beside it, and
the invoice is paid here in the payment's own transaction. Through the Asterisk simulator and
the fake Stripe API (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from billing_bridge.payments.stripe_provider import StripeProvider
from billing_bridge.stripe_billing.api import StripeBillingApi
from billing_bridge.stripe_billing.sync import sync_stripe_billing
from pbx.db.models import Account, Invoice, Payment
from pbx.desk.commands import Actor, TakeCardPayment
from tests.callflow.money_support import Events, connected_call, dana_answers, key_card, on_desk
from tests.callflow.world import World
from tests.payments import fake_stripe
from tests.payments.fake_stripe import FakeStripe
from tests.stripe_billing.conftest import Receiver

VISA, VISA_CVC, EXPIRY = "4242424242424242", "123", "1230"
DECLINED = "4000000000000002"
JAN_5 = int(datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp())
FEB_1 = int(datetime(2026, 2, 1, 9, 0, tzinfo=UTC).timestamp())


async def stripe_centre(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe,
    events: Events,
) -> tuple[int, Actor, dict[str, Any]]:  # fmt: skip
    """Dana, a Stripe customer, owes invoice OFEK-0001 (450.50 ILS, overdue), synced; agent
    dana answers her calls with Stripe as the payment provider."""
    dana = fake.add_customer(name="Dana Cohen", phone="+972502345678")
    invoice = fake.add_invoice(dana, 45_050, number="OFEK-0001", created=JAN_5, due_date=FEB_1)
    await sync_stripe_billing(world.database, api, "ofek", since=None,
                              started=datetime.now(UTC), actor="cli:test")  # fmt: skip
    agent = await dana_answers(world, provider, events)
    async with world.database.tenant_session(world.tenant_id) as session:
        account = await session.scalar(select(Account.id))
    assert account is not None
    return account, agent, invoice


async def pay_by_card(
    world: World, events: Events, account: int, actor: Actor, number: str,
    amount: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    before = len(events.of("payment.result"))
    call = await connected_call(world)
    await on_desk(world, TakeCardPayment(call.channel_id, account, amount), actor)
    await key_card(world, call, number, EXPIRY, VISA_CVC)
    # The result comes after the keypad's capture and three or four Stripe requests to the
    # local server, each in a thread: a bound for a machine whose cores are all taken.
    await world.until(lambda: len(events.of("payment.result")) > before, "the result",
                      within=60)  # fmt: skip
    result = events.of("payment.result")[-1]
    await call.hangup()
    return result


async def kept(world: World) -> tuple[Invoice, Payment, Account]:
    async with world.database.tenant_session(world.tenant_id) as session:
        invoice = await session.scalar(select(Invoice))
        payment = await session.scalar(select(Payment))
        account = await session.scalar(select(Account))
    assert invoice is not None and payment is not None and account is not None
    return invoice, payment, account


async def test_the_card_pays_the_stripe_invoice_at_stripe_and_here_in_one_go(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe
) -> None:
    events = Events()
    account, dana, at_stripe = await stripe_centre(world, api, provider, fake, events)

    result = await pay_by_card(world, events, account, dana, VISA)

    assert (result["status"], result["amount_minor"], result["card_last4"]) == (
        "succeeded", 45_050, "4242")  # fmt: skip
    assert at_stripe["status"] == "paid" and at_stripe["amount_remaining"] == 0
    assert fake.posts("/v1/payment_intents") == []  # no loose PaymentIntent
    [paid] = fake.posts(f"/v1/invoices/{at_stripe['id']}/pay")
    [card] = [o for o in fake.objects.values() if o.get("object") == "payment_method"]
    assert paid.params == {"payment_method": card["id"], "off_session": "true",
                           "expand": ["payments"]}  # fmt: skip
    assert card["customer"] == at_stripe["customer"]  # the invoice's own customer
    assert fake.posts("/v1/customers") == []
    [made] = fake.invoice_payments(at_stripe["id"])
    invoice, payment, balance = await kept(world)
    assert (invoice.status, invoice.outstanding_minor) == ("paid", 0)
    assert (payment.status, payment.invoice_id, payment.provider_ref) == (
        "succeeded", invoice.id, made["payment"]["payment_intent"])  # fmt: skip
    assert paid.headers["Idempotency-Key"] == payment.idempotency_key
    assert balance.balance_minor == 0


async def test_another_amount_is_an_ordinary_card_payment_and_the_invoice_stays_owed(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe
) -> None:
    events = Events()
    account, dana, at_stripe = await stripe_centre(world, api, provider, fake, events)

    result = await pay_by_card(world, events, account, dana, VISA, amount=10_000)

    assert result["status"] == "succeeded"
    assert len(fake.posts("/v1/payment_intents")) == 1
    assert [r for r in fake.requests if r.path.endswith("/pay")] == []
    assert at_stripe["status"] == "open"
    invoice, payment, _ = await kept(world)
    assert (invoice.status, invoice.outstanding_minor, payment.invoice_id) == (
        "open", 45_050, None)  # fmt: skip


async def test_a_declined_card_leaves_the_invoice_owed_at_stripe_and_here(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe
) -> None:
    events = Events()
    account, dana, at_stripe = await stripe_centre(world, api, provider, fake, events)

    result = await pay_by_card(world, events, account, dana, DECLINED)

    assert (result["status"], result["failure"]) == ("failed", "generic_decline")
    assert at_stripe["status"] == "open"
    assert fake.posts("/v1/payment_intents") == []
    invoice, payment, balance = await kept(world)
    assert (invoice.status, invoice.outstanding_minor) == ("open", 45_050)
    assert (payment.status, payment.invoice_id) == ("failed", invoice.id)
    assert balance.balance_minor == 45_050


async def test_an_invoice_changed_at_stripe_since_the_caller_was_told_is_not_charged(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe
) -> None:
    events = Events()
    account, dana, at_stripe = await stripe_centre(world, api, provider, fake, events)
    at_stripe["amount_remaining"] = 40_000  # changed at Stripe; no event has arrived yet

    result = await pay_by_card(world, events, account, dana, VISA)

    assert (result["status"], result["failure"]) == ("failed", "provider_error")
    assert fake.posts("/v1/payment_methods") == []
    assert fake.posts("/v1/payment_intents") == []
    assert at_stripe["status"] == "open"


async def test_a_second_invoice_paid_in_another_call_reuses_the_same_stripe_customer(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe
) -> None:
    events = Events()
    account, dana, first = await stripe_centre(world, api, provider, fake, events)
    second = fake.add_invoice(fake.objects[first["customer"]], 45_050, number="OFEK-0002",
                              created=FEB_1)  # fmt: skip
    await sync_stripe_billing(world.database, api, "ofek", since=None,
                              started=datetime.now(UTC), actor="cli:test")  # fmt: skip

    # Both are overdue: the desk's default is their sum, so the agent asks for one's amount.
    await pay_by_card(world, events, account, dana, VISA, amount=45_050)
    await pay_by_card(world, events, account, dana, VISA, amount=45_050)

    assert (first["status"], second["status"]) == ("paid", "paid")
    cards = [o for o in fake.objects.values() if o.get("object") == "payment_method"]
    assert [c["customer"] for c in cards] == [first["customer"], first["customer"]]
    assert fake.posts("/v1/customers") == [] and fake.posts("/v1/payment_intents") == []


async def test_stripes_invoice_paid_event_after_the_call_counts_the_payment_once(
    world: World, api: StripeBillingApi, provider: StripeProvider, fake: FakeStripe,
    receiver: Receiver,
) -> None:  # fmt: skip
    events = Events()
    account, dana, at_stripe = await stripe_centre(world, api, provider, fake, events)
    await pay_by_card(world, events, account, dana, VISA)
    later = int(datetime.now(UTC).timestamp()) + 1

    status, body = await receiver.post(
        fake_stripe.event("invoice.paid", at_stripe, ident="evt_paid", created=later)
    )

    assert status == 200 and body["outcomes"]["evt_paid"] in ("unchanged", "updated")
    invoice, _, balance = await kept(world)
    assert (invoice.status, invoice.outstanding_minor) == ("paid", 0)
    assert (balance.balance_minor, balance.reported_balance_minor) == (0, 0)
