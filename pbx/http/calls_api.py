"""Agent states, the call log, and in-call control.

An agent changes their own state and controls their own calls; a supervisor may do both
for anyone in their business. Call control needs this process to own the Asterisk
connection (503 otherwise, so a load balancer can retry elsewhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from billing_bridge import customer_search
from pbx.audit import Target
from pbx.auth.roles import Role
from pbx.calls import actions
from pbx.calls import log as call_log
from pbx.calls.log import PAGE, CallQuery, Disposition
from pbx.db.models import Call
from pbx.desk import commands as desk
from pbx.desk.results import CallStarted as CallStartedResult
from pbx.desk.results import Result
from pbx.http.api import (
    Api,
    ApiCall,
    QueryParam,
    invalid,
    parse_query_int,
    parse_query_time,
    refusals,
)
from pbx.http.context import context
from pbx.http.desk_access import run_on_desk
from pbx.http.schemas import (
    AgentStateIn,
    AgentStateList,
    AgentStateOut,
    AttachCustomerIn,
    CallList,
    CallOut,
    CallStarted,
    CardPaymentIn,
    CardPaymentStarted,
    ClickToCallIn,
    CustomerAttached,
    CustomerHit,
    CustomerHits,
    DispositionIn,
    MandateByPhoneIn,
    MandateLinkIn,
    MandateLinkSent,
    MandateStarted,
    PayLinkIn,
    PayLinkSent,
    QueueStatsList,
    RecordingPauseIn,
    TransferIn,
)


def _may_act_for(call: ApiCall, agent_id: int) -> None:
    with refusals():
        actions.check_acts_for(call.principal, agent_id)


def _out(result: Result) -> dict[str, Any]:
    """A desk result as the response model reads it."""
    assert result is not None
    return asdict(result)


async def _control(
    call: ApiCall, command: desk.Command, action: str, details: dict[str, Any] | None = None
) -> None:
    """A call-control command, audited (`call.<action>`) once it has been done."""
    await run_on_desk(call, command)
    await _audit(call, f"call.{action}", "call", call.path("call_id"), details or {})


async def _audit(
    call: ApiCall, action: str, target_type: str, target_id: Any, details: Mapping[str, Any]
) -> None:
    """The action's audit entry, written by the calls service in a transaction of its own."""
    database = context(call.request).database
    await actions.record_action(database, call.principal, action, Target(target_type, target_id),
                                details)  # fmt: skip


def register(api: Api) -> None:
    _register_agent_states(api)
    _register_call_log(api)
    _register_call_control(api)
    _register_money_in_calls(api)
    _register_recording(api)
    _register_transfers(api)


def _register_agent_states(api: Api) -> None:
    # --- agent states -----------------------------------------------------------------------

    @api.operation("GET", "/agent-states", summary="Every agent's live state",
                   role=Role.SUPERVISOR, response=AgentStateList, tag="agents")  # fmt: skip
    async def list_agent_states(call: ApiCall) -> AgentStateList:
        return AgentStateList.model_validate(_out(await run_on_desk(call, desk.AgentStates())))

    @api.operation("GET", "/agents/{agent_id}/state", summary="An agent's live state",
                   response=AgentStateOut, tag="agents")  # fmt: skip
    async def get_agent_state(call: ApiCall) -> AgentStateOut:
        agent_id = call.path_int("agent_id")
        _may_act_for(call, agent_id)
        state = await run_on_desk(call, desk.AgentStateOf(agent_id))
        return AgentStateOut.model_validate(_out(state))

    @api.operation("PUT", "/agents/{agent_id}/state", summary="Log in, pause or log out",
                   body=AgentStateIn, response=AgentStateOut, tag="agents")  # fmt: skip
    async def set_agent_state(call: ApiCall) -> AgentStateOut:
        body: AgentStateIn = call.body
        agent_id = call.path_int("agent_id")
        _may_act_for(call, agent_id)
        state = await run_on_desk(call, desk.SetAgentState(agent_id, body.state, body.reason))
        await _audit(call, "agent.state", "user", agent_id, body.model_dump())
        return AgentStateOut.model_validate(_out(state))


def _register_call_log(api: Api) -> None:
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
            QueryParam("callback_of", {"type": "integer"}, "the attempts of this call's callback"),
            QueryParam("before_id", {"type": "integer"}, "the next page after this id"),
            QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": PAGE}),
        ),
    )  # fmt: skip
    async def list_calls(call: ApiCall) -> CallList:
        database = context(call.request).database
        page = await call_log.calls_seen_by(database, call.principal, _call_query(call.query))
        return CallList(items=[_call_out(row) for row in page.rows],
                        next_before_id=page.next_before_id)  # fmt: skip

    @api.operation("PUT", "/calls/{record_id}/disposition", summary="Notes and a disposition "
                   "at wrap-up (the agent's own calls)", body=DispositionIn, response=CallOut,
                   tag="calls")  # fmt: skip
    async def set_disposition(call: ApiCall) -> CallOut:
        body: DispositionIn = call.body
        change = Disposition(call.path_int("record_id"), body.disposition, body.notes or None)
        with refusals():
            database = context(call.request).database
            row = await call_log.set_disposition(database, call.principal, change)
        return _call_out(row)

    @api.operation("GET", "/queue-stats", summary="Live queues: waiting callers, the longest "
                   "wait, agents by state", role=Role.SUPERVISOR, response=QueueStatsList,
                   tag="queues")  # fmt: skip
    async def get_queue_stats(call: ApiCall) -> QueueStatsList:
        live = _out(await run_on_desk(call, desk.QueueStats()))
        database = context(call.request).database
        today = await call_log.self_service_today(database, call.principal.tenant_id,
                                                  datetime.now(UTC))  # fmt: skip
        return QueueStatsList.model_validate(live | {"self_service": asdict(today)})

    @api.operation("GET", "/customers", summary="Find customers by name (the text as typed: "
                   "% and _ are not wildcards), reference or phone", response=CustomerHits,
                   tag="customers", query=(QueryParam("q", {
                       "type": "string", "minLength": customer_search.MIN_LENGTH,
                       "maxLength": customer_search.MAX_LENGTH}),))  # fmt: skip
    async def search_customers(call: ApiCall) -> CustomerHits:
        return await _search_customers(call, call.query.get("q", ""))


def _register_call_control(api: Api) -> None:
    # --- in-call control --------------------------------------------------------------------

    @api.operation("POST", "/calls/{call_id}/hold", summary="Put the caller on hold (music)",
                   status=204, tag="calls")  # fmt: skip
    async def hold_call(call: ApiCall) -> None:
        await _control(call, desk.Hold(call.path("call_id")), "hold")

    @api.operation("POST", "/calls/{call_id}/resume", summary="Take the caller off hold",
                   status=204, tag="calls")  # fmt: skip
    async def resume_call(call: ApiCall) -> None:
        await _control(call, desk.Resume(call.path("call_id")), "resume")

    @api.operation("POST", "/calls/{call_id}/recording/pause", summary="Pause the call's "
                   "recording (audited; the pause is listed with the recording)", status=204,
                   body=RecordingPauseIn, tag="calls", errors=(409,))  # fmt: skip
    async def pause_recording(call: ApiCall) -> None:
        body: RecordingPauseIn = call.body
        await run_on_desk(call, desk.PauseRecording(call.path("call_id"), body.reason))

    @api.operation("POST", "/calls/{call_id}/customer", summary="Attach the caller to the "
                   "call: a member of the household sharing the number, picked on the pop "
                   "(via household), or a customer found by search (via search); logged, "
                   "audited, and the desk gets their panel (account.updated)",
                   body=AttachCustomerIn, response=CustomerAttached, tag="calls",
                   errors=(422,))  # fmt: skip
    async def attach_customer(call: ApiCall) -> CustomerAttached:
        body: AttachCustomerIn = call.body
        attached = await run_on_desk(call, desk.AttachCustomer(
            call.path("call_id"), body.customer_id, body.via))  # fmt: skip
        return CustomerAttached.model_validate(_out(attached))


def _register_money_in_calls(api: Api) -> None:
    @api.operation("POST", "/calls/{call_id}/payments/card", summary="Take a card payment: "
                   "the caller keys the card on the phone (the agent hears and sees none of "
                   "it); progress and the result arrive as desk events", body=CardPaymentIn,
                   response=CardPaymentStarted, status=202, tag="payments")  # fmt: skip
    async def take_card_payment(call: ApiCall) -> CardPaymentStarted:
        body: CardPaymentIn = call.body
        started = await run_on_desk(call, desk.TakeCardPayment(
            call.path("call_id"), body.account_id, body.amount_minor, body.invoice_id,
        ))  # fmt: skip
        return CardPaymentStarted.model_validate(_out(started))

    @api.operation("POST", "/calls/{call_id}/payments/link", summary="Send the caller a "
                   "payment link by SMS or email (the desk updates when they pay)",
                   body=PayLinkIn, response=PayLinkSent, status=201, tag="payments")  # fmt: skip
    async def send_pay_link(call: ApiCall) -> PayLinkSent:
        body: PayLinkIn = call.body
        sent = await run_on_desk(call, desk.SendPayLink(
            call.path("call_id"), body.account_id, body.amount_minor, body.channel,
            body.recipient,
        ))  # fmt: skip
        return PayLinkSent.model_validate(_out(sent))

    @api.operation("POST", "/calls/{call_id}/mandates/phone", summary="Set up a direct-debit "
                   "mandate by phone: the caller keys their bank details and agrees to the "
                   "consent script (recorded); the result arrives as a desk event",
                   body=MandateByPhoneIn, response=MandateStarted, status=202,
                   tag="payments")  # fmt: skip
    async def mandate_by_phone(call: ApiCall) -> MandateStarted:
        body: MandateByPhoneIn = call.body
        started = await run_on_desk(call, desk.SetUpMandateByPhone(
            call.path("call_id"), body.account_id, body.country, body.channel, body.recipient,
        ))  # fmt: skip
        return MandateStarted.model_validate(_out(started))

    @api.operation("POST", "/calls/{call_id}/mandates/link", summary="Send the caller the "
                   "provider's mandate set-up page by SMS or email", body=MandateLinkIn,
                   response=MandateLinkSent, status=201, tag="payments")  # fmt: skip
    async def mandate_link(call: ApiCall) -> MandateLinkSent:
        body: MandateLinkIn = call.body
        sent = await run_on_desk(call, desk.SendMandateLink(
            call.path("call_id"), body.account_id, body.scheme, body.channel, body.recipient,
        ))  # fmt: skip
        return MandateLinkSent.model_validate(_out(sent))


def _register_recording(api: Api) -> None:
    @api.operation("POST", "/calls/{call_id}/recording/start", summary="Start recording a call "
                   "whose route or queue records on demand", status=204, tag="calls",
                   errors=(409,))  # fmt: skip
    async def start_recording(call: ApiCall) -> None:
        await _control(call, desk.StartRecording(call.path("call_id")), "start_recording")

    @api.operation("POST", "/calls/{call_id}/recording/stop", summary="Stop an on-demand "
                   "recording (what was recorded is kept)", status=204, tag="calls",
                   errors=(409,))  # fmt: skip
    async def stop_recording(call: ApiCall) -> None:
        await _control(call, desk.StopRecording(call.path("call_id")), "stop_recording")

    @api.operation("POST", "/calls/{call_id}/recording/resume", summary="Resume the call's "
                   "recording", status=204, tag="calls", errors=(409,))  # fmt: skip
    async def resume_recording(call: ApiCall) -> None:
        await run_on_desk(call, desk.ResumeRecording(call.path("call_id")))


def _register_transfers(api: Api) -> None:
    """Hang-up, transfers and click-to-call."""

    @api.operation("POST", "/calls/{call_id}/hangup", summary="End the call", status=204,
                   tag="calls")  # fmt: skip
    async def hang_up_call(call: ApiCall) -> None:
        await _control(call, desk.HangUp(call.path("call_id")), "hang_up")

    @api.operation("POST", "/calls/{call_id}/transfer", summary="Transfer to an agent, a queue "
                   "or a number (blind or attended)", body=TransferIn, status=204,
                   tag="calls", errors=(422,))  # fmt: skip
    async def transfer_call(call: ApiCall) -> None:
        body: TransferIn = call.body
        queue = await _transfer_queue(call, body.queue_id) if body.queue_id is not None else None
        details = {"mode": body.mode, "queue": queue, "agent_id": body.agent_id,
                   "number": body.number}  # fmt: skip
        await _control(call, desk.Transfer(call.path("call_id"), **details), "transfer", details)

    @api.operation("POST", "/calls/{call_id}/transfer/complete", summary="Complete an "
                   "attended transfer", status=204, tag="calls")  # fmt: skip
    async def complete_transfer(call: ApiCall) -> None:
        await _control(call, desk.CompleteTransfer(call.path("call_id")), "complete_transfer")

    @api.operation("POST", "/calls/{call_id}/transfer/cancel", summary="Cancel an attended "
                   "transfer", status=204, tag="calls")  # fmt: skip
    async def cancel_transfer(call: ApiCall) -> None:
        await _control(call, desk.CancelTransfer(call.path("call_id")), "cancel_transfer")

    @api.operation("POST", "/agents/{agent_id}/calls", summary="Click-to-call: ring the agent, "
                   "then the number", body=ClickToCallIn, response=CallStarted, status=201,
                   tag="calls")  # fmt: skip
    async def click_to_call(call: ApiCall) -> CallStarted:
        body: ClickToCallIn = call.body
        agent_id = call.path_int("agent_id")
        _may_act_for(call, agent_id)
        started = await run_on_desk(call, desk.ClickToCall(agent_id, body.number,
                                                           body.customer_id))  # fmt: skip
        assert isinstance(started, CallStartedResult)
        await _audit(call, "call.click_to_call", "call", started.call_id,
                     {"agent_id": agent_id, "customer_id": body.customer_id})  # fmt: skip
        return CallStarted(call_id=started.call_id)


async def _search_customers(call: ApiCall, text: str) -> CustomerHits:
    tenant = call.principal.tenant_id
    async with context(call.request).database.tenant_autocommit(tenant) as session:
        try:
            found = await customer_search.search_customers(session, text)
        except customer_search.SearchRefused as exc:
            raise invalid("q", str(exc)) from None
    return CustomerHits(items=[CustomerHit.model_validate(vars(hit)) for hit in found])


async def _transfer_queue(call: ApiCall, queue_id: int) -> str:
    database = context(call.request).database
    with refusals():
        return await actions.transfer_queue(database, call.principal.tenant_id, queue_id)


def _call_query(params: Mapping[str, str]) -> CallQuery:
    """The call log's query parameters, each checked in the order they are listed."""
    queue_id, agent_id, customer_id, before_id = (
        _int(params[name], name) if name in params else None
        for name in ("queue_id", "agent_id", "customer_id", "before_id")
    )  # fmt: skip
    arrived_from, arrived_before = (
        _time(params[name], name) if name in params else None for name in ("from", "to")
    )
    limit = min(PAGE, _int(params.get("limit", str(PAGE)), "limit"))
    if limit < 1:
        raise invalid("limit", "must be at least 1")
    callback_of = _int(params["callback_of"], "callback_of") if "callback_of" in params else None
    return CallQuery(queue_id, agent_id, customer_id, params.get("outcome"), arrived_from,
                     arrived_before, before_id, limit, callback_of)  # fmt: skip


def _call_out(row: Call) -> CallOut:
    fields = {name: getattr(row, name) for name in CallOut.model_fields if name != "call_id"}
    return CallOut.model_validate(fields | {"call_id": row.channel_id})


def _int(value: str, name: str) -> int:
    return parse_query_int(value, name)


def _time(value: str, name: str) -> datetime:
    return parse_query_time(value, name)
