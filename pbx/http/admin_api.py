"""Configuration: queues, agents, queue memberships, business hours, inbound routes.

Reads need a supervisor, changes an admin. Each handler turns the body into the admin
service's command (`pbx/admin/`), calls it, and maps its domain errors to status codes in
`pbx.http.api.refusals`; the service checks the rules and audits the change in the same transaction,
which `_change` then announces on the bus, so every Ledgerline process reloads its call
flow at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin import agents, hours, memberships, queues, routes
from pbx.auth.roles import Role
from pbx.db.models import BusinessHours, Queue, QueueMember, User
from pbx.http.api import Api, ApiCall, conflict, invalid, refusals
from pbx.http.context import context
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


@asynccontextmanager
async def _change(call: ApiCall, what: str) -> AsyncIterator[AsyncSession]:
    """A tenant transaction for one admin change, with the admin service's refusals mapped;
    announces the change once committed. A unique or foreign-key violation becomes a 409
    naming the kind of thing."""
    ctx = context(call.request)
    try:
        tenant = call.principal.tenant_id
        with refusals():
            async with ctx.database.tenant_session(tenant) as session, session.begin():
                yield session
    except IntegrityError:
        raise conflict(f"the {what} conflicts with an existing one, or is still in use") from None
    await ctx.config_changed(call.principal.tenant_id, what)


@asynccontextmanager
async def _reading(call: ApiCall) -> AsyncIterator[AsyncSession]:
    """A tenant session for one read, with the admin service's refusals mapped."""
    with refusals():
        async with context(call.request).database.tenant_session(
            call.principal.tenant_id
        ) as session:  # fmt: skip
            yield session


# --- wire to command, row to wire ------------------------------------------------------------


def _queue_settings(body: QueueIn) -> queues.QueueSettings:
    return queues.QueueSettings(**dump(body))


def _agent_settings(body: AgentIn) -> agents.AgentSettings:
    return agents.AgentSettings(**dump(body))


def _hours(body: HoursIn) -> hours.Hours:
    return hours.Hours(**body.model_dump())


def _route(body: RouteIn) -> routes.Route:
    return routes.Route(**body.model_dump())


def _queue_out(row: Queue) -> QueueOut:
    return QueueOut.model_validate({name: getattr(row, name) for name in QueueOut.model_fields})


def _agent_out(row: User) -> AgentOut:
    return AgentOut(
        id=row.id, username=row.username, display_name=row.display_name, role=row.role,
        endpoint=row.endpoint, skills=dict(row.skills or {}), active=row.active,
        credit_limit_minor=row.credit_limit_minor, has_password=row.password_hash is not None,
        email=row.email,
    )  # fmt: skip


def _member_out(row: QueueMember) -> MemberOut:
    return MemberOut(queue_id=row.queue_id, agent_id=row.user_id, penalty=row.penalty,
                     position=row.position)  # fmt: skip


def _hours_out(row: BusinessHours) -> HoursOut:
    return HoursOut(id=row.id, name=row.name, timezone=row.timezone, weekly=row.weekly,
                    closed_dates=row.closed_dates)  # fmt: skip


def _route_out(view: routes.RouteView) -> RouteOut:
    row = view.route
    fields = {name: getattr(row, name) for name in RouteOut.model_fields if name != "did"}
    fields["menu"] = row.menu or None
    return RouteOut.model_validate(fields | {"did": view.did})


def register(api: Api) -> None:
    _register_queues(api)
    _register_agents(api)
    _register_memberships(api)
    _register_hours(api)
    _register_routes(api)


def _register_queues(api: Api) -> None:
    @api.operation("GET", "/queues", summary="List queues", role=Role.SUPERVISOR,
                   response=QueueList, tag="queues")  # fmt: skip
    async def list_queues(call: ApiCall) -> QueueList:
        async with _reading(call) as session:
            return QueueList(items=[_queue_out(row) for row in await queues.all_queues(session)])

    @api.operation("POST", "/queues", summary="Create a queue", role=Role.ADMIN, body=QueueIn,
                   response=QueueOut, status=201, tag="queues")  # fmt: skip
    async def create_queue(call: ApiCall) -> QueueOut:
        by = call.principal
        async with _change(call, "queue") as session:
            row = await queues.create_queue(session, tenant_id=by.tenant_id, actor=by,
                                            settings=_queue_settings(call.body))  # fmt: skip
            return _queue_out(row)

    @api.operation("GET", "/queues/{queue_id}", summary="Read a queue", role=Role.SUPERVISOR,
                   response=QueueOut, tag="queues")  # fmt: skip
    async def get_queue(call: ApiCall) -> QueueOut:
        async with _reading(call) as session:
            return _queue_out(await queues.get_queue(session, call.path_int("queue_id")))

    @api.operation("PUT", "/queues/{queue_id}", summary="Replace a queue's settings",
                   role=Role.ADMIN, body=QueueIn, response=QueueOut, tag="queues")  # fmt: skip
    async def update_queue(call: ApiCall) -> QueueOut:
        queue_id, by = call.path_int("queue_id"), call.principal
        async with _change(call, "queue") as session:
            row = await queues.update_queue(session, tenant_id=by.tenant_id, actor=by,
                                            queue_id=queue_id,
                                            settings=_queue_settings(call.body))  # fmt: skip
            return _queue_out(row)

    @api.operation("DELETE", "/queues/{queue_id}", summary="Delete a queue (not while a route "
                   "uses it)", role=Role.ADMIN, status=204, tag="queues")  # fmt: skip
    async def delete_queue(call: ApiCall) -> None:
        queue_id, by = call.path_int("queue_id"), call.principal
        async with _change(call, "queue") as session:
            await queues.delete_queue(session, tenant_id=by.tenant_id, actor=by,
                                      queue_id=queue_id)  # fmt: skip


def _register_agents(api: Api) -> None:
    @api.operation("GET", "/agents", summary="List agents (and other users)",
                   role=Role.SUPERVISOR, response=AgentList, tag="agents")  # fmt: skip
    async def list_agents(call: ApiCall) -> AgentList:
        async with _reading(call) as session:
            return AgentList(items=[_agent_out(row) for row in await agents.all_agents(session)])

    @api.operation("POST", "/agents", summary="Create an agent", role=Role.ADMIN, body=AgentIn,
                   response=AgentOut, status=201, tag="agents")  # fmt: skip
    async def create_agent(call: ApiCall) -> AgentOut:
        body: AgentIn = call.body
        by, passwords = call.principal, context(call.request).sessions.passwords
        secret = await passwords.hash(body.password) if body.password else None
        async with _change(call, "agent") as session:
            row = await agents.create_agent(session, tenant_id=by.tenant_id, actor=by,
                                            settings=_agent_settings(body),
                                            password_hash=secret)  # fmt: skip
            return _agent_out(row)

    @api.operation("GET", "/agents/{agent_id}", summary="Read an agent", role=Role.SUPERVISOR,
                   response=AgentOut, tag="agents")  # fmt: skip
    async def get_agent(call: ApiCall) -> AgentOut:
        async with _reading(call) as session:
            return _agent_out(await agents.get_agent(session, call.path_int("agent_id")))

    @api.operation("PUT", "/agents/{agent_id}", summary="Replace an agent's settings",
                   role=Role.ADMIN, body=AgentIn, response=AgentOut, tag="agents")  # fmt: skip
    async def update_agent(call: ApiCall) -> AgentOut:
        body: AgentIn = call.body
        ctx, by = context(call.request), call.principal
        secret = await ctx.sessions.passwords.hash(body.password) if body.password else None
        async with _change(call, "agent") as session:
            changed = await agents.update_agent(
                session, tenant_id=by.tenant_id, actor=by, agent_id=call.path_int("agent_id"),
                settings=_agent_settings(body), password_hash=secret,
            )  # fmt: skip
            out = _agent_out(changed.agent)
        if changed.access_changed:
            await ctx.sessions.sign_out_user(out.id)
        return out

    @api.operation("DELETE", "/agents/{agent_id}", summary="Delete an agent", role=Role.ADMIN,
                   status=204, tag="agents")  # fmt: skip
    async def delete_agent(call: ApiCall) -> None:
        agent_id, by = call.path_int("agent_id"), call.principal
        async with _change(call, "agent") as session:
            await agents.delete_agent(session, tenant_id=by.tenant_id, actor=by,
                                      agent_id=agent_id)  # fmt: skip


def _register_memberships(api: Api) -> None:
    @api.operation("GET", "/queues/{queue_id}/members", summary="A queue's members",
                   role=Role.SUPERVISOR, response=MemberList, tag="queues")  # fmt: skip
    async def list_members(call: ApiCall) -> MemberList:
        async with _reading(call) as session:
            rows = await memberships.members(session, call.path_int("queue_id"))
            return MemberList(items=[_member_out(row) for row in rows])

    @api.operation("PUT", "/queues/{queue_id}/members/{agent_id}", summary="Add an agent to a "
                   "queue, or change their penalty and position", role=Role.ADMIN,
                   body=MemberIn, response=MemberOut, tag="queues")  # fmt: skip
    async def put_member(call: ApiCall) -> MemberOut:
        body: MemberIn = call.body
        agent_id, by = call.path_int("agent_id"), call.principal
        if body.agent_id != agent_id:
            raise invalid("agent_id", "must match the path")
        command = memberships.PutMember(call.path_int("queue_id"), agent_id, body.penalty,
                                        body.position)  # fmt: skip
        async with _change(call, "membership") as session:
            row = await memberships.put_member(session, tenant_id=by.tenant_id, actor=by,
                                               command=command)  # fmt: skip
            return _member_out(row)

    @api.operation("DELETE", "/queues/{queue_id}/members/{agent_id}", summary="Remove an agent "
                   "from a queue", role=Role.ADMIN, status=204, tag="queues")  # fmt: skip
    async def delete_member(call: ApiCall) -> None:
        by = call.principal
        queue_id, agent_id = call.path_int("queue_id"), call.path_int("agent_id")
        async with _change(call, "membership") as session:
            await memberships.remove_member(session, tenant_id=by.tenant_id, actor=by,
                                            queue_id=queue_id, agent_id=agent_id)  # fmt: skip


def _register_hours(api: Api) -> None:
    @api.operation("GET", "/business-hours", summary="List business hours",
                   role=Role.SUPERVISOR, response=HoursList, tag="routing")  # fmt: skip
    async def list_hours(call: ApiCall) -> HoursList:
        async with _reading(call) as session:
            return HoursList(items=[_hours_out(row) for row in await hours.all_hours(session)])

    @api.operation("POST", "/business-hours", summary="Create business hours", role=Role.ADMIN,
                   body=HoursIn, response=HoursOut, status=201, tag="routing")  # fmt: skip
    async def create_hours(call: ApiCall) -> HoursOut:
        by = call.principal
        async with _change(call, "business hours") as session:
            row = await hours.create_hours(session, tenant_id=by.tenant_id, actor=by,
                                           hours=_hours(call.body))  # fmt: skip
            return _hours_out(row)

    @api.operation("GET", "/business-hours/{hours_id}", summary="Read business hours",
                   role=Role.SUPERVISOR, response=HoursOut, tag="routing")  # fmt: skip
    async def get_hours(call: ApiCall) -> HoursOut:
        async with _reading(call) as session:
            return _hours_out(await hours.get_hours(session, call.path_int("hours_id")))

    @api.operation("PUT", "/business-hours/{hours_id}", summary="Replace business hours",
                   role=Role.ADMIN, body=HoursIn, response=HoursOut, tag="routing")  # fmt: skip
    async def update_hours(call: ApiCall) -> HoursOut:
        hours_id, by = call.path_int("hours_id"), call.principal
        async with _change(call, "business hours") as session:
            row = await hours.update_hours(session, tenant_id=by.tenant_id, actor=by,
                                           hours_id=hours_id, hours=_hours(call.body))  # fmt: skip
            return _hours_out(row)

    @api.operation("DELETE", "/business-hours/{hours_id}", summary="Delete business hours "
                   "(routes using them become always open)", role=Role.ADMIN, status=204,
                   tag="routing")  # fmt: skip
    async def delete_hours(call: ApiCall) -> None:
        hours_id, by = call.path_int("hours_id"), call.principal
        async with _change(call, "business hours") as session:
            await hours.delete_hours(session, tenant_id=by.tenant_id, actor=by,
                                     hours_id=hours_id)  # fmt: skip


def _register_routes(api: Api) -> None:
    @api.operation("GET", "/routes", summary="List inbound routes", role=Role.SUPERVISOR,
                   response=RouteList, tag="routing")  # fmt: skip
    async def list_routes(call: ApiCall) -> RouteList:
        async with _reading(call) as session:
            return RouteList(items=[_route_out(view) for view in await routes.all_routes(session)])

    @api.operation("POST", "/routes", summary="Route a DID to a queue", role=Role.ADMIN,
                   body=RouteIn, response=RouteOut, status=201, tag="routing")  # fmt: skip
    async def create_route(call: ApiCall) -> RouteOut:
        by, owner = call.principal, routes.did_owner(context(call.request).database)
        async with _change(call, "route") as session:
            view = await routes.create_route(session, tenant_id=by.tenant_id, actor=by,
                                             route=_route(call.body), owner=owner)  # fmt: skip
            return _route_out(view)

    @api.operation("GET", "/routes/{route_id}", summary="Read an inbound route",
                   role=Role.SUPERVISOR, response=RouteOut, tag="routing")  # fmt: skip
    async def get_route(call: ApiCall) -> RouteOut:
        async with _reading(call) as session:
            return _route_out(await routes.get_route(session, call.path_int("route_id")))

    @api.operation("PUT", "/routes/{route_id}", summary="Replace an inbound route",
                   role=Role.ADMIN, body=RouteIn, response=RouteOut, tag="routing")  # fmt: skip
    async def update_route(call: ApiCall) -> RouteOut:
        route_id, by = call.path_int("route_id"), call.principal
        owner = routes.did_owner(context(call.request).database)
        async with _change(call, "route") as session:
            view = await routes.update_route(session, tenant_id=by.tenant_id, actor=by,
                                             route_id=route_id, route=_route(call.body),
                                             owner=owner)  # fmt: skip
            return _route_out(view)

    @api.operation("DELETE", "/routes/{route_id}", summary="Delete an inbound route",
                   role=Role.ADMIN, status=204, tag="routing")  # fmt: skip
    async def delete_route(call: ApiCall) -> None:
        route_id, by = call.path_int("route_id"), call.principal
        async with _change(call, "route") as session:
            await routes.delete_route(session, tenant_id=by.tenant_id, actor=by,
                                      route_id=route_id)  # fmt: skip
