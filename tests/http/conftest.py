from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import pytest
from aiohttp import web

from pbx.auth.passwords import PasswordCost, PasswordWorkers, hash_password
from pbx.auth.ratelimit import MemorySignInLimits, SignInPolicy
from pbx.auth.sessions import SessionStore
from pbx.bootstrap import desk_for
from pbx.bus import Bus, MemoryBus
from pbx.db.database import Database
from pbx.db.models import Queue, QueueMember, User
from pbx.events.hub import Hub
from pbx.events.log import MemoryEventLog
from pbx.events.publisher import DeskPublisher
from pbx.http.app import build_api, build_app
from pbx.http.context import CONFIG_TOPIC, ApiContext
from tests.callflow.world import World, make_world
from tests.http.support import ApiClient

PASSWORD = "correct horse battery"
# The tests' throwaway users are hashed and checked at argon2id's least cost: at the real cost
# (`STANDARD`, which `tests/pbx/test_passwords.py` and the sign-ins through `serve` use) every
# sign-in of the thousands here took a tenth of a second of a core, seconds on a busy machine.
QUICK = PasswordCost(time_cost=1, memory_kib=64, parallelism=1)
# One pool of password workers for every site the tests start (threads are not per test).
PASSWORDS = PasswordWorkers(workers=2, queue=64, cost=QUICK)
# Five wrong passwords per user and address a minute; per user, delays after eight.
SIGN_IN_POLICY = SignInPolicy(pair_failures=5, window_s=60, user_free_failures=8,
                              user_delay_s=1, user_delay_max_s=8)  # fmt: skip


@cache
def password_hash(password: str = PASSWORD) -> str:
    """A password's argon2id hash at the tests' cost, made once per test process (most users
    the tests make have PASSWORD)."""
    return hash_password(password, QUICK)


@dataclass
class Site:
    world: World
    context: ApiContext
    runner: web.AppRunner
    url: str
    publisher: DeskPublisher | None = None

    async def restart(self) -> None:
        """The HTTP side comes back on the same port (after `runner.cleanup()`)."""
        self.runner, _ = await _serve(self.context, int(self.url.rsplit(":", 1)[1]))

    def client(self) -> ApiClient:
        return ApiClient(self.url, build_api().document())

    async def user(self, username: str, role: str, endpoint: str | None = None,
                   tenant_id: int | None = None) -> int:  # fmt: skip
        tenant = tenant_id or self.world.tenant_id
        async with self.world.database.tenant_session(tenant) as session, session.begin():
            user = User(username=username, display_name=username.title(), role=role,
                        endpoint=endpoint, password_hash=password_hash())  # fmt: skip
            session.add(user)
            await session.flush()
            return user.id


async def start_site(world: World, bus: Bus, *, with_flow: bool, hub: Hub | None = None) -> Site:
    database: Database = world.database
    context = ApiContext(
        database,
        SessionStore(database, passwords=PASSWORDS, lifetime_s=3600, idle_s=600),
        MemorySignInLimits(SIGN_IN_POLICY),
        bus,
        flow=world.flow if with_flow else None,
        desk=desk_for(world.flow if with_flow else None, bus, None),  # as bootstrap wires it
        hub=hub,
        heartbeat_s=1.0,
    )
    runner, port = await _serve(context, 0)
    return Site(world, context, runner, f"http://127.0.0.1:{port}")


async def _serve(context: ApiContext, port: int) -> tuple[web.AppRunner, int]:
    app = build_app(_services_stub(context.database), lambda: {"ok": True}, context)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def _services_stub(database: Database):  # type: ignore[no-untyped-def]
    """/healthz reads services; the API tests only need the database there."""

    class Services:
        redis = None

    services = Services()
    services.database = database  # type: ignore[attr-defined]
    return services


@pytest.fixture
async def site(database: Database) -> AsyncIterator[Site]:
    """The API over a running call flow and the simulator, with an in-process bus."""
    world = await make_world(database)
    bus = MemoryBus()
    hub = Hub(MemoryEventLog(retention=1000), wait_s=0.5)
    publisher = DeskPublisher(hub, database, lambda: datetime.now(UTC))
    await publisher.start()
    await world.start_ledgerline(notify=publisher.notify)
    flow = world.flow

    async def reload(message: dict) -> None:
        await flow.reload_config()

    bus.subscribe(CONFIG_TOPIC, reload)
    site = await start_site(world, bus, with_flow=True, hub=hub)
    site.publisher = publisher
    try:
        yield site
    finally:
        await site.runner.cleanup()
        await publisher.stop()
        await hub.close()
        while world.flows:
            await world.stop_ledgerline()
        await world.sim.stop()


async def staff_support(site: Site) -> None:
    """Queue support with agents avi (1001, a member) and bella (1002), supervisor sam, and
    a route to it; both phones answer at once."""
    world = site.world
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        queue = Queue(name="support", strategy="linear")
        session.add(queue)
        await session.flush()
        world.queues["support"] = queue.id
    avi = await site.user("avi", "agent", endpoint="PJSIP/1001")
    bella = await site.user("bella", "agent", endpoint="PJSIP/1002")
    await site.user("sam", "supervisor")
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        session.add(QueueMember(queue_id=queue.id, user_id=avi, position=0))
    await world.add_route("support")
    world.agents.update(avi=str(avi), bella=str(bella))
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    world.sim.agent("PJSIP/1002", answer_after=0.05)


async def signed_in(site: Site, *names: str) -> dict[str, ApiClient]:
    clients = {name: site.client() for name in names}
    for name, client in clients.items():
        await client.login("ofek", name, PASSWORD)
    return clients


@pytest.fixture
async def desk(site: Site):
    """`staff_support`, signed in as avi, bella and sam."""
    await staff_support(site)
    await site.world.flow.reload_config()
    clients = await signed_in(site, "avi", "bella", "sam")
    yield clients
    for client in clients.values():
        await client.close()


@pytest.fixture
async def admin(site: Site) -> AsyncIterator[ApiClient]:
    """The business's admin (boss), signed in."""
    await site.user("boss", "admin")
    api = site.client()
    await api.login("ofek", "boss", PASSWORD)
    yield api
    await api.close()
