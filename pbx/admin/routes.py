"""Inbound routes as configuration: a DID of the tenant's to a queue, with what happens when
the business is closed, the caller's verification, a menu and the recording policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin import references
from pbx.admin.errors import Conflict, NotFound
from pbx.audit import Actor, Target, record
from pbx.db.database import Database
from pbx.db.models import InboundNumber, InboundRoute

# Which tenant a DID belongs to, across tenants (None: nobody's yet).
DidOwner = Callable[[str], Awaitable[int | None]]


class DidTaken(Conflict):
    """The DID is another business's; the message does not say whose."""

    def __init__(self, did: str) -> None:
        super().__init__(f"{did} is not available")
        self.did = did


@dataclass(frozen=True)
class Route:
    """A route as an admin sets it. `menu` is `{"prompt", "options": {digit: queue name}}`
    or None (straight to the queue)."""

    did: str
    queue_id: int
    collections_queue_id: int | None = None
    business_hours_id: int | None = None
    closed_kind: str = "hangup"
    closed_target: str = ""
    verification: str = "none"
    verification_attempts: int = 3
    menu: dict[str, Any] | None = None
    recording_policy: str = "all"
    recording_announcement: str | None = None
    # The self-service menu (`pbx.callflow.self_service_config`); None: straight on.
    self_service: dict[str, Any] | None = None
    language: str | None = None  # he, lt or en; None: the business's language


@dataclass(frozen=True)
class RouteView:
    """A stored route with its DID spelled out ("" if the number was removed)."""

    route: InboundRoute
    did: str


def did_owner(database: Database) -> DidOwner:
    """The owner lookup through a system session (a tenant's session sees only its own)."""

    async def owner(did: str) -> int | None:
        async with database.system_session() as system:
            return await system.scalar(
                select(InboundNumber.tenant_id).where(InboundNumber.e164 == did)
            )

    return owner


async def all_routes(session: AsyncSession) -> list[RouteView]:
    rows = list(await session.scalars(select(InboundRoute).order_by(InboundRoute.id)))
    return [await _view(session, row) for row in rows]


async def get_route(session: AsyncSession, route_id: int) -> RouteView:
    return await _view(session, await _route(session, route_id))


async def create_route(
    session: AsyncSession, *, tenant_id: int, actor: Actor, route: Route, owner: DidOwner
) -> RouteView:
    """Route a DID of the tenant's (created on first use) to the tenant's own queues."""
    await _check_references(session, route)
    number = await _inbound_number(session, tenant_id, route.did, owner)
    row = InboundRoute(inbound_number_id=number.id, **_columns(route))
    session.add(row)
    await session.flush()
    _audit(session, tenant_id, actor, "route.create", row.id, asdict(route))
    return await _view(session, row)


async def update_route(
    session: AsyncSession, *, tenant_id: int, actor: Actor, route_id: int, route: Route,
    owner: DidOwner,
) -> RouteView:  # fmt: skip
    row = await _route(session, route_id)
    await _check_references(session, route)
    row.inbound_number_id = (await _inbound_number(session, tenant_id, route.did, owner)).id
    for name, value in _columns(route).items():
        setattr(row, name, value)
    _audit(session, tenant_id, actor, "route.update", row.id, asdict(route))
    return await _view(session, row)


async def delete_route(
    session: AsyncSession, *, tenant_id: int, actor: Actor, route_id: int
) -> None:
    row = await _route(session, route_id)
    _audit(session, tenant_id, actor, "route.delete", row.id, {})
    await session.delete(row)


async def _check_references(session: AsyncSession, route: Route) -> None:
    await references.check_route(
        session,
        queue_ids={"queue_id": route.queue_id,
                   "collections_queue_id": route.collections_queue_id},
        business_hours_id=route.business_hours_id,
        menu_options=route.menu["options"] if route.menu else {},
        closed_kind=route.closed_kind,
        closed_target=route.closed_target,
    )  # fmt: skip


async def _inbound_number(
    session: AsyncSession, tenant_id: int, did: str, owner: DidOwner
) -> InboundNumber:
    """The tenant's DID row, created on first use; another business's DID is refused."""
    holder = await owner(did)
    if holder is not None and holder != tenant_id:
        raise DidTaken(did)
    number = await session.scalar(select(InboundNumber).where(InboundNumber.e164 == did))
    if number is None:
        number = InboundNumber(e164=did)
        session.add(number)
        await session.flush()
    return number


async def _route(session: AsyncSession, route_id: int) -> InboundRoute:
    row = await session.get(InboundRoute, route_id)
    if row is None:
        raise NotFound("route")
    return row


async def _view(session: AsyncSession, row: InboundRoute) -> RouteView:
    number = await session.get(InboundNumber, row.inbound_number_id)
    return RouteView(row, number.e164 if number else "")


def _columns(route: Route) -> dict[str, Any]:
    columns = {key: value for key, value in asdict(route).items() if key != "did"}
    columns["menu"] = columns["menu"] or {}
    return columns


def _audit(session: AsyncSession, tenant_id: int, actor: Actor, action: str, ident: int,
           details: dict[str, Any]) -> None:  # fmt: skip
    record(session, tenant_id=tenant_id, actor=actor, action=action,
           target=Target("route", ident), details=details)  # fmt: skip
