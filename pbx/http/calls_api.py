"""Agent states, the call log, and in-call control.

An agent changes their own state and controls their own calls; a supervisor may do both
for anyone in their business. Call control needs this process to own the Asterisk
connection (503 otherwise, so a load balancer can retry elsewhere).
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime

from sqlalchemy import select

from pbx.acd.errors import AcdError, InvalidTransition, UnknownAgent
from pbx.auth.roles import Principal, Role
from pbx.callflow import control
from pbx.callflow.app import CallFlow
from pbx.callflow.config import agent_key, queue_key
from pbx.callflow.control import ControlError
from pbx.db.models import Call, Queue
from pbx.http.api import Api, ApiCall, ApiError, QueryParam, conflict, invalid, not_found
from pbx.http.context import audit, context
from pbx.http.schemas import (
    AgentStateIn,
    AgentStateList,
    AgentStateOut,
    CallList,
    CallOut,
    CallStarted,
    ClickToCallIn,
    TransferIn,
)

PAGE = 100


def _flow(call: ApiCall) -> CallFlow:
    flow = context(call.request).flow
    if flow is None:
        raise ApiError(503, "no_call_control", "this Ledgerline has no Asterisk connection")
    if not flow.ready:
        raise ApiError(503, "asterisk_unavailable", "not connected to Asterisk; retry shortly")
    return flow


def _may_act_for(principal: Principal, agent_id: int) -> None:
    if principal.user_id != agent_id and not principal.at_least(Role.SUPERVISOR):
        raise ApiError(403, "forbidden", "agents may only change their own state")


def _state_out(flow: CallFlow, agent_id: int) -> AgentStateOut:
    agent = flow.state.engine.agents.get(agent_key(agent_id))
    if agent is None:
        return AgentStateOut(agent_id=agent_id, state="logged_out")
    return AgentStateOut(agent_id=agent_id, state=agent.state.value,
                         pause_reason=agent.pause_reason, since=agent.state_since,
                         call_id=agent.call_id)  # fmt: skip


def _own_call(call: ApiCall, flow: CallFlow, call_id: str) -> None:
    """An agent may control only the call they are on; a supervisor any of their tenant's."""
    live = flow.state.calls.get(call_id)
    if live is None or live.tenant_id != call.principal.tenant_id:
        raise not_found("call")
    if call.principal.at_least(Role.SUPERVISOR):
        return
    if live.agent_id != agent_key(call.principal.user_id):
        raise ApiError(403, "forbidden", "this is not your call")


async def _control(call: ApiCall, action: str, work: Awaitable[None]) -> None:
    try:
        await work
    except ControlError as exc:
        raise ApiError(404 if exc.kind == "not_found" else 409, exc.kind, str(exc)) from None
    ctx = context(call.request)
    async with ctx.database.tenant_session(call.principal.tenant_id) as session, session.begin():
        audit(session, call.principal, f"call.{action}", "call", call.path("call_id"))


def register(api: Api) -> None:
    # --- agent states -----------------------------------------------------------------------

    @api.operation("GET", "/agent-states", summary="Every agent's live state",
                   role=Role.SUPERVISOR, response=AgentStateList, tag="agents")  # fmt: skip
    async def list_agent_states(call: ApiCall) -> AgentStateList:
        flow = _flow(call)
        tenant = call.principal.tenant_id
        ids = [p.user_id for p in flow.config.agents.values() if p.tenant_id == tenant]
        return AgentStateList(items=[_state_out(flow, ident) for ident in sorted(ids)])

    @api.operation("GET", "/agents/{agent_id}/state", summary="An agent's live state",
                   response=AgentStateOut, tag="agents")  # fmt: skip
    async def get_agent_state(call: ApiCall) -> AgentStateOut:
        agent_id = call.path_int("agent_id")
        _may_act_for(call.principal, agent_id)
        flow = _flow(call)
        profile = flow.config.agents.get(agent_key(agent_id))
        if profile is None or profile.tenant_id != call.principal.tenant_id:
            raise not_found("agent")
        return _state_out(flow, agent_id)

    @api.operation("PUT", "/agents/{agent_id}/state", summary="Log in, pause or log out",
                   body=AgentStateIn, response=AgentStateOut, tag="agents")  # fmt: skip
    async def set_agent_state(call: ApiCall) -> AgentStateOut:
        body: AgentStateIn = call.body
        agent_id = call.path_int("agent_id")
        _may_act_for(call.principal, agent_id)
        flow = _flow(call)
        profile = flow.config.agents.get(agent_key(agent_id))
        if profile is None or profile.tenant_id != call.principal.tenant_id:
            raise not_found("agent (or the agent has no endpoint to ring)")
        ident = agent_key(agent_id)
        try:
            if body.state == "available":
                await flow.agent_available(ident)
            elif body.state == "paused":
                await flow.pause_agent(ident, body.reason)
            else:
                await flow.log_out_agent(ident)
        except InvalidTransition as exc:
            raise conflict(str(exc)) from None
        except UnknownAgent:
            raise not_found("agent") from None
        ctx = context(call.request)
        tenant = call.principal.tenant_id
        async with ctx.database.tenant_session(tenant) as session, session.begin():
            audit(session, call.principal, "agent.state", "user", agent_id, body.model_dump())
        return _state_out(flow, agent_id)

    # --- the call log -----------------------------------------------------------------------

    @api.operation(
        "GET", "/calls", summary="The call log, newest first (agents see their own calls)",
        response=CallList, tag="calls",
        query=(
            QueryParam("from", {"type": "string", "format": "date-time"}, "arrived at or after"),
            QueryParam("to", {"type": "string", "format": "date-time"}, "arrived before"),
            QueryParam("queue_id", {"type": "integer"}),
            QueryParam("agent_id", {"type": "integer"}),
            QueryParam("customer_id", {"type": "integer"}),
            QueryParam("outcome", {"type": "string"}),
            QueryParam("before_id", {"type": "integer"}, "the next page after this id"),
            QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": PAGE}),
        ),
    )  # fmt: skip
    async def list_calls(call: ApiCall) -> CallList:
        query = select(Call).order_by(Call.id.desc())
        params = call.query
        for name in ("queue_id", "agent_id", "customer_id", "before_id"):
            if name in params:
                value = _int(params[name], name)
                column = Call.id if name == "before_id" else getattr(Call, name)
                query = query.where(column < value if name == "before_id" else column == value)
        if "outcome" in params:
            query = query.where(Call.outcome == params["outcome"])
        for name, op in (("from", "__ge__"), ("to", "__lt__")):
            if name in params:
                query = query.where(getattr(Call.arrived_at, op)(_time(params[name], name)))
        if not call.principal.at_least(Role.SUPERVISOR):
            query = query.where(Call.agent_id == call.principal.user_id)
        limit = min(PAGE, _int(params.get("limit", str(PAGE)), "limit"))
        if limit < 1:
            raise invalid("limit", "must be at least 1")
        ctx = context(call.request)
        async with ctx.database.tenant_session(call.principal.tenant_id) as session:
            rows = list(await session.scalars(query.limit(limit)))
        items = [_call_out(row) for row in rows]
        more = rows[-1].id if len(rows) == limit else None
        return CallList(items=items, next_before_id=more)

    # --- in-call control --------------------------------------------------------------------

    @api.operation("POST", "/calls/{call_id}/hold", summary="Put the caller on hold (music)",
                   status=204, tag="calls")  # fmt: skip
    async def hold_call(call: ApiCall) -> None:
        flow, call_id = _flow(call), call.path("call_id")
        _own_call(call, flow, call_id)
        await _control(call, "hold", control.hold(flow, call_id, call.principal.tenant_id))

    @api.operation("POST", "/calls/{call_id}/resume", summary="Take the caller off hold",
                   status=204, tag="calls")  # fmt: skip
    async def resume_call(call: ApiCall) -> None:
        flow, call_id = _flow(call), call.path("call_id")
        _own_call(call, flow, call_id)
        await _control(call, "resume", control.resume(flow, call_id, call.principal.tenant_id))

    @api.operation("POST", "/calls/{call_id}/hangup", summary="End the call", status=204,
                   tag="calls")  # fmt: skip
    async def hang_up_call(call: ApiCall) -> None:
        flow, call_id = _flow(call), call.path("call_id")
        _own_call(call, flow, call_id)
        await _control(call, "hangup", control.hang_up(flow, call_id, call.principal.tenant_id))

    @api.operation("POST", "/calls/{call_id}/transfer", summary="Transfer to an agent, a queue "
                   "or a number (blind or attended)", body=TransferIn, status=204,
                   tag="calls")  # fmt: skip
    async def transfer_call(call: ApiCall) -> None:
        body: TransferIn = call.body
        flow, call_id, tenant = _flow(call), call.path("call_id"), call.principal.tenant_id
        _own_call(call, flow, call_id)
        if body.queue_id is not None:
            key = await _queue_key(call, body.queue_id)
            work = control.transfer_to_queue(flow, call_id, tenant, key)
        else:
            endpoint = flow.executor.dial_out.format(number=body.number)
            if body.agent_id is not None:
                profile = flow.config.agents.get(agent_key(body.agent_id))
                if profile is None or profile.tenant_id != tenant:
                    raise invalid("agent_id", "no such agent with an endpoint")
                endpoint = profile.endpoint
            work = control.transfer_to(flow, call_id, tenant, endpoint, body.mode)
        await _control(call, "transfer", work)

    @api.operation("POST", "/calls/{call_id}/transfer/complete", summary="Complete an "
                   "attended transfer", status=204, tag="calls")  # fmt: skip
    async def complete_transfer(call: ApiCall) -> None:
        flow, call_id = _flow(call), call.path("call_id")
        _own_call(call, flow, call_id)
        work = control.complete_transfer(flow, call_id, call.principal.tenant_id)
        await _control(call, "transfer.complete", work)

    @api.operation("POST", "/calls/{call_id}/transfer/cancel", summary="Cancel an attended "
                   "transfer", status=204, tag="calls")  # fmt: skip
    async def cancel_transfer(call: ApiCall) -> None:
        flow, call_id = _flow(call), call.path("call_id")
        _own_call(call, flow, call_id)
        work = control.cancel_transfer(flow, call_id, call.principal.tenant_id)
        await _control(call, "transfer.cancel", work)

    @api.operation("POST", "/agents/{agent_id}/calls", summary="Click-to-call: ring the agent, "
                   "then the number", body=ClickToCallIn, response=CallStarted, status=201,
                   tag="calls")  # fmt: skip
    async def click_to_call(call: ApiCall) -> CallStarted:
        body: ClickToCallIn = call.body
        agent_id = call.path_int("agent_id")
        _may_act_for(call.principal, agent_id)
        flow = _flow(call)
        try:
            call_id = await control.click_to_call(
                flow, call.principal.tenant_id, agent_key(agent_id), body.number, body.customer_id
            )
        except ControlError as exc:
            raise ApiError(404 if exc.kind == "not_found" else 409, exc.kind, str(exc)) from None
        except AcdError as exc:
            raise conflict(str(exc)) from None
        ctx = context(call.request)
        tenant = call.principal.tenant_id
        async with ctx.database.tenant_session(tenant) as session, session.begin():
            audit(session, call.principal, "call.click_to_call", "call", call_id,
                  {"agent_id": agent_id, "customer_id": body.customer_id})  # fmt: skip
        return CallStarted(call_id=call_id)


async def _queue_key(call: ApiCall, queue_id: int) -> str:
    ctx = context(call.request)
    async with ctx.database.tenant_session(call.principal.tenant_id) as session:
        queue = await session.get(Queue, queue_id)
    if queue is None:
        raise invalid("queue_id", "no such queue")
    return queue_key(call.principal.tenant_id, queue.name)


def _call_out(row: Call) -> CallOut:
    fields = {name: getattr(row, name) for name in CallOut.model_fields if name != "call_id"}
    return CallOut.model_validate(fields | {"call_id": row.channel_id})


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise invalid(name, "must be an integer") from None


def _time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(name, "must be an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise invalid(name, "must include a UTC offset (e.g. Z)")
    return parsed
