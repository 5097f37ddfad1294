"""The demo businesses' contact centres: queues, agents with desk phones, inbound routes.

Every demo user's password is DEMO_PASSWORD (`ledgerline demo` prints it): the demo seeds
whatever database it is given, so give it one of its own, never a production one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from pbx.auth.passwords import hash_password
from pbx.db.database import Database
from pbx.db.models import InboundNumber, InboundRoute, Queue, QueueMember, Tenant, User
from pbx.demo_data import OFEK, SAULE, DemoTenant

DEMO_PASSWORD = "ledgerline-demo"


@dataclass(frozen=True)
class DemoAgent:
    username: str
    name: str
    extension: str
    queues: tuple[str, ...]
    role: str = "agent"


@dataclass(frozen=True)
class DemoCentre:
    tenant: DemoTenant
    queues: tuple[tuple[str, str], ...]  # (name, strategy)
    agents: tuple[DemoAgent, ...]
    main_queue: str
    collections_queue: str | None


CENTRES = (
    DemoCentre(
        OFEK,
        (("service", "leastrecent"), ("collections", "linear")),
        (
            DemoAgent("dana", "דנה שמיר", "1001", ("service",)),
            DemoAgent("avi", "אבי גולן", "1002", ("service", "collections")),
            DemoAgent("miri", "מירי כץ", "1003", ("collections",)),
            DemoAgent("noa", "נועה אלון", "", (), role="supervisor"),
            DemoAgent("admin", "Ofek Admin", "", (), role="admin"),
        ),
        "service",
        "collections",
    ),
    DemoCentre(
        SAULE,
        (("aptarnavimas", "rrmemory"),),
        (
            DemoAgent("egle", "Eglė Petrauskienė", "2001", ("aptarnavimas",)),
            DemoAgent("tomas", "Tomas Jonaitis", "2002", ("aptarnavimas",)),
            DemoAgent("admin", "Saulė Admin", "", (), role="admin"),
        ),
        "aptarnavimas",
        None,
    ),
)


def endpoints() -> list[str]:
    return [f"PJSIP/{a.extension}" for c in CENTRES for a in c.agents if a.extension]


async def seed_demo_centres(database: Database) -> bool:
    """Queues, agents and routes for the demo tenants, once; False when already there."""
    secret = hash_password(DEMO_PASSWORD)
    seeded = False
    for centre in CENTRES:
        async with database.system_session() as session:
            tenant_id = await session.scalar(
                select(Tenant.id).where(Tenant.slug == centre.tenant.slug)
            )
        if tenant_id is None:
            continue
        async with database.tenant_session(tenant_id) as session, session.begin():
            if await session.scalar(select(Queue.id).limit(1)) is not None:
                continue
            queues = {name: Queue(name=name, strategy=strategy, ring_timeout_seconds=12,
                                  wrapup_seconds=5, announce_every_seconds=30)
                      for name, strategy in centre.queues}  # fmt: skip
            session.add_all(queues.values())
            await session.flush()
            for position, agent in enumerate(centre.agents):
                user = User(
                    username=agent.username, display_name=agent.name, role=agent.role,
                    endpoint=f"PJSIP/{agent.extension}" if agent.extension else None,
                    password_hash=secret, credit_limit_minor=5_000,
                )  # fmt: skip
                session.add(user)
                await session.flush()
                session.add_all(
                    QueueMember(queue_id=queues[name].id, user_id=user.id, position=position)
                    for name in agent.queues
                )
            collections = queues[centre.collections_queue] if centre.collections_queue else None
            for number in await session.scalars(select(InboundNumber)):
                session.add(InboundRoute(
                    inbound_number_id=number.id, queue_id=queues[centre.main_queue].id,
                    collections_queue_id=collections.id if collections else None,
                ))  # fmt: skip
            seeded = True
    return seeded
