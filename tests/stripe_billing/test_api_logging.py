"""The Stripe Billing reader opens its SDK client as the payment provider does: the SDK's
DEBUG records (request and response bodies: customers' names, e-mails and phones) are
dropped, and console debug logging is refused."""

from __future__ import annotations

import logging

import pytest
import stripe

from billing_bridge.payments.port import ProviderError
from billing_bridge.stripe_billing.api import StripeBillingApi
from tests.payments import fake_stripe


async def test_the_sdk_logs_no_response_body_of_what_the_sync_reads(
    stripe_url: str,
    fake: fake_stripe.FakeStripe,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if no Stripe client had been opened in this process before.
    monkeypatch.setattr(logging.getLogger("stripe"), "filters", [])
    caplog.set_level(logging.DEBUG, logger="stripe")
    fake.add_customer(name="Dana Levi", email="dana@example.com", phone="+972502345678")
    api = StripeBillingApi(fake_stripe.API_KEY, api_base=stripe_url, max_network_retries=0)
    try:
        customers = [customer async for customer in api.customers()]
    finally:
        await api.aclose()

    assert [customer["name"] for customer in customers] == ["Dana Levi"]
    stripe_records = [r for r in caplog.records if r.name.startswith("stripe")]
    assert stripe_records  # the SDK's request lines (INFO) still come through
    assert all(r.levelno > logging.DEBUG for r in stripe_records)
    assert "dana@example.com" not in caplog.text


async def test_console_debug_logging_of_the_sdk_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stripe, "log", "debug")

    with pytest.raises(ProviderError, match="STRIPE_LOG"):
        StripeBillingApi(fake_stripe.API_KEY)
