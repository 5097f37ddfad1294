"""A local receiver that answers as a billing system's webhook endpoint would, a clock the
tests move, and a business with accounts whose events are emitted as the services emit them
(`billing_bridge.events.emit`, in the change's own transaction)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from billing_bridge.events import emit, envelope
from billing_bridge.webhooks_out import subscriptions as subs
from billing_bridge.webhooks_out.sender import Sender
from billing_bridge.webhooks_out.worker import DeliveryWorker, WorkerSettings
from pbx.audit import By
from pbx.auth.ratelimit import MemorySignInLimits
from pbx.auth.sessions import SessionStore
from pbx.bus import MemoryBus
from pbx.db.database import Database
from pbx.db.models import Account, WebhookDelivery
from pbx.http.context import ApiContext
from pbx.platform import tokens
from tests.factories import make_customer, make_tenant
from tests.http.conftest import PASSWORDS, SIGN_IN_POLICY, _serve
from tests.platform.conftest import Platform

ADMIN = By("admin:tester")
_NUMBERS = itertools.count(100)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event_id(self) -> str:
        return self.headers["Ledgerline-Event-Id"]


@dataclass
class Receiver:
    """An HTTP endpoint on loopback that records what it is sent and answers `status`
    (or per event id, `answers`); `stop()` and `start()` take it off and back on its port."""

    status: int = 200
    answers: dict[str, int] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    delay_s: float = 0.0  # how long it takes to answer
    in_flight: dict[str, int] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)  # event ids sent twice at once
    port: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._take)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, condition: Callable[[], bool], within_s: float = 10.0) -> None:
        async with asyncio.timeout(within_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def ids(self) -> list[str]:
        return [r.event_id for r in self.received]

    async def _take(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_id = request.headers["Ledgerline-Event-Id"]
        if self.in_flight.get(event_id):
            self.overlaps.append(event_id)
        self.in_flight[event_id] = self.in_flight.get(event_id, 0) + 1
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)  # the receiver's own work, not a test's wait
            self.received.append(Received(dict(request.headers), body))
            self.changed.set()
            return web.Response(status=self.answers.get(event_id, self.status))
        finally:
            self.in_flight[event_id] -= 1


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


class Clock:
    """The worker's time: the real time until the test moves it, then the test's."""

    def __init__(self) -> None:
        self._now: datetime | None = None

    def __call__(self) -> datetime:
        return self._now or datetime.now(UTC)

    @property
    def now(self) -> datetime:
        return self()

    def advance(self, **delta: float) -> None:
        self._now = self() + timedelta(**delta)

    def to(self, moment: datetime) -> None:
        self._now = max(self(), moment)


@dataclass
class Business:
    database: Database
    tenant_id: int
    accounts: list[int]

    async def subscribe(self, url: str, types: Sequence[str] = ("*",)) -> tuple[int, str]:
        async with self.database.tenant_session(self.tenant_id) as session, session.begin():
            view, secret = await subs.create_subscription(
                session, tenant_id=self.tenant_id, actor=ADMIN,
                new=subs.NewSubscription(url, tuple(types)), allow_private=True,
                now=datetime.now(UTC))  # fmt: skip
        return view.id, secret

    async def emit(self, type: str, account: int | None, **data: Any) -> str:
        """One event, committed alone: its public id."""
        async with self.database.tenant_session(self.tenant_id) as session, session.begin():
            return emit(session, self.tenant_id, type, data, account_id=account)

    async def deliveries(self) -> list[WebhookDelivery]:
        async with self.database.tenant_session(self.tenant_id) as session:
            rows = await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
            return list(rows)


async def make_business(database: Database, slug: str = "ofek", accounts: int = 2) -> Business:
    tenant = await make_tenant(database, slug, "IL", "ILS", [f"+97237630{next(_NUMBERS):03d}"])
    await make_customer(database, tenant, f"{slug}-1", "Dana Levi", [],
                        accounts=[{"currency": "ILS"} for _ in range(accounts)])  # fmt: skip
    async with database.tenant_session(tenant) as session:
        ids = list(await session.scalars(select(Account.id).order_by(Account.id)))
    return Business(database, tenant, ids)


@pytest.fixture
async def business(database: Database) -> Business:
    return await make_business(database)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_worker(database: Database, clock: Callable[[], datetime] | None = None,
                timeout_s: float = 2.0, **settings: Any) -> DeliveryWorker:  # fmt: skip
    """A worker whose attempts give up after `timeout_s` (a timed-out attempt is a failure,
    tried again 30 s later)."""
    options = WorkerSettings(allow_private=True, **settings)
    kwargs: dict[str, Any] = {"rng": random.Random(7)}
    if clock is not None:
        kwargs["clock"] = clock
    sender = Sender(timeout_s=timeout_s, allow_private=True)
    return DeliveryWorker(database, sender, envelope, options, **kwargs)


@pytest.fixture
async def worker(database: Database, clock: Clock) -> AsyncIterator[DeliveryWorker]:
    delivery_worker = make_worker(database, clock)
    yield delivery_worker
    await delivery_worker.stop()


@pytest.fixture
async def platform(database: Database, clock: Clock) -> AsyncIterator[Platform]:
    """The HTTP API as `serve` wires it for webhooks (receivers on loopback allowed), with
    businesses provisioned as the platform provisions them."""
    bus = MemoryBus()
    delivery_worker = make_worker(database, clock)
    context = ApiContext(
        database,
        SessionStore(database, passwords=PASSWORDS, lifetime_s=3600, idle_s=600),
        MemorySignInLimits(SIGN_IN_POLICY),
        bus,
        webhooks=delivery_worker,
    )
    runner, port = await _serve(context, 0)
    _, secret = await tokens.create_token(database, "ops", "cli:tester", datetime.now(UTC))
    try:
        yield Platform(database, runner, f"http://127.0.0.1:{port}", secret, bus)
    finally:
        await runner.cleanup()
        await delivery_worker.stop()
