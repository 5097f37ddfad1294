"""The Stripe adapter against the local fake Stripe API, checking what the fake received."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import stripe

from billing_bridge.payments.port import (
    BankAccount,
    CardDetails,
    MandateStatus,
    PaymentProvider,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
    WebhookMalformed,
    WebhookRejected,
)
from billing_bridge.payments.stripe_provider import StripeProvider
from tests.payments import fake_stripe
from tests.payments.fake_stripe import FakeStripe

GOOD_CARD = "4242424242424242"
CVC = "987"


def card(number: str = GOOD_CARD) -> CardDetails:
    return CardDetails(number, 12, 2034, CVC)


async def charge(provider: StripeProvider, number: str = GOOD_CARD, key: str = "pay-1") -> Any:
    return await provider.charge_card(
        card(number),
        amount_minor=1250,
        currency="EUR",
        idempotency_key=key,
        description="Invoice 1001",
        customer_ref="cust-42",
    )


# -- charge_card ----------------------------------------------------------------------------


async def test_a_phone_card_payment_is_one_confirmed_moto_payment_intent(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe
) -> None:
    result = await charge(stripe_provider)

    assert result.status is PaymentStatus.SUCCEEDED
    assert result.provider_ref.startswith("pi_")
    assert (result.card_last4, result.card_brand) == ("4242", "visa")
    [sent] = fake_stripe_api.posts("/v1/payment_intents")
    assert sent.headers["Authorization"] == f"Bearer {fake_stripe.API_KEY}"
    assert sent.headers["Idempotency-Key"] == "pay-1"
    assert sent.headers["Stripe-Version"]
    assert sent.params["amount"] == "1250"
    assert sent.params["currency"] == "eur"
    assert sent.params["confirm"] == "true"
    assert sent.params["payment_method_options"] == {"card": {"moto": "true"}}
    assert sent.params["payment_method_data"] == {
        "type": "card",
        "card": {"number": GOOD_CARD, "exp_month": "12", "exp_year": "2034", "cvc": CVC},
    }
    assert sent.params["payment_method_types"] == ["card"]
    assert sent.params["description"] == "Invoice 1001"
    assert sent.params["metadata"] == {"customer_ref": "cust-42"}


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
    ],
)
async def test_a_declined_card_is_a_failed_charge_with_the_decline_code(
    stripe_provider: StripeProvider, number: str, code: str
) -> None:
    result = await charge(stripe_provider, number)

    assert result.status is PaymentStatus.FAILED
    assert result.failure_code == code
    assert result.failure_message
    assert result.provider_ref.startswith("pi_")
    assert result.card_last4 == number[-4:]


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_provider_outage_or_rate_limit_is_unavailable(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe, status: int
) -> None:
    fake_stripe_api.fail_next(status)

    with pytest.raises(ProviderUnavailable):
        await charge(stripe_provider)

    assert fake_stripe_api.charges() == []


async def test_an_unreachable_stripe_is_unavailable(stripe_url: str) -> None:
    provider = StripeProvider(
        fake_stripe.API_KEY,
        webhook_secret="whsec_x",
        api_base="http://127.0.0.1:9",  # discard port: nothing listens
        max_network_retries=0,
    )
    try:
        with pytest.raises(ProviderUnavailable):
            await charge(provider)
    finally:
        await provider.aclose()


async def test_a_wrong_api_key_is_a_provider_error_not_a_retry(stripe_url: str) -> None:
    provider = StripeProvider("sk_test_wrong", webhook_secret="whsec_x", api_base=stripe_url)
    try:
        with pytest.raises(ProviderError) as raised:
            await charge(provider)
    finally:
        await provider.aclose()
    assert not isinstance(raised.value, ProviderUnavailable)
    assert "401" in str(raised.value)


async def test_the_same_idempotency_key_twice_charges_once(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe
) -> None:
    first = await charge(stripe_provider, key="pay-7")
    again = await charge(stripe_provider, key="pay-7")

    assert again.provider_ref == first.provider_ref
    assert len(fake_stripe_api.charges()) == 1


async def test_a_lost_response_is_retried_by_the_sdk_with_the_same_key_and_charges_once(
    stripe_url: str, fake_stripe_api: FakeStripe
) -> None:
    provider = StripeProvider(
        fake_stripe.API_KEY, webhook_secret="whsec_x", api_base=stripe_url, max_network_retries=2
    )
    fake_stripe_api.drop_after_processing.append("/v1/payment_intents")
    try:
        result = await charge(provider, key="pay-9")
    finally:
        await provider.aclose()

    assert result.status is PaymentStatus.SUCCEEDED
    sent = fake_stripe_api.posts("/v1/payment_intents")
    assert [r.headers["Idempotency-Key"] for r in sent] == ["pay-9", "pay-9"]
    assert len(fake_stripe_api.charges()) == 1


async def test_a_reused_key_with_another_amount_is_refused(
    stripe_provider: StripeProvider,
) -> None:
    await charge(stripe_provider, key="pay-3")

    with pytest.raises(ProviderError, match="IdempotencyError"):
        await stripe_provider.charge_card(
            card(),
            amount_minor=99,
            currency="EUR",
            idempotency_key="pay-3",
            description="Invoice 1001",
            customer_ref="cust-42",
        )


async def test_console_debug_logging_of_the_sdk_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stripe, "log", "debug")

    with pytest.raises(ProviderError, match="STRIPE_LOG"):
        StripeProvider(fake_stripe.API_KEY, webhook_secret="whsec_x")


async def test_no_log_record_exception_or_repr_carries_the_card_number_or_cvc(
    stripe_url: str,
    fake_stripe_api: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("stripe", "aiohttp", "billing_bridge"):
        caplog.set_level(logging.DEBUG, logger=name)
    provider = StripeProvider(
        fake_stripe.API_KEY, webhook_secret="whsec_x", api_base=stripe_url, max_network_retries=0
    )
    seen: list[str] = []
    try:
        results = [
            await charge(provider, GOOD_CARD, key="a"),
            await charge(provider, "4000000000000002", key="b"),
        ]
        seen += [repr(r) for r in results]
        fake_stripe_api.fail_next(500)
        fake_stripe_api.fail_next(400, path="/nowhere")
        for key, number in (("c", GOOD_CARD), ("b", GOOD_CARD)):  # outage; reused key
            with pytest.raises(ProviderError) as raised:
                await charge(provider, number, key=key)
            seen += [str(raised.value), repr(raised.value), repr(raised.value.__cause__)]
    finally:
        await provider.aclose()

    assert len(fake_stripe_api.posts("/v1/payment_intents")) == 4  # the card data did travel
    records = [r.getMessage() for r in caplog.records]
    assert any("Stripe API response" in m for m in records)  # the SDK did log, at INFO
    captured = capsys.readouterr()
    haystack = "\n".join([*records, caplog.text, *seen, captured.out, captured.err])
    for secret in (GOOD_CARD, "4000000000000002", CVC):
        assert secret not in haystack


# -- charge_mandate -------------------------------------------------------------------------


async def test_a_sepa_mandate_is_charged_off_session_and_is_pending(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe
) -> None:
    pm = fake_stripe_api.add_payment_method("sepa_debit", customer="cus_1")
    mandate = fake_stripe_api.add_mandate(pm)

    result = await stripe_provider.charge_mandate(
        mandate["id"],
        amount_minor=4500,
        currency="EUR",
        idempotency_key="dd-1",
        description="March instalment",
    )

    assert result.status is PaymentStatus.PENDING
    [looked_up] = [r for r in fake_stripe_api.requests if r.method == "GET"]
    assert looked_up.path == f"/v1/mandates/{mandate['id']}"
    assert looked_up.params["expand"] == ["payment_method"]
    [sent] = fake_stripe_api.posts("/v1/payment_intents")
    assert sent.headers["Idempotency-Key"] == "dd-1"
    assert {k: sent.params[k] for k in ("off_session", "confirm", "mandate", "customer")} == {
        "off_session": "true",
        "confirm": "true",
        "mandate": mandate["id"],
        "customer": "cus_1",
    }
    assert sent.params["payment_method"] == pm["id"]
    assert sent.params["payment_method_types"] == ["sepa_debit"]
    assert (sent.params["amount"], sent.params["currency"]) == ("4500", "eur")


async def test_a_card_on_file_is_charged_off_session(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe
) -> None:
    pm = fake_stripe_api.add_payment_method("card", customer="cus_2")

    result = await stripe_provider.charge_mandate(
        pm["id"], amount_minor=100, currency="GBP", idempotency_key="k", description="d"
    )

    assert result.status is PaymentStatus.SUCCEEDED
    [sent] = fake_stripe_api.posts("/v1/payment_intents")
    assert "mandate" not in sent.params
    assert sent.params["payment_method_types"] == ["card"]


async def test_an_unknown_mandate_is_a_provider_error(stripe_provider: StripeProvider) -> None:
    with pytest.raises(ProviderError, match="resource_missing"):
        await stripe_provider.charge_mandate(
            "mandate_nope", amount_minor=1, currency="EUR", idempotency_key="k", description="d"
        )


# -- links ----------------------------------------------------------------------------------


async def test_a_pay_link_is_a_checkout_session_in_payment_mode(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe
) -> None:
    link = await stripe_provider.create_pay_link(
        amount_minor=2000,
        currency="GBP",
        idempotency_key="link-1",
        description="Invoice 7",
        customer_ref="cust-9",
    )

    assert link.url.startswith("https://checkout.stripe.com/")
    assert link.provider_ref.startswith("cs_test_")
    assert link.expires_at is not None and link.expires_at.tzinfo is not None
    [sent] = fake_stripe_api.posts("/v1/checkout/sessions")
    assert sent.headers["Idempotency-Key"] == "link-1"
    assert sent.params["mode"] == "payment"
    assert sent.params["line_items"] == [
        {
            "price_data": {
                "currency": "gbp",
                "unit_amount": "2000",
                "product_data": {"name": "Invoice 7"},
            },
            "quantity": "1",
        }
    ]
    assert sent.params["success_url"] == "https://pay.example.test/done"
    assert sent.params["cancel_url"] == "https://pay.example.test/cancelled"
    assert sent.params["client_reference_id"] == "cust-9"


@pytest.mark.parametrize(
    ("scheme", "method_type"),
    [("sepa_core", "sepa_debit"), ("bacs", "bacs_debit"), ("ach", "us_bank_account")],
)
async def test_a_mandate_link_is_a_setup_mode_checkout_for_a_new_customer(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe, scheme: str, method_type: str
) -> None:
    result = await stripe_provider.create_mandate_link(
        scheme=scheme, idempotency_key="ml-1", customer_ref="cust-3", customer_name="Ana Lind"
    )

    assert result.status is MandateStatus.PENDING
    assert result.scheme == scheme
    assert result.setup_url and result.setup_url.startswith("https://checkout.stripe.com/")
    [customer] = fake_stripe_api.posts("/v1/customers")
    assert customer.params == {"name": "Ana Lind", "metadata": {"customer_ref": "cust-3"}}
    assert customer.headers["Idempotency-Key"] == "ml-1:customer"
    [sent] = fake_stripe_api.posts("/v1/checkout/sessions")
    assert sent.params["mode"] == "setup"
    assert sent.params["payment_method_types"] == [method_type]
    assert sent.params["customer"].startswith("cus_")
    assert sent.headers["Idempotency-Key"] == "ml-1"


async def test_a_scheme_stripe_does_not_offer_is_a_provider_error(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe
) -> None:
    with pytest.raises(ProviderError, match="masav"):
        await stripe_provider.create_mandate_link(
            scheme="masav", idempotency_key="k", customer_ref="c", customer_name="n"
        )
    assert fake_stripe_api.requests == []


# -- create_mandate (bank details by phone) ---------------------------------------------------


async def test_sepa_bank_details_by_phone_give_an_active_mandate_with_offline_consent(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe
) -> None:
    account = BankAccount("DE", "Jonas Weber", iban="DE89370400440532013000")

    result = await stripe_provider.create_mandate(
        account, scheme="sepa_core", idempotency_key="m-1", customer_ref="cust-5"
    )

    assert result.status is MandateStatus.ACTIVE
    assert result.provider_ref.startswith("mandate_")
    [sent] = fake_stripe_api.posts("/v1/setup_intents")
    assert sent.headers["Idempotency-Key"] == "m-1"
    assert sent.params["confirm"] == "true"
    assert sent.params["usage"] == "off_session"
    assert sent.params["mandate_data"] == {"customer_acceptance": {"type": "offline"}}
    assert sent.params["payment_method_data"] == {
        "type": "sepa_debit",
        "sepa_debit": {"iban": "DE89370400440532013000"},
        "billing_details": {"name": "Jonas Weber"},
    }
    assert sent.params["customer"].startswith("cus_")


async def test_bacs_bank_details_give_a_pending_mandate(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe
) -> None:
    account = BankAccount("GB", "Ann Holt", bank_code="108800", account_number="00012345",
                          email="ann@example.com")  # fmt: skip

    result = await stripe_provider.create_mandate(
        account, scheme="bacs", idempotency_key="m-2", customer_ref="cust-6"
    )

    assert result.status is MandateStatus.PENDING
    [sent] = fake_stripe_api.posts("/v1/setup_intents")
    assert sent.params["payment_method_data"]["billing_details"] == {
        "name": "Ann Holt", "email": "ann@example.com"}  # fmt: skip
    assert sent.params["payment_method_data"]["bacs_debit"] == {
        "sort_code": "108800",
        "account_number": "00012345",
    }


async def test_ach_bank_details_wait_for_micro_deposits(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe
) -> None:
    account = BankAccount("US", "Sam Roe", bank_code="110000000", account_number="000123456789")

    result = await stripe_provider.create_mandate(
        account, scheme="ach", idempotency_key="m-3", customer_ref="cust-7"
    )

    assert result.status is MandateStatus.PENDING
    assert result.provider_ref.startswith("seti_")
    [sent] = fake_stripe_api.posts("/v1/setup_intents")
    assert sent.params["payment_method_data"]["us_bank_account"] == {
        "routing_number": "110000000",
        "account_number": "000123456789",
        "account_holder_type": "individual",
    }


async def test_missing_bank_details_are_a_provider_error_naming_the_parameter(
    stripe_provider: StripeProvider,
) -> None:
    with pytest.raises(ProviderError, match=r"param payment_method_data\[sepa_debit\]\[iban\]"):
        await stripe_provider.create_mandate(
            BankAccount("DE", "No Iban"), scheme="sepa_core", idempotency_key="k", customer_ref="c"
        )


# -- webhooks -------------------------------------------------------------------------------


def event(kind: str, obj: dict[str, Any], *, ident: str = "evt_1") -> bytes:
    payload = {"id": ident, "object": "event", "type": kind, "created": 1_700_000_000}
    return json.dumps(payload | {"data": {"object": obj}}).encode()


def signed(body: bytes, **kwargs: Any) -> dict[str, str]:
    return {"Stripe-Signature": fake_stripe.sign(body, **kwargs)}


def test_a_signed_event_is_accepted_and_normalised(stripe_provider: StripeProvider) -> None:
    body = event(
        "payment_intent.succeeded",
        {"id": "pi_1", "object": "payment_intent", "metadata": {"customer_ref": "cust-1"}},
    )

    [parsed] = stripe_provider.parse_webhook(body, signed(body))

    assert (parsed.event_id, parsed.type, parsed.resource) == (
        "evt_1",
        "payment_intent.succeeded",
        "payment",
    )
    assert (parsed.provider_ref, parsed.status) == ("pi_1", "succeeded")
    assert parsed.occurred_at.timestamp() == 1_700_000_000
    assert parsed.occurred_at.tzinfo is not None
    assert parsed.details == {"customer_ref": "cust-1"}


def test_the_header_is_found_whatever_its_case(stripe_provider: StripeProvider) -> None:
    body = event("payment_intent.processing", {"id": "pi_2"})
    headers = {"stripe-signature": fake_stripe.sign(body)}

    [parsed] = stripe_provider.parse_webhook(body, headers)

    assert parsed.status == "pending"


def test_a_tampered_body_is_rejected(stripe_provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", {"id": "pi_1"})
    headers = signed(body)

    with pytest.raises(WebhookRejected):
        stripe_provider.parse_webhook(body.replace(b"pi_1", b"pi_2"), headers)


def test_a_signature_with_another_secret_is_rejected(stripe_provider: StripeProvider) -> None:
    body = event("payment_intent.succeeded", {"id": "pi_1"})

    with pytest.raises(WebhookRejected):
        stripe_provider.parse_webhook(body, signed(body, secret="whsec_someone_else"))


def test_a_signature_older_than_five_minutes_is_rejected(
    stripe_provider: StripeProvider,
) -> None:
    body = event("payment_intent.succeeded", {"id": "pi_1"})

    with pytest.raises(WebhookRejected):
        stripe_provider.parse_webhook(body, signed(body, timestamp=int(time.time()) - 301))
    assert stripe_provider.parse_webhook(body, signed(body, timestamp=int(time.time()) - 200))


def test_a_missing_signature_is_rejected(stripe_provider: StripeProvider) -> None:
    with pytest.raises(WebhookRejected):
        stripe_provider.parse_webhook(event("payment_intent.succeeded", {"id": "pi_1"}), {})


@pytest.mark.parametrize(
    ("kind", "obj", "resource", "ref", "status", "details"),
    [
        (
            "payment_intent.payment_failed",
            {"id": "pi_3", "last_payment_error": {"code": "card_declined",
                                                  "decline_code": "insufficient_funds"}},
            "payment", "pi_3", "failed", {"failure_code": "insufficient_funds"},
        ),
        ("payment_intent.processing", {"id": "pi_4"}, "payment", "pi_4", "pending", {}),
        (
            "setup_intent.succeeded",
            {"id": "seti_1", "mandate": "mandate_1", "payment_method": "pm_1",
             "payment_method_types": ["sepa_debit"]},
            "mandate", "mandate_1", "active", {"setup_intent": "seti_1", "payment_method": "pm_1"},
        ),
        (
            "setup_intent.succeeded",
            {"id": "seti_2", "mandate": "mandate_2", "payment_method_types": ["bacs_debit"]},
            "mandate", "mandate_2", "pending", {"setup_intent": "seti_2"},
        ),
        ("mandate.updated", {"id": "mandate_3", "status": "active"}, "mandate", "mandate_3",
         "active", {}),
        ("mandate.updated", {"id": "mandate_4", "status": "inactive"}, "mandate", "mandate_4",
         "cancelled", {}),
        ("mandate.updated", {"id": "mandate_5", "status": "pending"}, "mandate", "mandate_5",
         "pending", {}),
        (
            "checkout.session.completed",
            {"id": "cs_1", "mode": "payment", "payment_status": "paid", "payment_intent": "pi_9",
             "client_reference_id": "cust-2"},
            "pay_link", "cs_1", "succeeded", {"payment_intent": "pi_9", "customer_ref": "cust-2"},
        ),
        (
            "checkout.session.completed",
            {"id": "cs_2", "mode": "payment", "payment_status": "unpaid"},
            "pay_link", "cs_2", "pending", {},
        ),
        (
            "checkout.session.completed",
            {"id": "cs_3", "mode": "setup", "setup_intent": "seti_7"},
            "mandate", "cs_3", "pending", {"setup_intent": "seti_7"},
        ),
    ],
)  # fmt: skip
def test_each_known_event_type_is_normalised(
    stripe_provider: StripeProvider,
    kind: str,
    obj: dict[str, Any],
    resource: str,
    ref: str,
    status: str,
    details: dict[str, str],
) -> None:
    body = event(kind, obj)

    [parsed] = stripe_provider.parse_webhook(body, signed(body))

    assert (parsed.resource, parsed.provider_ref, parsed.status) == (resource, ref, status)
    assert dict(parsed.details) == details
    assert parsed.raw_type_known


def test_an_unknown_event_type_is_passed_on_as_unknown(stripe_provider: StripeProvider) -> None:
    body = event("charge.captured", {"id": "ch_1", "object": "charge"})

    [parsed] = stripe_provider.parse_webhook(body, signed(body))

    assert not parsed.raw_type_known
    assert (parsed.type, parsed.resource, parsed.provider_ref, parsed.status) == (
        "charge.captured",
        "charge",
        "ch_1",
        None,
    )


def test_the_adapter_is_a_payment_provider(stripe_provider: StripeProvider) -> None:
    provider: PaymentProvider = stripe_provider  # checked by type checkers against the port

    assert provider.name == "stripe"


def raw_event(payload: object) -> bytes:
    return json.dumps(payload).encode()


_INTENT = {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
           "created": 1_700_000_000, "data": {"object": {"id": "pi_1"}}}  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([1, 2], "body"),
        (_INTENT | {"id": "evt_" + "9" * 10_000}, "id"),
        (_INTENT | {"id": 7}, "id"),
        (_INTENT | {"id": None}, "id"),
        (_INTENT | {"created": 2**64}, "created"),
        (_INTENT | {"created": "1700000000"}, "created"),
        (_INTENT | {"created": 1e300}, "created"),
        (_INTENT | {"type": ["payment_intent.succeeded"]}, "type"),
        (_INTENT | {"data": "x"}, "data"),
        (_INTENT | {"data": {"object": [1]}}, "data.object"),
        (_INTENT | {"data": {"object": {"id": {"id": {"id": "pi"}}}}}, "data.object.id"),
        (_INTENT | {"data": {"object": {"id": "pi_1", "metadata": "m"}}}, "data.object.metadata"),
        (_INTENT | {"type": "payment_intent.payment_failed",
                    "data": {"object": {"id": "pi_1", "last_payment_error": 5}}},
         "data.object.last_payment_error"),
        (_INTENT | {"type": "setup_intent.succeeded",
                    "data": {"object": {"id": "seti_1", "payment_method_types": "x"}}},
         "data.object.payment_method_types"),
        (_INTENT | {"type": "charge.refunded",
                    "data": {"object": {"id": "ch_1", "payment_intent": "pi_1",
                                        "amount": 100, "amount_refunded": "100"}}},
         "data.object.amount_refunded"),
        (_INTENT | {"type": "charge.dispute.funds_withdrawn", "data": {"object": {"id": "dp_1"}}},
         "data.object.payment_intent"),
    ],
)  # fmt: skip
def test_a_signed_event_with_a_malformed_field_is_refused_naming_the_field(
    stripe_provider: StripeProvider, payload: object, field: str
) -> None:
    body = raw_event(payload)

    with pytest.raises(WebhookMalformed) as refused:
        stripe_provider.parse_webhook(body, signed(body))

    assert refused.value.field == field


def test_a_deeply_nested_signed_body_is_malformed_not_a_crash(
    stripe_provider: StripeProvider,
) -> None:
    body = b"[" * 100_000 + b"]" * 100_000

    with pytest.raises(WebhookMalformed):
        stripe_provider.parse_webhook(body, signed(body))


@pytest.mark.parametrize(
    ("kind", "obj", "status", "details"),
    [
        ("charge.refunded", {"id": "ch_1", "payment_intent": "pi_1", "amount": 1000,
                             "amount_refunded": 400}, "partially_refunded",
         {"refunded_minor": "400"}),
        ("charge.refunded", {"id": "ch_1", "payment_intent": {"id": "pi_1"}, "amount": 1000,
                             "amount_refunded": 1000}, "refunded", {"refunded_minor": "1000"}),
        ("charge.dispute.funds_withdrawn", {"id": "dp_1", "payment_intent": "pi_1"},
         "charged_back", {}),
        ("charge.dispute.funds_reinstated", {"id": "dp_1", "payment_intent": "pi_1"},
         "succeeded", {}),
        ("payment_intent.canceled", {"id": "pi_1"}, "cancelled", {}),
    ],
)  # fmt: skip
def test_refunds_disputes_and_cancellations_are_payment_events_of_the_payment_intent(
    stripe_provider: StripeProvider, kind: str, obj: dict[str, Any], status: str,
    details: dict[str, str],
) -> None:  # fmt: skip
    body = event(kind, obj)

    [parsed] = stripe_provider.parse_webhook(body, signed(body))

    assert (parsed.resource, parsed.provider_ref, parsed.status) == ("payment", "pi_1", status)
    assert dict(parsed.details) == details
