"""Fixtures for the provider adapters: the fake Stripe and GoCardless APIs on 127.0.0.1 random
ports, and adapters pointed at them. No request ever leaves the machine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from billing_bridge.payments.gocardless_provider import GoCardlessProvider
from billing_bridge.payments.stripe_provider import StripeProvider
from tests.payments import fake_gocardless, fake_stripe


async def _serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


@pytest.fixture
def fake_stripe_api() -> fake_stripe.FakeStripe:
    return fake_stripe.FakeStripe()


@pytest.fixture
async def stripe_url(fake_stripe_api: fake_stripe.FakeStripe) -> AsyncIterator[str]:
    server = await _serve(fake_stripe_api.app())
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def stripe_provider(stripe_url: str) -> AsyncIterator[StripeProvider]:
    provider = StripeProvider(
        fake_stripe.API_KEY,
        webhook_secret=fake_stripe.WEBHOOK_SECRET,
        api_base=stripe_url,
        success_url="https://pay.example.test/done",
        cancel_url="https://pay.example.test/cancelled",
        max_network_retries=0,  # tests that want the SDK's retries build their own
    )
    yield provider
    await provider.aclose()


@pytest.fixture
def fake_gocardless_api() -> fake_gocardless.FakeGoCardless:
    return fake_gocardless.FakeGoCardless()


@pytest.fixture
async def gocardless_url(
    fake_gocardless_api: fake_gocardless.FakeGoCardless,
) -> AsyncIterator[str]:
    server = await _serve(fake_gocardless_api.app())
    yield str(server.make_url("/"))
    await server.close()


@pytest.fixture
def gocardless_provider(gocardless_url: str) -> GoCardlessProvider:
    return GoCardlessProvider(
        fake_gocardless.ACCESS_TOKEN,
        webhook_secret=fake_gocardless.WEBHOOK_SECRET,
        base_url=gocardless_url,
        redirect_uri="https://pay.example.test/done",
        exit_uri="https://pay.example.test/cancelled",
    )
