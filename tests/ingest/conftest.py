"""The billing API over a running HTTP server (no call flow), with businesses provisioned as the
CLI provisions them, API keys made through the API-keys service, a desk hub, and a caller
lookup cache that records what it is told to forget."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from pbx.admin import api_keys
from pbx.audit import By
from pbx.auth.ratelimit import MemorySignInLimits
from pbx.auth.sessions import SessionStore
from pbx.bus import MemoryBus
from pbx.db.database import Database
from pbx.db.models import Tenant, User
from pbx.events.hub import Hub
from pbx.events.log import MemoryEventLog
from pbx.http.api import PREFIX
from pbx.http.app import build_api
from pbx.http.context import ApiContext
from pbx.platform import tenants
from tests.http.conftest import PASSWORD, PASSWORDS, SIGN_IN_POLICY, _serve, password_hash
from tests.http.support import ApiClient

OPERATOR = By("cli:tester")
OFEK_DID, OTHER_DID = "+97237630100", "+97237630199"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Door:
    database: Database
    url: str
    hub: Hub
    forgotten: list[tuple[int, set[str]]] = field(default_factory=list)
    _checker: ApiClient | None = None

    async def business(self, slug: str, did: str) -> int:
        command = tenants.NewTenant(slug, slug.title(), "IL", "ILS", "Asia/Jerusalem", (did,),
                                    "dana")  # fmt: skip
        await tenants.create_tenant(self.database, command, actor=OPERATOR, now=datetime.now(UTC))
        async with self.database.system_session() as session:
            found = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        assert found is not None
        return found

    async def key(self, tenant_id: int, *scopes: str, name: str = "billing") -> Machine:
        async with self.database.tenant_session(tenant_id) as session, session.begin():
            _, secret = await api_keys.create_key(
                session, tenant_id=tenant_id, actor=OPERATOR,
                key=api_keys.NewKey(name, frozenset(scopes)), now=datetime.now(UTC),
            )  # fmt: skip
        return Machine(self, secret)

    async def agent(self, tenant_id: int, username: str) -> int:
        async with self.database.tenant_session(tenant_id) as session, session.begin():
            user = User(username=username, display_name=username.title(), role="agent",
                        password_hash=password_hash(PASSWORD))  # fmt: skip
            session.add(user)
            await session.flush()
            return user.id

    def numbers_forgotten(self) -> set[str]:
        return set().union(*(numbers for _, numbers in self.forgotten))

    def check(self, method: str, path: str, status: int, body: Any) -> None:
        """Every answer is what the OpenAPI document says the operation returns."""
        if self._checker is None:
            self._checker = ApiClient(self.url, build_api().document())
        self._checker.check(method, path, status, body)


@dataclass
class Machine:
    """A billing system's client, by its API key."""

    door: Door
    secret: str

    async def send(
        self, method: str, path: str, body: Any = None, *, key: str | None = None,
        raw: bytes | None = None, content_type: str = "application/json",
    ) -> Reply:  # fmt: skip
        headers = {"Authorization": f"Bearer {self.secret}", "Content-Type": content_type}
        if key is not None:
            headers["Idempotency-Key"] = key
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.door.url + PREFIX + path, data=data,
                         headers=headers) as response,
        ):  # fmt: skip
            text = await response.text()
            payload = json.loads(text) if text else None
            self.door.check(method, path, response.status, payload)
            return Reply(response.status, payload, dict(response.headers))

    async def batch(self, lines: Iterable[Any], **options: Any) -> Reply:
        raw = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
        return await self.send("POST", "/billing/batch", raw=raw.encode(),
                               content_type="application/x-ndjson", **options)  # fmt: skip


@pytest.fixture
async def door(database: Database) -> AsyncIterator[Door]:
    hub = Hub(MemoryEventLog(retention=1000), wait_s=0.5)
    made = Door(database, "", hub)

    async def forget(tenant_id: int, numbers: Iterable[str]) -> None:
        made.forgotten.append((tenant_id, set(numbers)))

    context = ApiContext(
        database,
        SessionStore(database, passwords=PASSWORDS, lifetime_s=3600, idle_s=600),
        MemorySignInLimits(SIGN_IN_POLICY),
        MemoryBus(),
        hub=hub,
        forget_numbers=forget,
    )
    runner: web.AppRunner
    runner, port = await _serve(context, 0)
    made.url = f"http://127.0.0.1:{port}"
    try:
        yield made
    finally:
        if made._checker is not None:
            await made._checker.close()
        await runner.cleanup()
