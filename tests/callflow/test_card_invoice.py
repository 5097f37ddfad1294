"""A card payment for an invoice the agent names (a local invoice, the sandbox provider):
what the invoice still owes goes down by the amount in the payment's own transaction, the
payment and its billing event name the invoice, and a declined card leaves it owed. Through
the Asterisk simulator (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from billing_bridge.events import changes
from billing_bridge.payments.ledger import record_card_payment
from billing_bridge.payments.port import ChargeResult, PaymentStatus
from billing_bridge.payments.sandbox import SandboxProvider
from pbx.db.database import Database
from pbx.db.models import Account, BillingEvent, Invoice, Payment
from pbx.desk.commands import Actor, TakeCardPayment
from pbx.desk.errors import Invalid
from pbx.desk.results import CardPaymentStarted
from tests.callflow.money_support import (
    Events,
    connected_call,
    key_card,
    money_centre,
    on_desk,
)
from tests.callflow.world import World
from tests.factories import make_customer, make_tenant

AMEX, AMEX_CVC, EXPIRY = "378282246310005", "7391", "1230"
DECLINED = "4000000000000002"


async def centre(world: World, events: Events) -> tuple[int, Actor, int]:
    """Dana owes invoice 450.50 ILS, overdue: her account, agent dana, the invoice's id."""
    account, dana = await money_centre(world, SandboxProvider(webhook_secret="s"), events,
                                       owed=45_050, status="overdue",
                                       due_on=date(2026, 1, 10))  # fmt: skip
    async with world.database.tenant_session(world.tenant_id) as session:
        invoice = await session.scalar(select(Invoice.id).where(Invoice.account_id == account))
    assert invoice is not None
    return account, dana, invoice


async def pay(
    world: World, events: Events, command: TakeCardPayment, actor: Actor, number: str,
    cvc: str = AMEX_CVC,
) -> dict[str, Any]:  # fmt: skip
    call = await connected_call(world)
    command = TakeCardPayment(call.channel_id, command.account_id, command.amount_minor,
                              command.invoice_id)  # fmt: skip
    await on_desk(world, command, actor)
    await key_card(world, call, number, EXPIRY, cvc)
    await world.until(lambda: events.of("payment.result"), "the result", within=10)
    await call.hangup()
    return events.of("payment.result")[-1]


async def kept(world: World) -> tuple[Invoice, Payment, list[BillingEvent]]:
    async with world.database.tenant_session(world.tenant_id) as session:
        invoice = await session.scalar(select(Invoice))
        payment = await session.scalar(select(Payment))
        rows = list(await session.scalars(select(BillingEvent).order_by(BillingEvent.seq)))
    assert invoice is not None and payment is not None
    return invoice, payment, [row for row in rows if row.type.startswith("payment.")]


async def test_part_of_a_named_invoice_paid_by_card_lowers_what_it_owes_and_names_it(
    world: World,
) -> None:
    events = Events()
    account, dana, invoice_id = await centre(world, events)

    result = await pay(world, events, TakeCardPayment("-", account, 10_000, invoice_id), dana,
                      AMEX)  # fmt: skip

    assert (result["status"], result["amount_minor"]) == ("succeeded", 10_000)
    invoice, payment, [event] = await kept(world)
    assert (invoice.status, invoice.outstanding_minor) == ("open", 35_050)
    assert (payment.status, payment.invoice_id) == ("succeeded", invoice_id)
    assert event.type == "payment.succeeded"
    assert (event.data["invoice_id"], event.data["invoice_ref"]) == (
        invoice_id, invoice.invoice_ref)  # fmt: skip


async def test_a_named_invoice_paid_in_full_is_paid(world: World) -> None:
    events = Events()
    account, dana, invoice_id = await centre(world, events)

    result = await pay(world, events, TakeCardPayment("-", account, invoice_id=invoice_id),
                       dana, AMEX)  # fmt: skip

    assert (result["status"], result["amount_minor"]) == ("succeeded", 45_050)
    invoice, _, _ = await kept(world)
    assert (invoice.status, invoice.outstanding_minor) == ("paid", 0)


async def test_a_declined_card_leaves_the_named_invoice_owed(world: World) -> None:
    events = Events()
    account, dana, invoice_id = await centre(world, events)

    result = await pay(world, events, TakeCardPayment("-", account, 10_000, invoice_id), dana,
                       DECLINED, cvc="123")  # fmt: skip

    assert result["status"] == "failed"
    invoice, payment, [event] = await kept(world)
    assert (invoice.status, invoice.outstanding_minor) == ("open", 45_050)
    assert (payment.status, payment.invoice_id) == ("failed", invoice_id)
    assert (event.type, event.data["invoice_id"]) == ("payment.failed", invoice_id)


async def test_more_than_the_named_invoice_owes_is_refused_before_the_caller_is_asked(
    world: World,
) -> None:
    events = Events()
    account, dana, invoice_id = await centre(world, events)
    call = await connected_call(world)

    with pytest.raises(Invalid) as refused:
        await on_desk(world, TakeCardPayment(call.channel_id, account, 45_051, invoice_id),
                      dana)  # fmt: skip
    started = await on_desk(world, TakeCardPayment(call.channel_id, account, 45_050,
                                                   invoice_id), dana)  # fmt: skip

    assert refused.value.code == "amount_minor"
    assert started == CardPaymentStarted(45_050, "ILS")


async def test_an_invoice_already_paid_or_of_another_account_is_refused(world: World) -> None:
    events = Events()
    account, dana, _ = await centre(world, events)
    other = await make_customer(world.database, world.tenant_id, "C-2", "Avi Levi", [], [{
        "currency": "ILS", "balance_minor": 500,
        "invoices": [{"amount_minor": 500, "due_on": date(2026, 1, 10), "status": "open"},
                     {"amount_minor": 700, "outstanding_minor": 0, "status": "paid",
                      "due_on": date(2026, 1, 10)}],
    }])  # fmt: skip
    async with world.database.tenant_session(world.tenant_id) as session:
        theirs = list(await session.scalars(
            select(Invoice.id).join(Account).where(Account.customer_id == other)
        ))  # fmt: skip
        await session.execute(
            Invoice.__table__.update().where(Invoice.id == theirs[1])
            .values(account_id=account)
        )  # fmt: skip
        await session.commit()
    call = await connected_call(world)

    for invoice in theirs:  # another account's open invoice; a paid one of this account
        with pytest.raises(Invalid) as refused:
            await on_desk(world, TakeCardPayment(call.channel_id, account, invoice_id=invoice),
                          dana)  # fmt: skip
        assert refused.value.code == "invoice"
    assert events.of("payment.progress") == []


async def test_the_invoice_moves_in_the_payments_transaction_or_not_at_all(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    await make_customer(database, tenant, "C-1", "Dana Cohen", [], [{
        "currency": "ILS", "balance_minor": 45_050,
        "invoices": [{"amount_minor": 45_050, "due_on": date(2026, 1, 10), "status": "open"}],
    }])  # fmt: skip
    async with database.tenant_session(tenant) as session:
        account, invoice_id = (await session.execute(select(Invoice.account_id, Invoice.id))).one()

    async def fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the event could not be written")

    monkeypatch.setattr(changes, "payment_moved", fails)
    charged = ChargeResult(PaymentStatus.SUCCEEDED, provider_ref="ch_1", card_last4="0005")
    with pytest.raises(RuntimeError):
        await record_card_payment(
            database, tenant, account_id=account, call_id=None, amount_minor=10_000,
            currency="ILS", provider="sandbox", idempotency_key="k-1", result=charged,
            actor_id=None, actor_label="test", invoice_id=invoice_id,
        )  # fmt: skip

    async with database.tenant_session(tenant) as session:
        invoice = await session.get(Invoice, invoice_id)
        assert invoice is not None and invoice.outstanding_minor == 45_050
        assert await session.scalar(select(Payment.id)) is None
