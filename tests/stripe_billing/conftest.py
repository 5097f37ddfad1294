"""The fake Stripe API on a local port, a business that keeps its billing in Stripe, and the
sync's Stripe reader pointed at the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from billing_bridge.payments.stripe_provider import StripeProvider
from billing_bridge.stripe_billing.api import StripeBillingApi
from pbx.db.database import Database
from tests.factories import make_tenant
from tests.payments import fake_stripe

DID = "+97237630100"


@pytest.fixture
def fake() -> fake_stripe.FakeStripe:
    return fake_stripe.FakeStripe()


@pytest.fixture
async def stripe_url(fake: fake_stripe.FakeStripe) -> AsyncIterator[str]:
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def api(stripe_url: str) -> AsyncIterator[StripeBillingApi]:
    client = StripeBillingApi(fake_stripe.API_KEY, api_base=stripe_url, max_network_retries=0)
    yield client
    await client.aclose()


@pytest.fixture
async def provider(stripe_url: str) -> AsyncIterator[StripeProvider]:
    adapter = StripeProvider(fake_stripe.API_KEY, webhook_secret=fake_stripe.WEBHOOK_SECRET,
                             api_base=stripe_url, max_network_retries=0)  # fmt: skip
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def tenant(database: Database) -> int:
    return await make_tenant(database, "ofek", "IL", "ILS", [DID], "Asia/Jerusalem")
