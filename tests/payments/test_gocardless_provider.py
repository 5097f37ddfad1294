"""The GoCardless adapter against the local fake GoCardless API, checking what it received."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from billing_bridge.payments.gocardless_provider import GoCardlessProvider
from billing_bridge.payments.port import (
    BankAccount,
    CardDetails,
    MandateStatus,
    Payer,
    PaymentProvider,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
    WebhookMalformed,
    WebhookRejected,
)
from tests.payments import fake_gocardless
from tests.payments.fake_gocardless import FakeGoCardless

# The payer's record as Ledgerline keeps it: Bacs by phone needs the postal address.
ANN = Payer("Ann Holt", "ann@example.com", "1 Pond Lane", None, "Leeds", "LS1 4AP", "GB")


async def charge(provider: GoCardlessProvider, mandate: str, key: str = "dd-1", amount: int = 4500):
    return await provider.charge_mandate(
        mandate, amount_minor=amount, currency="GBP", idempotency_key=key, description="March"
    )


def standard_headers(recorded: Any) -> None:
    assert recorded.headers["Authorization"] == f"Bearer {fake_gocardless.ACCESS_TOKEN}"
    assert recorded.headers["GoCardless-Version"] == "2015-07-06"
    assert recorded.headers["Content-Type"] == "application/json"


# -- charge_mandate -------------------------------------------------------------------------


async def test_a_mandate_charge_is_a_payment_in_minor_units_and_is_pending(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    mandate = fake_gocardless_api.add_mandate()

    result = await charge(gocardless_provider, mandate["id"])

    assert result.status is PaymentStatus.PENDING
    assert result.provider_ref.startswith("PM")
    [sent] = fake_gocardless_api.posts("/payments")
    standard_headers(sent)
    assert sent.headers["Idempotency-Key"] == "dd-1"
    assert sent.body == {
        "payments": {
            "amount": 4500,
            "currency": "GBP",
            "description": "March",
            "links": {"mandate": mandate["id"]},
        }
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("submitted", PaymentStatus.PENDING),
        ("confirmed", PaymentStatus.SUCCEEDED),
        ("paid_out", PaymentStatus.SUCCEEDED),
        ("failed", PaymentStatus.FAILED),
        ("cancelled", PaymentStatus.FAILED),
        ("customer_approval_denied", PaymentStatus.FAILED),
    ],
)
async def test_payment_statuses_map_to_ours(
    gocardless_provider: GoCardlessProvider,
    fake_gocardless_api: FakeGoCardless,
    status: str,
    expected: PaymentStatus,
) -> None:
    mandate = fake_gocardless_api.add_mandate()
    first = await charge(gocardless_provider, mandate["id"], key="k")
    fake_gocardless_api.store[first.provider_ref]["status"] = status

    again = await charge(gocardless_provider, mandate["id"], key="k")  # fetched after a 409

    assert again.status is expected


async def test_the_same_key_twice_creates_one_payment(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    mandate = fake_gocardless_api.add_mandate()

    first = await charge(gocardless_provider, mandate["id"], key="dd-2")
    again = await charge(gocardless_provider, mandate["id"], key="dd-2")

    assert again.provider_ref == first.provider_ref
    assert len(fake_gocardless_api.of_kind("PM")) == 1
    assert [r.status for r in fake_gocardless_api.posts("/payments")] == [201, 409]


async def test_a_lost_response_is_retried_by_the_sdk_with_the_same_key_and_pays_once(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    mandate = fake_gocardless_api.add_mandate()
    fake_gocardless_api.drop_after_processing.append("/payments")

    result = await charge(gocardless_provider, mandate["id"], key="dd-3")

    assert result.status is PaymentStatus.PENDING
    sent = fake_gocardless_api.posts("/payments")
    assert [r.headers["Idempotency-Key"] for r in sent] == ["dd-3", "dd-3"]
    assert len(fake_gocardless_api.of_kind("PM")) == 1


async def test_a_reused_key_for_another_amount_is_refused(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    mandate = fake_gocardless_api.add_mandate()
    await charge(gocardless_provider, mandate["id"], key="dd-4")

    with pytest.raises(ProviderError, match="other parameters"):
        await charge(gocardless_provider, mandate["id"], key="dd-4", amount=1)


async def test_a_cancelled_mandate_gives_a_failed_charge(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    mandate = fake_gocardless_api.add_mandate(status="cancelled")

    result = await charge(gocardless_provider, mandate["id"])

    assert (result.status, result.failure_code) == (PaymentStatus.FAILED, "mandate_is_inactive")


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_an_outage_or_rate_limit_is_unavailable(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless, status: int
) -> None:
    mandate = fake_gocardless_api.add_mandate()
    fake_gocardless_api.fail_next(status)

    with pytest.raises(ProviderUnavailable):
        await charge(gocardless_provider, mandate["id"])
    assert fake_gocardless_api.of_kind("PM") == []


async def test_an_unreachable_gocardless_is_unavailable() -> None:
    provider = GoCardlessProvider(
        fake_gocardless.ACCESS_TOKEN, webhook_secret="s", base_url="http://127.0.0.1:9/"
    )

    with pytest.raises(ProviderUnavailable):
        await charge(provider, "MD1")


async def test_validation_failures_are_a_provider_error_naming_the_field(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    mandate = fake_gocardless_api.add_mandate()

    with pytest.raises(ProviderError) as raised:
        await gocardless_provider.charge_mandate(
            mandate["id"], amount_minor=100, currency="XXX", idempotency_key="k", description="d"
        )
    assert not isinstance(raised.value, ProviderUnavailable)
    assert "validation_failed" in str(raised.value) and "currency" in str(raised.value)


async def test_a_wrong_token_is_a_provider_error(gocardless_url: str) -> None:
    provider = GoCardlessProvider("wrong", webhook_secret="s", base_url=gocardless_url)

    with pytest.raises(ProviderError, match="AuthenticationError"):
        await charge(provider, "MD1")


async def test_cards_are_refused_without_a_request(
    gocardless_provider: GoCardlessProvider,
    fake_gocardless_api: FakeGoCardless,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ProviderError) as raised:
        await gocardless_provider.charge_card(
            CardDetails("4242424242424242", 1, 2030, "123"),
            amount_minor=1,
            currency="GBP",
            idempotency_key="k",
            description="d",
            customer_ref="c",
        )
    assert "4242424242424242" not in str(raised.value) + caplog.text
    assert fake_gocardless_api.requests == []


# -- links ----------------------------------------------------------------------------------


async def test_a_mandate_link_is_a_billing_request_and_its_flow(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    result = await gocardless_provider.create_mandate_link(
        scheme="bacs", idempotency_key="ml-1", customer_ref="cust-1", customer_name="Ann Mary Holt"
    )

    assert result.status is MandateStatus.PENDING
    assert result.provider_ref.startswith("BRQ")
    assert result.setup_url and result.setup_url.startswith("https://pay-sandbox.gocardless.com/")
    [created] = fake_gocardless_api.posts("/billing_requests")
    standard_headers(created)
    assert created.headers["Idempotency-Key"] == "ml-1"
    assert created.body == {
        "billing_requests": {
            "mandate_request": {"scheme": "bacs"},
            "metadata": {"customer_ref": "cust-1"},
        }
    }
    [flow] = fake_gocardless_api.posts("/billing_request_flows")
    assert flow.body == {
        "billing_request_flows": {
            "links": {"billing_request": result.provider_ref},
            "redirect_uri": "https://pay.example.test/done",
            "exit_uri": "https://pay.example.test/cancelled",
            "prefilled_customer": {"given_name": "Ann Mary", "family_name": "Holt"},
        }
    }


async def test_a_pay_link_is_a_billing_request_with_a_payment_request(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    link = await gocardless_provider.create_pay_link(
        amount_minor=2599,
        currency="gbp",
        idempotency_key="pl-1",
        description="Invoice 9",
        customer_ref="cust-2",
    )

    assert link.url.startswith("https://pay-sandbox.gocardless.com/")
    assert link.provider_ref.startswith("BRQ")
    assert link.expires_at is not None and link.expires_at.tzinfo is not None
    [created] = fake_gocardless_api.posts("/billing_requests")
    assert created.headers["Idempotency-Key"] == "pl-1"
    assert created.body["billing_requests"]["payment_request"] == {
        "amount": 2599,
        "currency": "GBP",
        "description": "Invoice 9",
    }


async def test_a_scheme_gocardless_does_not_offer_is_refused(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    with pytest.raises(ProviderError, match="masav"):
        await gocardless_provider.create_mandate_link(
            scheme="masav", idempotency_key="k", customer_ref="c", customer_name="n"
        )
    assert fake_gocardless_api.requests == []


# -- create_mandate (bank details by phone) ---------------------------------------------------

ACTIONS = ("collect_customer_details", "collect_bank_account", "confirm_payer_details", "fulfil")


def action_posts(fake: FakeGoCardless) -> list[tuple[str, Any]]:
    return [
        (r.path.rsplit("/", 1)[-1], r.body)
        for r in fake.requests
        if r.method == "POST" and "/actions/" in r.path
    ]


async def test_bank_details_by_phone_run_the_billing_request_actions_to_a_mandate(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    account = BankAccount("GB", "Ann Holt", bank_code="200000", account_number="55779911",
                          email="ann@example.com")  # fmt: skip

    result = await gocardless_provider.create_mandate(
        account, scheme="bacs", idempotency_key="m-1", customer_ref="cust-5", payer=ANN
    )

    assert result.status is MandateStatus.PENDING  # pending_submission
    assert result.provider_ref.startswith("MD")
    [created] = fake_gocardless_api.posts("/billing_requests")
    assert created.body["billing_requests"]["mandate_request"] == {
        "scheme": "bacs",
        "authorisation_source": "telephone",
    }
    assert action_posts(fake_gocardless_api) == [
        (
            "collect_customer_details",
            {
                "data": {
                    "customer": {
                        "given_name": "Ann",
                        "family_name": "Holt",
                        "email": "ann@example.com",
                    },
                    "customer_billing_detail": {
                        "country_code": "GB",
                        "address_line1": "1 Pond Lane",
                        "city": "Leeds",
                        "postal_code": "LS1 4AP",
                    },
                }
            },
        ),
        (
            "collect_bank_account",
            {
                "data": {
                    "account_holder_name": "Ann Holt",
                    "country_code": "GB",
                    "account_number": "55779911",
                    "branch_code": "200000",
                }
            },
        ),
        ("confirm_payer_details", {"data": {}}),
        ("fulfil", {"data": {}}),
    ]
    looked_up = [r.path for r in fake_gocardless_api.requests if r.method == "GET"]
    assert looked_up == [f"/mandates/{result.provider_ref}"]


async def test_sepa_and_ach_bank_details_are_sent_in_gocardless_local_form(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    await gocardless_provider.create_mandate(
        BankAccount("DE", "Jonas Weber", iban="DE89370400440532013000"),
        scheme="sepa_core",
        idempotency_key="m-2",
        customer_ref="c",
    )
    await gocardless_provider.create_mandate(
        BankAccount("US", "Sam Roe", bank_code="026073150", account_number="2715500356"),
        scheme="ach",
        idempotency_key="m-3",
        customer_ref="c",
    )

    banks = [body["data"] for name, body in action_posts(fake_gocardless_api)
             if name == "collect_bank_account"]  # fmt: skip
    assert banks == [
        {"account_holder_name": "Jonas Weber", "country_code": "DE",
         "iban": "DE89370400440532013000"},
        {"account_holder_name": "Sam Roe", "country_code": "US", "account_number": "2715500356",
         "bank_code": "026073150", "account_type": "checking"},
    ]  # fmt: skip


async def test_a_retried_phone_mandate_resumes_where_it_stopped(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    account = BankAccount("GB", "Ann Holt", bank_code="200000", account_number="55779911")
    original_check = fake_gocardless_api._check_bank_account
    calls = {"n": 0}

    def flaky(data: dict[str, Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise fake_gocardless._Invalid(
                "invalid_state", [{"reason": "bank_account_check_unavailable", "message": "x"}]
            )
        original_check(data)

    fake_gocardless_api._check_bank_account = flaky  # type: ignore[method-assign]
    with pytest.raises(ProviderError):
        await gocardless_provider.create_mandate(
            account, scheme="bacs", idempotency_key="m-4", customer_ref="c", payer=ANN
        )

    result = await gocardless_provider.create_mandate(
        account, scheme="bacs", idempotency_key="m-4", customer_ref="c", payer=ANN
    )

    assert result.provider_ref.startswith("MD")
    assert len(fake_gocardless_api.of_kind("BRQ")) == 1
    names = [name for name, _ in action_posts(fake_gocardless_api)]
    assert names == ["collect_customer_details", "collect_bank_account", *ACTIONS[1:]]


async def test_missing_payer_details_are_a_provider_error_naming_the_fields(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    # Live GoCardless asks for the payer's email (and address for Bacs), which the port's
    # BankAccount does not carry: the error must say so plainly.
    fake_gocardless_api.required_customer_fields = ("family_name", "email")

    with pytest.raises(ProviderError, match="email is required"):
        await gocardless_provider.create_mandate(
            BankAccount("GB", "Ann Holt", bank_code="200000", account_number="55779911"),
            scheme="bacs",
            idempotency_key="m-5",
            customer_ref="c",
            payer=ANN,
        )


# -- webhooks -------------------------------------------------------------------------------


def webhook(*events: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(events), "meta": {"webhook_id": "WB123"}}).encode()


def gc_event(resource_type: str, action: str, links: dict[str, str], **extra: Any) -> dict:
    return {
        "id": f"EV{resource_type[:3]}{action[:4]}",
        "created_at": "2026-03-02T10:15:00.000Z",
        "resource_type": resource_type,
        "action": action,
        "links": links,
        "details": {"origin": "gocardless", "cause": action, "description": "d"},
        "metadata": {},
    } | extra


def test_a_signed_webhook_gives_one_event_per_gocardless_event(
    gocardless_provider: GoCardlessProvider,
) -> None:
    body = webhook(
        gc_event("payments", "confirmed", {"payment": "PM1"}),
        gc_event("mandates", "active", {"mandate": "MD1"}),
    )

    events = gocardless_provider.parse_webhook(
        body, {"Webhook-Signature": fake_gocardless.sign(body)}
    )

    assert [(e.event_id, e.type, e.resource, e.provider_ref, e.status) for e in events] == [
        ("EVpayconf", "payments.confirmed", "payment", "PM1", "succeeded"),
        ("EVmanacti", "mandates.active", "mandate", "MD1", "active"),
    ]
    assert events[0].occurred_at.isoformat() == "2026-03-02T10:15:00+00:00"
    assert events[0].details["cause"] == "confirmed"


def test_the_signature_header_is_found_whatever_its_case(
    gocardless_provider: GoCardlessProvider,
) -> None:
    body = webhook(gc_event("payments", "paid_out", {"payment": "PM1"}))

    [parsed] = gocardless_provider.parse_webhook(
        body, {"webhook-signature": fake_gocardless.sign(body)}
    )

    assert parsed.status == "succeeded"


def test_a_tampered_webhook_is_rejected(gocardless_provider: GoCardlessProvider) -> None:
    body = webhook(gc_event("payments", "failed", {"payment": "PM1"}))
    signature = fake_gocardless.sign(body)

    with pytest.raises(WebhookRejected):
        gocardless_provider.parse_webhook(
            body.replace(b"PM1", b"PM2"), {"Webhook-Signature": signature}
        )


def test_a_webhook_signed_with_another_secret_is_rejected(
    gocardless_provider: GoCardlessProvider,
) -> None:
    body = webhook(gc_event("payments", "failed", {"payment": "PM1"}))

    with pytest.raises(WebhookRejected):
        gocardless_provider.parse_webhook(
            body, {"Webhook-Signature": fake_gocardless.sign(body, "another-secret")}
        )


def test_an_unsigned_or_malformed_webhook_is_rejected(
    gocardless_provider: GoCardlessProvider,
) -> None:
    with pytest.raises(WebhookRejected):
        gocardless_provider.parse_webhook(webhook(), {})
    body = b'{"not_events": []}'
    with pytest.raises(WebhookRejected):
        gocardless_provider.parse_webhook(body, {"Webhook-Signature": fake_gocardless.sign(body)})


@pytest.mark.parametrize(
    ("resource_type", "action", "links", "resource", "ref", "status"),
    [
        ("mandates", "created", {"mandate": "MD1"}, "mandate", "MD1", "pending"),
        ("mandates", "submitted", {"mandate": "MD1"}, "mandate", "MD1", "submitted"),
        ("mandates", "active", {"mandate": "MD1"}, "mandate", "MD1", "active"),
        ("mandates", "failed", {"mandate": "MD1"}, "mandate", "MD1", "failed"),
        ("mandates", "cancelled", {"mandate": "MD1"}, "mandate", "MD1", "cancelled"),
        ("mandates", "expired", {"mandate": "MD1"}, "mandate", "MD1", "expired"),
        ("payments", "submitted", {"payment": "PM1"}, "payment", "PM1", "pending"),
        ("payments", "confirmed", {"payment": "PM1"}, "payment", "PM1", "succeeded"),
        ("payments", "paid_out", {"payment": "PM1"}, "payment", "PM1", "succeeded"),
        ("payments", "failed", {"payment": "PM1"}, "payment", "PM1", "failed"),
        ("payments", "cancelled", {"payment": "PM1"}, "payment", "PM1", "cancelled"),
        ("payments", "charged_back", {"payment": "PM1"}, "payment", "PM1", "charged_back"),
        ("payments", "chargeback_cancelled", {"payment": "PM1"}, "payment", "PM1", "succeeded"),
        (
            "billing_requests", "fulfilled",
            {"billing_request": "BRQ1", "mandate_request_mandate": "MD9"},
            "mandate", "BRQ1", "pending",
        ),
        (
            "billing_requests", "fulfilled",
            {"billing_request": "BRQ2", "payment_request_payment": "PM9"},
            "pay_link", "BRQ2", "pending",
        ),
    ],
)  # fmt: skip
def test_each_known_event_is_normalised(
    gocardless_provider: GoCardlessProvider,
    resource_type: str,
    action: str,
    links: dict[str, str],
    resource: str,
    ref: str,
    status: str,
) -> None:
    body = webhook(gc_event(resource_type, action, links))

    [parsed] = gocardless_provider.parse_webhook(
        body, {"Webhook-Signature": fake_gocardless.sign(body)}
    )

    assert (parsed.resource, parsed.provider_ref, parsed.status) == (resource, ref, status)
    assert parsed.type == f"{resource_type}.{action}"
    assert parsed.raw_type_known
    for key in ("mandate_request_mandate", "payment_request_payment"):
        if key in links:
            assert parsed.details[key] == links[key]


@pytest.mark.parametrize(
    ("resource_type", "action", "links"),
    [
        ("payouts", "paid", {"payout": "PO1"}),
        ("mandates", "transferred", {"mandate": "MD1"}),
        ("billing_requests", "flow_created", {"billing_request": "BRQ1"}),
    ],
)
def test_events_we_do_not_act_on_are_passed_on_as_unknown(
    gocardless_provider: GoCardlessProvider,
    resource_type: str,
    action: str,
    links: dict[str, str],
) -> None:
    body = webhook(gc_event(resource_type, action, links))

    [parsed] = gocardless_provider.parse_webhook(
        body, {"Webhook-Signature": fake_gocardless.sign(body)}
    )

    assert not parsed.raw_type_known
    assert parsed.status is None
    assert parsed.provider_ref == next(iter(links.values()))


_PAID = gc_event("payments", "confirmed", {"payment": "PM1"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (json.dumps({"events": 5}).encode(), "events"),
        (b"[" * 100_000 + b"]" * 100_000, "events"),
        (webhook(_PAID | {"id": "EV" + "1" * 10_000}), "events[0].id"),
        (webhook(_PAID | {"id": 99}), "events[0].id"),
        (webhook(_PAID | {"created_at": 1_700_000_000}), "events[0].created_at"),
        (webhook(_PAID | {"created_at": "9" * 5000}), "events[0].created_at"),
        (webhook(_PAID | {"created_at": "2026-03-02T10:15:00"}), "events[0].created_at"),
        (webhook(_PAID | {"links": ["PM1"]}), "events[0].links"),
        (webhook(_PAID | {"links": {"payment": {"id": "PM1"}}}), "events[0].links.payment"),
        (webhook(_PAID | {"links": {}}), "events[0].links.payment"),
        (webhook(_PAID | {"details": "insufficient_funds"}), "events[0].details"),
        (webhook(_PAID | {"action": {"a": [[]]}}), "events[0].action"),
        (webhook(_PAID, "not an event"), "events[1]"),
    ],
)
def test_a_signed_webhook_with_a_malformed_field_is_refused_naming_the_field(
    gocardless_provider: GoCardlessProvider, body: bytes, field: str
) -> None:
    with pytest.raises(WebhookMalformed) as refused:
        gocardless_provider.parse_webhook(body, {"Webhook-Signature": fake_gocardless.sign(body)})

    assert refused.value.field == field


def test_event_details_are_capped_and_card_numbers_in_them_masked(
    gocardless_provider: GoCardlessProvider,
) -> None:
    details = {"cause": "x" * 10_000, "description": "paid by 4111-1111-1111-1111", "n": {}}
    body = webhook(_PAID | {"details": details})

    [parsed] = gocardless_provider.parse_webhook(
        body, {"Webhook-Signature": fake_gocardless.sign(body)}
    )

    assert len(parsed.details["cause"]) == 200
    assert parsed.details["description"] == "paid by ****-****-****-1111"
    assert "n" not in parsed.details


# -- no secrets in logs -----------------------------------------------------------------------


async def test_no_log_record_carries_the_token_or_the_account_number(
    gocardless_provider: GoCardlessProvider,
    fake_gocardless_api: FakeGoCardless,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("gocardless_pro", "urllib3", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    account = BankAccount("GB", "Ann Holt", bank_code="200000", account_number="55779911")

    await gocardless_provider.create_mandate(
        account, scheme="bacs", idempotency_key="m-9", customer_ref="c", payer=ANN
    )
    fake_gocardless_api.fail_next(500)
    with pytest.raises(ProviderUnavailable) as raised:
        await charge(gocardless_provider, "MD1")

    assert any("urllib3" in r.name for r in caplog.records)  # the transport did log
    haystack = caplog.text + str(raised.value) + repr(raised.value)
    for secret in ("55779911", fake_gocardless.ACCESS_TOKEN):
        assert secret not in haystack


def test_the_adapter_is_a_payment_provider(gocardless_provider: GoCardlessProvider) -> None:
    provider: PaymentProvider = gocardless_provider  # checked by type checkers against the port

    assert provider.name == "gocardless"
