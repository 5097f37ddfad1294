"""Stripe's Customer and Invoice objects read into Ledgerline's terms (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from billing_bridge.payments.port import WebhookMalformed
from billing_bridge.stripe_billing.mapping import (
    Business,
    WrongCurrency,
    customer_record,
    invoice_record,
)

OFEK = Business(tenant_id=1, region="IL", currency="ILS", timezone="Asia/Jerusalem")
# 23:30 UTC on 31 January is already 1 February in Jerusalem.
LATE_JAN_31 = int(datetime(2026, 1, 31, 23, 30, tzinfo=UTC).timestamp())
INVOICE = {"id": "in_1", "object": "invoice", "customer": "cus_1", "number": "OFEK-0001",
           "status": "open", "currency": "ils", "amount_due": 12_500,
           "amount_remaining": 12_500, "created": LATE_JAN_31, "due_date": None}  # fmt: skip


def test_dates_are_the_business_calendar_and_a_missing_due_date_is_thirty_days_on() -> None:
    invoice = invoice_record(INVOICE, OFEK, 7)

    assert invoice is not None
    assert (invoice.issued_on, invoice.due_on) == (date(2026, 2, 1), date(2026, 3, 3))
    assert (invoice.ref, invoice.currency, invoice.source_version) == ("OFEK-0001", "ILS", 7)


@pytest.mark.parametrize(
    ("status", "kept", "outstanding"),
    [("open", "open", 12_500), ("uncollectible", "open", 12_500), ("paid", "paid", 0),
     ("void", "void", 0)],
)  # fmt: skip
def test_statuses_map_and_only_an_open_invoice_is_owed(
    status: str, kept: str, outstanding: int
) -> None:
    invoice = invoice_record(INVOICE | {"status": status}, OFEK, 1)

    assert invoice is not None and (invoice.status, invoice.outstanding_minor) == (
        kept, outstanding)  # fmt: skip


def test_a_draft_is_not_kept_and_its_id_is_the_ref_once_it_has_no_number() -> None:
    assert invoice_record(INVOICE | {"status": "draft"}, OFEK, 1) is None
    unnumbered = invoice_record(INVOICE | {"number": None}, OFEK, 1)
    assert unnumbered is not None and unnumbered.ref == "in_1"


def test_another_currency_is_refused_by_name() -> None:
    with pytest.raises(WrongCurrency, match="USD"):
        invoice_record(INVOICE | {"currency": "usd"}, OFEK, 1)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"amount_due": "12500"}, "data.object.amount_due"),
     ({"amount_remaining": True}, "data.object.amount_remaining"),
     ({"amount_due": 2**63}, "data.object.amount_due"),
     ({"amount_due": -1}, "data.object.amount_due"),
     ({"created": "yesterday"}, "data.object.created"),
     ({"due_date": 1e12}, "data.object.due_date"),
     ({"customer": 5}, "data.object.customer"),
     ({"id": "in_" + "9" * 80}, "data.object.id"),
     ({"number": "N\x00"}, "data.object.number")],
)  # fmt: skip
def test_a_malformed_invoice_field_is_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(WebhookMalformed) as refused:
        invoice_record(INVOICE | change, OFEK, 1)

    assert refused.value.field == field


def test_a_customer_is_read_with_its_phone_in_e164_and_metadata_ignored() -> None:
    customer = customer_record(
        {"id": "cus_1", "name": "  Dana\u202e Levi ", "email": "dana@example.co.il",
         "phone": "050-234-5678", "metadata": {"vip": "yes"},
         "address": {"line1": "12 Herzl St", "city": "Haifa", "postal_code": "3303112",
                     "country": "il"}},
        OFEK, 3,
    )  # fmt: skip

    assert (customer.name, customer.email, customer.phone) == (
        "Dana Levi", "dana@example.co.il", "+972502345678")  # fmt: skip
    assert (customer.address.line1, customer.address.country) == ("12 Herzl St", "IL")
    assert not customer.deleted and not customer.phone_unusable


def test_a_card_number_typed_as_a_name_is_masked() -> None:
    customer = customer_record({"id": "cus_1", "name": "Pay 4242 4242 4242 4242"}, OFEK, 1)

    assert "4242 4242 4242 4242" not in customer.name
    assert customer.name.endswith("4242")
