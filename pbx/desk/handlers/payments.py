"""Payments in a call: a card keyed on the phone, or a payment link by SMS or email."""

from __future__ import annotations

from billing_bridge.payments.pay_links import mask
from pbx.desk.commands import Actor, SendPayLink, TakeCardPayment
from pbx.desk.errors import Conflict, Invalid, Unavailable
from pbx.desk.handlers.common import Ports, own_call
from pbx.desk.ports import CardOrder, Due, LiveCall, PayLinkOrder
from pbx.desk.results import CardPaymentStarted, PayLinkSent

NO_PROVIDER = "no payment provider is configured"


async def take_card_payment(
    ports: Ports, actor: Actor, command: TakeCardPayment
) -> CardPaymentStarted:
    """Starts the capture and returns: progress and the result reach the desk as events."""
    call = own_call(ports, actor, command.call_id)
    if not ports.calls.takes_cards:
        raise Unavailable(NO_PROVIDER, code="payments_unavailable")
    if command.invoice_id is None:
        due = await _amount(ports, call, command.account_id, command.amount_minor)
    else:
        due = await _invoice_amount(ports, call, command)
    order = CardOrder(command.account_id, due.amount_minor, due.currency, actor.user_id,
                      actor.label, command.invoice_id)  # fmt: skip
    ports.calls.start_card_capture(call.call_id, order)
    return CardPaymentStarted(due.amount_minor, due.currency)


async def send_pay_link(ports: Ports, actor: Actor, command: SendPayLink) -> PayLinkSent:
    """To the number calling (SMS) or the customer's address on file (email), unless the
    agent gives another."""
    call = own_call(ports, actor, command.call_id)
    if not ports.money.takes_payments:
        raise Unavailable(NO_PROVIDER, code="payments_unavailable")
    due = await _amount(ports, call, command.account_id, command.amount_minor)
    contact = await ports.money.contact(actor.tenant_id, call.customer_id)
    on_file = contact.email if command.channel == "email" else call.caller_number
    recipient = command.recipient or on_file
    if not recipient:
        raise Conflict(f"no {command.channel} recipient on file: give one")
    sent = await ports.money.send_pay_link(PayLinkOrder(
        actor.tenant_id, command.account_id, contact.ref, call.record_id, due.amount_minor,
        due.currency, command.channel, recipient, actor,
    ))  # fmt: skip
    return PayLinkSent(sent.payment_id, sent.url, sent.status, due.amount_minor, due.currency,
                       command.channel, mask(recipient))  # fmt: skip


async def _invoice_amount(ports: Ports, call: LiveCall, command: TakeCardPayment) -> Due:
    """What the named invoice still owes, or less; a Stripe invoice only whole."""
    assert command.invoice_id is not None
    invoice = await ports.money.invoice_due(call.tenant_id, command.account_id,
                                            call.customer_id, command.invoice_id)  # fmt: skip
    amount = command.amount_minor or invoice.outstanding_minor
    if amount > invoice.outstanding_minor:
        raise Invalid(f"amount_minor: more than invoice {invoice.invoice_id} still owes "
                      f"({invoice.outstanding_minor})", code="amount_minor")  # fmt: skip
    if invoice.whole_only and amount != invoice.outstanding_minor:
        raise Invalid(f"amount_minor: a Stripe invoice is paid whole "
                      f"({invoice.outstanding_minor})", code="amount_minor")  # fmt: skip
    return Due(amount, invoice.currency)


async def _amount(ports: Ports, call: LiveCall, account_id: int, asked: int | None) -> Due:
    """The amount asked for, or what is due on the caller's account; in its currency."""
    due = await ports.money.amount_due(call.tenant_id, account_id, call.customer_id)
    amount = asked or due.amount_minor
    if amount <= 0:
        raise Conflict("nothing is due on this account: give an amount")
    return Due(amount, due.currency)
