"""The HTTP API with no call flow, a platform token, and businesses provisioned through the
platform service as the CLI and the platform API provision them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from pbx.audit import By
from pbx.auth.ratelimit import MemorySignInLimits
from pbx.auth.sessions import SessionStore
from pbx.bus import MemoryBus
from pbx.db.database import Database
from pbx.http.app import build_api
from pbx.http.context import ApiContext
from pbx.platform import tenants, tokens
from tests.http.conftest import PASSWORDS, SIGN_IN_POLICY, _serve
from tests.http.support import ApiClient

PASSWORD = "a long new password"
OPERATOR = By("cli:tester")


@dataclass
class Platform:
    database: Database
    runner: web.AppRunner
    url: str
    token: str  # a platform token's secret
    bus: MemoryBus

    def client(self, token: str | None = None) -> ApiClient:
        client = ApiClient(self.url, build_api().document())
        client.token = token
        return client

    async def business(self, slug: str, did: str, admin: str = "dana") -> tenants.Provisioned:
        command = tenants.NewTenant(slug, slug.title(), "IL", "ILS", "Asia/Jerusalem", (did,),
                                    admin)  # fmt: skip
        return await tenants.create_tenant(self.database, command, actor=OPERATOR,
                                           now=datetime.now(UTC))  # fmt: skip

    async def admin_of(self, slug: str, did: str, admin: str = "dana") -> ApiClient:
        """A business whose first admin has set a password through the link and signed in."""
        done = await self.business(slug, did, admin)
        client = self.client()
        status, _ = await client.call("POST", "/auth/set-password",
                                      {"token": done.link.token, "password": PASSWORD})  # fmt: skip
        assert status == 204
        await client.login(slug, admin, PASSWORD)
        return client


def token_of(url: str) -> str:
    """The token a set-password link carries (in its fragment)."""
    return urlsplit(url).fragment.removeprefix("set-password=")


@pytest.fixture
async def platform(database: Database) -> AsyncIterator[Platform]:
    bus = MemoryBus()
    context = ApiContext(
        database,
        SessionStore(database, passwords=PASSWORDS, lifetime_s=3600, idle_s=600),
        MemorySignInLimits(SIGN_IN_POLICY),
        bus,
    )
    runner, port = await _serve(context, 0)
    _, secret = await tokens.create_token(database, "ops", "cli:tester", datetime.now(UTC))
    try:
        yield Platform(database, runner, f"http://127.0.0.1:{port}", secret, bus)
    finally:
        await runner.cleanup()
