"""The fake Stripe API on a local port, a business that keeps its billing in Stripe, and the
sync's Stripe reader pointed at the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from billing_bridge.payments.stripe_provider import StripeProvider
from billing_bridge.stripe_billing.api import StripeBillingApi
from pbx.auth.ratelimit import MemorySignInLimits
from pbx.auth.sessions import SessionStore
from pbx.bus import MemoryBus
from pbx.db.database import Database
from pbx.events.hub import Hub
from pbx.events.log import MemoryEventLog
from pbx.http.app import build_app
from pbx.http.context import ApiContext
from tests.callflow.conftest import world  # noqa: F401 (the call tests' world, not a copy)
from tests.factories import make_tenant
from tests.http.conftest import PASSWORDS, SIGN_IN_POLICY
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


@dataclass
class Receiver:
    """The webhook route of a running API whose payment provider is Stripe (the fake's
    secret), and the numbers it asked the caller-lookup cache to forget."""

    url: str
    forgotten: list[tuple[int, set[str]]]
    hub: Hub  # what the desks hear (account.updated)

    async def post(self, body: bytes, signature: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json",
                   "Stripe-Signature": signature or fake_stripe.sign(body)}  # fmt: skip
        async with aiohttp.ClientSession() as http, http.post(
            f"{self.url}/api/v1/webhooks/stripe", data=body, headers=headers
        ) as response:  # fmt: skip
            return response.status, await response.json()


@pytest.fixture
async def receiver(database: Database, provider: StripeProvider) -> AsyncIterator[Receiver]:
    forgotten: list[tuple[int, set[str]]] = []
    hub = Hub(MemoryEventLog(retention=100), wait_s=0.5)

    async def forget(tenant_id: int, numbers: Iterable[str]) -> None:
        forgotten.append((tenant_id, set(numbers)))

    context = ApiContext(
        database, SessionStore(database, passwords=PASSWORDS, lifetime_s=60, idle_s=60),
        MemorySignInLimits(SIGN_IN_POLICY), MemoryBus(), payments=provider,
        forget_numbers=forget, hub=hub,
    )  # fmt: skip

    class Services:
        redis = None

    services = Services()
    services.database = database  # type: ignore[attr-defined]
    runner = web.AppRunner(build_app(services, lambda: {"ok": True}, context))  # type: ignore[arg-type]
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield Receiver(f"http://127.0.0.1:{port}", forgotten, hub)
    await runner.cleanup()
    await hub.close()
