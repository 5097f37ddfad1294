"""Configuration: queues, agents, queue memberships, business hours, inbound routes.

Reads need a supervisor, changes an admin. Every change is audited in the same transaction
and then announced on the bus, so every Ledgerline process reloads its call flow at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin import agents, queues, references
from pbx.admin.errors import BadReference, Conflict, NotFound
from pbx.auth.roles import Role
from pbx.db.models import (
    Base,
    BusinessHours,
    InboundNumber,
    InboundRoute,
    Queue,
    QueueMember,
    User,
)
from pbx.http.api import Api, ApiCall, conflict, invalid, not_found
from pbx.http.context import audit, context
from pbx.http.schemas import (
    AgentIn,
    AgentList,
    AgentOut,
    HoursIn,
    HoursList,
    HoursOut,
    MemberIn,
    MemberList,
    MemberOut,
    QueueIn,
    QueueList,
    QueueOut,
    RouteIn,
    RouteList,
    RouteOut,
    dump,
)

M = TypeVar("M", bound=Base)


@asynccontextmanager
async def _change(call: ApiCall, what: str) -> AsyncIterator[AsyncSession]:
    """A tenant transaction for one admin change; announces it once committed. A unique or
    foreign-key violation becomes a 409 naming the kind of thing."""
    ctx = context(call.request)
    try:
        tenant = call.principal.tenant_id
        async with ctx.database.tenant_session(tenant) as session, session.begin():
            yield session
    except IntegrityError:
        raise conflict(f"the {what} conflicts with an existing one, or is still in use") from None
    await ctx.config_changed(call.principal.tenant_id, what)


@contextmanager
def _refusals() -> Iterator[None]:
    """The admin service's domain errors as status codes: the one place they are mapped."""
    try:
        yield
    except NotFound as exc:
        raise not_found(exc.what) from None
    except BadReference as exc:
        raise invalid(exc.field, exc.problem) from None
    except Conflict as exc:
        raise conflict(str(exc)) from None


async def _get(session: AsyncSession, model: type[M], ident: int, what: str) -> M:
    row = await session.get(model, ident)
    if row is None:
        raise not_found(what)
    return row


@asynccontextmanager
async def reading(call: ApiCall) -> AsyncIterator[AsyncSession]:
    async with context(call.request).database.tenant_session(call.principal.tenant_id) as session:
        yield session


def _queue_out(row: Queue) -> QueueOut:
    return QueueOut.model_validate({name: getattr(row, name) for name in QueueOut.model_fields})


def _agent_out(row: User) -> AgentOut:
    return AgentOut(
        id=row.id, username=row.username, display_name=row.display_name, role=row.role,
        endpoint=row.endpoint, skills=dict(row.skills or {}), active=row.active,
        credit_limit_minor=row.credit_limit_minor, has_password=row.password_hash is not None,
    )  # fmt: skip


def _hours_out(row: BusinessHours) -> HoursOut:
    return HoursOut(id=row.id, name=row.name, timezone=row.timezone, weekly=row.weekly,
                    closed_dates=row.closed_dates)  # fmt: skip


async def _route_out(session: AsyncSession, row: InboundRoute) -> RouteOut:
    number = await session.get(InboundNumber, row.inbound_number_id)
    fields = {name: getattr(row, name) for name in RouteOut.model_fields if name != "did"}
    fields["menu"] = row.menu or None
    return RouteOut.model_validate(fields | {"did": number.e164 if number else ""})


def _route_columns(body: RouteIn) -> dict[str, Any]:
    columns = body.model_dump(exclude={"did"})
    columns["menu"] = columns["menu"] or {}
    return columns


async def _check_queue_targets(session: AsyncSession, body: QueueIn) -> None:
    with _refusals():
        await references.check_overflow(session, body.overflow_kind, body.overflow_target)


async def _check_route_refs(session: AsyncSession, body: RouteIn) -> None:
    with _refusals():
        await references.check_route(
            session,
            queue_ids={
                "queue_id": body.queue_id,
                "collections_queue_id": body.collections_queue_id,
            },
            business_hours_id=body.business_hours_id,
            menu_options=body.menu.options if body.menu else {},
            closed_kind=body.closed_kind,
            closed_target=body.closed_target,
        )


async def _inbound_number(call: ApiCall, session: AsyncSession, did: str) -> InboundNumber:
    """The tenant's DID row, created on first use; a DID of another business is refused
    without saying whose it is."""
    async with context(call.request).database.system_session() as system:
        owner = await system.scalar(select(InboundNumber).where(InboundNumber.e164 == did))
    if owner is not None and owner.tenant_id != call.principal.tenant_id:
        raise conflict(f"{did} is not available")
    number = await session.scalar(select(InboundNumber).where(InboundNumber.e164 == did))
    if number is None:
        number = InboundNumber(e164=did)
        session.add(number)
        await session.flush()
    return number


def register(api: Api) -> None:
    # --- queues -----------------------------------------------------------------------------

    @api.operation("GET", "/queues", summary="List queues", role=Role.SUPERVISOR,
                   response=QueueList, tag="queues")  # fmt: skip
    async def list_queues(call: ApiCall) -> QueueList:
        async with reading(call) as session:
            rows = await session.scalars(select(Queue).order_by(Queue.name))
            return QueueList(items=[_queue_out(row) for row in rows])

    @api.operation("POST", "/queues", summary="Create a queue", role=Role.ADMIN, body=QueueIn,
                   response=QueueOut, status=201, tag="queues")  # fmt: skip
    async def create_queue(call: ApiCall) -> QueueOut:
        async with _change(call, "queue") as session:
            await _check_queue_targets(session, call.body)
            row = Queue(**dump(call.body))
            session.add(row)
            await session.flush()
            audit(session, call.principal, "queue.create", "queue", row.id, dump(call.body))
            return _queue_out(row)

    @api.operation("GET", "/queues/{queue_id}", summary="Read a queue", role=Role.SUPERVISOR,
                   response=QueueOut, tag="queues")  # fmt: skip
    async def get_queue(call: ApiCall) -> QueueOut:
        async with reading(call) as session:
            return _queue_out(await _get(session, Queue, call.path_int("queue_id"), "queue"))

    @api.operation("PUT", "/queues/{queue_id}", summary="Replace a queue's settings",
                   role=Role.ADMIN, body=QueueIn, response=QueueOut, tag="queues")  # fmt: skip
    async def update_queue(call: ApiCall) -> QueueOut:
        async with _change(call, "queue") as session:
            row = await _get(session, Queue, call.path_int("queue_id"), "queue")
            await _check_queue_targets(session, call.body)
            before = _queue_out(row).model_dump(mode="json")
            for name, value in dump(call.body).items():
                setattr(row, name, value)
            audit(session, call.principal, "queue.update", "queue", row.id,
                  {"before": before, "after": dump(call.body)})  # fmt: skip
            return _queue_out(row)

    @api.operation("DELETE", "/queues/{queue_id}", summary="Delete a queue (not while a route "
                   "uses it)", role=Role.ADMIN, status=204, tag="queues")  # fmt: skip
    async def delete_queue(call: ApiCall) -> None:
        async with _change(call, "queue") as session:
            queue_id, by = call.path_int("queue_id"), call.principal
            with _refusals():
                await queues.delete_queue(session, tenant_id=by.tenant_id, actor=by,
                                          queue_id=queue_id)  # fmt: skip

    # --- agents -----------------------------------------------------------------------------

    @api.operation("GET", "/agents", summary="List agents (and other users)",
                   role=Role.SUPERVISOR, response=AgentList, tag="agents")  # fmt: skip
    async def list_agents(call: ApiCall) -> AgentList:
        async with reading(call) as session:
            rows = await session.scalars(select(User).order_by(User.username))
            return AgentList(items=[_agent_out(row) for row in rows])

    @api.operation("POST", "/agents", summary="Create an agent", role=Role.ADMIN, body=AgentIn,
                   response=AgentOut, status=201, tag="agents")  # fmt: skip
    async def create_agent(call: ApiCall) -> AgentOut:
        body: AgentIn = call.body
        passwords = context(call.request).sessions.passwords
        secret = await passwords.hash(body.password) if body.password else None
        async with _change(call, "agent") as session:
            row = User(**dump(body), password_hash=secret)
            session.add(row)
            await session.flush()
            audit(session, call.principal, "agent.create", "user", row.id, dump(body))
            return _agent_out(row)

    @api.operation("GET", "/agents/{agent_id}", summary="Read an agent", role=Role.SUPERVISOR,
                   response=AgentOut, tag="agents")  # fmt: skip
    async def get_agent(call: ApiCall) -> AgentOut:
        async with reading(call) as session:
            return _agent_out(await _get(session, User, call.path_int("agent_id"), "agent"))

    @api.operation("PUT", "/agents/{agent_id}", summary="Replace an agent's settings",
                   role=Role.ADMIN, body=AgentIn, response=AgentOut, tag="agents")  # fmt: skip
    async def update_agent(call: ApiCall) -> AgentOut:
        body: AgentIn = call.body
        ctx = context(call.request)
        secret = await ctx.sessions.passwords.hash(body.password) if body.password else None
        async with _change(call, "agent") as session:
            row = await _get(session, User, call.path_int("agent_id"), "agent")
            with _refusals():
                agents.check_own_access(call.principal, row.id, role=body.role,
                                        active=body.active)  # fmt: skip
            access_changed = body.password is not None or (row.role, row.active) != (
                body.role, body.active,
            )  # fmt: skip
            for name, value in dump(body).items():
                setattr(row, name, value)
            if secret is not None:
                row.password_hash = secret
            audit(session, call.principal, "agent.update", "user", row.id,
                  dump(body, password_changed=body.password is not None))  # fmt: skip
            out = _agent_out(row)
        if access_changed:
            await ctx.sessions.sign_out_user(out.id)
        return out

    @api.operation("DELETE", "/agents/{agent_id}", summary="Delete an agent", role=Role.ADMIN,
                   status=204, tag="agents")  # fmt: skip
    async def delete_agent(call: ApiCall) -> None:
        async with _change(call, "agent") as session:
            agent_id, by = call.path_int("agent_id"), call.principal
            with _refusals():
                await agents.delete_agent(session, tenant_id=by.tenant_id, actor=by,
                                          agent_id=agent_id)  # fmt: skip

    # --- memberships ------------------------------------------------------------------------

    @api.operation("GET", "/queues/{queue_id}/members", summary="A queue's members",
                   role=Role.SUPERVISOR, response=MemberList, tag="queues")  # fmt: skip
    async def list_members(call: ApiCall) -> MemberList:
        async with reading(call) as session:
            queue = await _get(session, Queue, call.path_int("queue_id"), "queue")
            rows = await session.scalars(
                select(QueueMember).where(QueueMember.queue_id == queue.id)
                .order_by(QueueMember.position, QueueMember.user_id)
            )  # fmt: skip
            return MemberList(items=[_member_out(row) for row in rows])

    @api.operation("PUT", "/queues/{queue_id}/members/{agent_id}", summary="Add an agent to a "
                   "queue, or change their penalty and position", role=Role.ADMIN,
                   body=MemberIn, response=MemberOut, tag="queues")  # fmt: skip
    async def put_member(call: ApiCall) -> MemberOut:
        body: MemberIn = call.body
        agent_id = call.path_int("agent_id")
        if body.agent_id != agent_id:
            raise invalid("agent_id", "must match the path")
        async with _change(call, "membership") as session:
            queue = await _get(session, Queue, call.path_int("queue_id"), "queue")
            await _get(session, User, agent_id, "agent")
            row = await session.scalar(select(QueueMember).where(
                QueueMember.queue_id == queue.id, QueueMember.user_id == agent_id))  # fmt: skip
            if row is None:
                row = QueueMember(queue_id=queue.id, user_id=agent_id)
                session.add(row)
            row.penalty, row.position = body.penalty, body.position
            await session.flush()
            audit(session, call.principal, "queue.member.put", "queue", queue.id,
                  body.model_dump())  # fmt: skip
            return _member_out(row)

    @api.operation("DELETE", "/queues/{queue_id}/members/{agent_id}", summary="Remove an agent "
                   "from a queue", role=Role.ADMIN, status=204, tag="queues")  # fmt: skip
    async def delete_member(call: ApiCall) -> None:
        async with _change(call, "membership") as session:
            row = await session.scalar(select(QueueMember).where(
                QueueMember.queue_id == call.path_int("queue_id"),
                QueueMember.user_id == call.path_int("agent_id"),
            ))  # fmt: skip
            if row is None:
                raise not_found("membership")
            audit(session, call.principal, "queue.member.delete", "queue", row.queue_id,
                  {"agent_id": row.user_id})  # fmt: skip
            await session.delete(row)

    # --- business hours ---------------------------------------------------------------------

    @api.operation("GET", "/business-hours", summary="List business hours",
                   role=Role.SUPERVISOR, response=HoursList, tag="routing")  # fmt: skip
    async def list_hours(call: ApiCall) -> HoursList:
        async with reading(call) as session:
            rows = await session.scalars(select(BusinessHours).order_by(BusinessHours.name))
            return HoursList(items=[_hours_out(row) for row in rows])

    @api.operation("POST", "/business-hours", summary="Create business hours", role=Role.ADMIN,
                   body=HoursIn, response=HoursOut, status=201, tag="routing")  # fmt: skip
    async def create_hours(call: ApiCall) -> HoursOut:
        async with _change(call, "business hours") as session:
            row = BusinessHours(**call.body.model_dump())
            session.add(row)
            await session.flush()
            audit(session, call.principal, "hours.create", "business_hours", row.id,
                  call.body.model_dump())  # fmt: skip
            return _hours_out(row)

    @api.operation("GET", "/business-hours/{hours_id}", summary="Read business hours",
                   role=Role.SUPERVISOR, response=HoursOut, tag="routing")  # fmt: skip
    async def get_hours(call: ApiCall) -> HoursOut:
        async with reading(call) as session:
            ident = call.path_int("hours_id")
            return _hours_out(await _get(session, BusinessHours, ident, "business hours"))

    @api.operation("PUT", "/business-hours/{hours_id}", summary="Replace business hours",
                   role=Role.ADMIN, body=HoursIn, response=HoursOut, tag="routing")  # fmt: skip
    async def update_hours(call: ApiCall) -> HoursOut:
        async with _change(call, "business hours") as session:
            row = await _get(session, BusinessHours, call.path_int("hours_id"), "business hours")
            for name, value in call.body.model_dump().items():
                setattr(row, name, value)
            audit(session, call.principal, "hours.update", "business_hours", row.id,
                  call.body.model_dump())  # fmt: skip
            return _hours_out(row)

    @api.operation("DELETE", "/business-hours/{hours_id}", summary="Delete business hours "
                   "(routes using them become always open)", role=Role.ADMIN, status=204,
                   tag="routing")  # fmt: skip
    async def delete_hours(call: ApiCall) -> None:
        async with _change(call, "business hours") as session:
            row = await _get(session, BusinessHours, call.path_int("hours_id"), "business hours")
            audit(session, call.principal, "hours.delete", "business_hours", row.id,
                  {"name": row.name})  # fmt: skip
            await session.delete(row)

    # --- inbound routes ---------------------------------------------------------------------

    @api.operation("GET", "/routes", summary="List inbound routes", role=Role.SUPERVISOR,
                   response=RouteList, tag="routing")  # fmt: skip
    async def list_routes(call: ApiCall) -> RouteList:
        async with reading(call) as session:
            rows = list(await session.scalars(select(InboundRoute).order_by(InboundRoute.id)))
            return RouteList(items=[await _route_out(session, row) for row in rows])

    @api.operation("POST", "/routes", summary="Route a DID to a queue", role=Role.ADMIN,
                   body=RouteIn, response=RouteOut, status=201, tag="routing")  # fmt: skip
    async def create_route(call: ApiCall) -> RouteOut:
        body: RouteIn = call.body
        async with _change(call, "route") as session:
            await _check_route_refs(session, body)
            number = await _inbound_number(call, session, body.did)
            row = InboundRoute(inbound_number_id=number.id, **_route_columns(body))
            session.add(row)
            await session.flush()
            audit(session, call.principal, "route.create", "route", row.id, body.model_dump())
            return await _route_out(session, row)

    @api.operation("GET", "/routes/{route_id}", summary="Read an inbound route",
                   role=Role.SUPERVISOR, response=RouteOut, tag="routing")  # fmt: skip
    async def get_route(call: ApiCall) -> RouteOut:
        async with reading(call) as session:
            row = await _get(session, InboundRoute, call.path_int("route_id"), "route")
            return await _route_out(session, row)

    @api.operation("PUT", "/routes/{route_id}", summary="Replace an inbound route",
                   role=Role.ADMIN, body=RouteIn, response=RouteOut, tag="routing")  # fmt: skip
    async def update_route(call: ApiCall) -> RouteOut:
        body: RouteIn = call.body
        async with _change(call, "route") as session:
            row = await _get(session, InboundRoute, call.path_int("route_id"), "route")
            await _check_route_refs(session, body)
            row.inbound_number_id = (await _inbound_number(call, session, body.did)).id
            for name, value in _route_columns(body).items():
                setattr(row, name, value)
            audit(session, call.principal, "route.update", "route", row.id, body.model_dump())
            return await _route_out(session, row)

    @api.operation("DELETE", "/routes/{route_id}", summary="Delete an inbound route",
                   role=Role.ADMIN, status=204, tag="routing")  # fmt: skip
    async def delete_route(call: ApiCall) -> None:
        async with _change(call, "route") as session:
            row = await _get(session, InboundRoute, call.path_int("route_id"), "route")
            audit(session, call.principal, "route.delete", "route", row.id, {})
            await session.delete(row)


def _member_out(row: QueueMember) -> MemberOut:
    return MemberOut(queue_id=row.queue_id, agent_id=row.user_id, penalty=row.penalty,
                     position=row.position)  # fmt: skip
