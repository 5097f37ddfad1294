"""An event's object as its JSON: every field in order, a card as an object of its own."""

from __future__ import annotations

from dataclasses import asdict, replace

from billing_bridge.events.objects import Card, PaymentObject, as_dict

PAYMENT = PaymentObject(
    id=1, account_id=2, account_ref="A-2", customer_id=3, customer_ref="C-3", invoice_id=None,
    invoice_ref=None, amount_minor=1250, refunded_minor=0, currency="EUR", status="succeeded",
    method="card", provider="stripe", provider_ref="pi_1", failure_reason=None,
    card=Card("visa", "4242"), call_id=None, created_at="2026-12-08T02:00:00Z", status_at=None,
)  # fmt: skip


def test_an_object_is_its_fields_in_order_with_a_card_as_an_object() -> None:
    written = as_dict(PAYMENT)

    assert written == asdict(PAYMENT)
    assert list(written) == list(asdict(PAYMENT))
    assert written["card"] == {"brand": "visa", "last4": "4242"}
    assert written["object"] == "payment"
    assert as_dict(replace(PAYMENT, card=None))["card"] is None


def test_the_dict_is_the_events_own() -> None:
    written = as_dict(PAYMENT)
    written["card"]["last4"] = "0000"

    assert PAYMENT.card == Card("visa", "4242")
    assert as_dict(PAYMENT)["card"] == {"brand": "visa", "last4": "4242"}
