"""The agent's desk as operations on the call flow: agent states and in-call control.

Every operation takes JSON-able arguments and returns a JSON-able result, so it can run in
the process that owns the Asterisk connection whichever process received the request:
`LocalDesk` runs it here; `ForwardingDesk` (in `desk_remote`) sends it to the owner.
Permission to act for an agent is the API's check; whether a call is the agent's own is
checked here, where the live calls are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from billing_bridge.payments import pay_links
from billing_bridge.payments.ledger import AccountNotFound, amount_due, customer_contact
from billing_bridge.payments.port import ProviderError
from pbx.acd.errors import AcdError, InvalidTransition, UnknownAgent
from pbx.ari import AriError, AriUnavailable
from pbx.callflow import control, outbound
from pbx.callflow.app import CallFlow
from pbx.callflow.calls import FlowCall
from pbx.callflow.card_capture import CaptureRequest
from pbx.callflow.config import agent_key
from pbx.callflow.control import ControlError
from pbx.callflow.keypad_session import SessionError
from pbx.callflow.recorder import RecordingUnavailable
from pbx.callflow.routing import Route
from recordings.pauses import PauseError
from recordings.policy import announcement, may_record_on_demand

Result = dict[str, Any] | None
# A DeskError's status for each kind of `ControlError`.
CONTROL_STATUS = {"not_found": 404, "invalid": 422, "conflict": 409}


class DeskError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    tenant_id: int
    supervisor: bool  # a supervisor or an admin: may act on any call of the tenant
    label: str = ""  # who, in audit entries ("agent:dana")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Desk(Protocol):
    async def run(self, operation: str, actor: Actor, **args: Any) -> Result: ...


Operation = Callable[[CallFlow, Actor, dict[str, Any]], Awaitable[Result]]
OPERATIONS: dict[str, Operation] = {}


def operation(fn: Operation) -> Operation:
    OPERATIONS[fn.__name__] = fn
    return fn


class LocalDesk:
    def __init__(self, flow: CallFlow) -> None:
        self.flow = flow

    async def run(self, operation: str, actor: Actor, **args: Any) -> Result:
        return await run_here(self.flow, operation, actor, args)


async def run_here(flow: CallFlow, operation: str, actor: Actor, args: dict[str, Any]) -> Result:
    if not flow.ready:
        raise DeskError(503, "asterisk_unavailable", "not connected to Asterisk; retry shortly")
    try:
        return await OPERATIONS[operation](flow, actor, args)
    except ControlError as exc:
        raise DeskError(CONTROL_STATUS[exc.kind], exc.kind, str(exc)) from None
    except InvalidTransition as exc:
        raise DeskError(409, "conflict", str(exc)) from None
    except UnknownAgent:
        raise DeskError(404, "not_found", "agent not found") from None
    except AcdError as exc:
        raise DeskError(409, "conflict", str(exc)) from None
    except AriUnavailable as exc:
        raise DeskError(503, "asterisk_unavailable", f"Asterisk did not answer: {exc}") from None
    except AriError as exc:  # a channel or bridge gone meanwhile: its events settle the call
        raise DeskError(409, "conflict", f"Asterisk refused: {exc}") from None


# --- agent states ---------------------------------------------------------------------------


def _state(flow: CallFlow, agent_id: int) -> dict[str, Any]:
    agent = flow.state.engine.agents.get(agent_key(agent_id))
    if agent is None:
        return {"agent_id": agent_id, "state": "logged_out"}
    since = agent.state_since.isoformat() if agent.state_since else None
    return {"agent_id": agent_id, "state": agent.state.value, "pause_reason": agent.pause_reason,
            "since": since, "call_id": agent.call_id}  # fmt: skip


def _agent_of_tenant(flow: CallFlow, actor: Actor, agent_id: int) -> str:
    profile = flow.config.agents.get(agent_key(agent_id))
    if profile is None or profile.tenant_id != actor.tenant_id:
        raise DeskError(404, "not_found", "agent not found (or it has no endpoint to ring)")
    return profile.agent_id


@operation
async def agent_states(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    ids = sorted(p.user_id for p in flow.config.agents.values() if p.tenant_id == actor.tenant_id)
    return {"items": [_state(flow, ident) for ident in ids]}


@operation
async def agent_state(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    _agent_of_tenant(flow, actor, args["agent_id"])
    return _state(flow, args["agent_id"])


@operation
async def set_agent_state(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    ident = _agent_of_tenant(flow, actor, args["agent_id"])
    if args["state"] == "available":
        await flow.agent_available(ident)
    elif args["state"] == "paused":
        await flow.pause_agent(ident, args["reason"])
    else:
        await flow.log_out_agent(ident)
    return _state(flow, args["agent_id"])


# --- calls ----------------------------------------------------------------------------------


def _own_call(flow: CallFlow, actor: Actor, call_id: str) -> None:
    live = flow.state.calls.get(call_id)
    if live is None or live.tenant_id != actor.tenant_id:
        raise DeskError(404, "not_found", "call not found")
    if not actor.supervisor and live.agent_id != agent_key(actor.user_id):
        raise DeskError(403, "forbidden", "this is not your call")


def _call_action(action: Callable[[CallFlow, str, int], Awaitable[None]]) -> Operation:
    """A control on the caller's own call that takes nothing but the call."""

    async def run(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
        _own_call(flow, actor, args["call_id"])
        await action(flow, args["call_id"], actor.tenant_id)
        return None

    return run


async def _pause_recording(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    call = _live_own_call(flow, actor, args["call_id"])
    try:
        await flow.recorder.pause(call, args.get("reason") or "agent", actor)
    except (RecordingUnavailable, PauseError) as exc:
        raise DeskError(409, "conflict", str(exc)) from None
    return None


async def _resume_recording(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    call = _live_own_call(flow, actor, args["call_id"])
    try:
        await flow.recorder.resume(call, actor)
    except (RecordingUnavailable, PauseError) as exc:
        raise DeskError(409, "conflict", str(exc)) from None
    return None


async def _start_recording(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    """On demand: only where the call's route and queue leave recording to the agent."""
    call = _live_own_call(flow, actor, args["call_id"])
    route = _on_demand(flow, call)
    if call.recording is not None:
        raise DeskError(409, "conflict", "the call is being recorded already")
    await flow.recorder.start(call, announcement(route.recording_announcement if route else None))
    if call.recording is None:
        raise DeskError(503, "asterisk_unavailable", "recording could not be started")
    return None


async def _stop_recording(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    call = _live_own_call(flow, actor, args["call_id"])
    _on_demand(flow, call)
    if call.recording is None:
        raise DeskError(409, "conflict", "the call is not being recorded")
    await flow.recorder.stop(call)
    return None


def _on_demand(flow: CallFlow, call: FlowCall) -> Route | None:
    route = flow.config.routes.get(call.did)
    queue = flow.config.queues.get(call.queue or "")
    route_policy = route.recording_policy if route else "all"
    if not may_record_on_demand(route_policy, queue.recording_policy if queue else None):
        raise DeskError(409, "conflict", "this call's recording is not on demand")
    return route


async def _amount(
    flow: CallFlow, actor: Actor, call: FlowCall, args: dict[str, Any]
) -> tuple[int, str]:
    """The amount asked for, or what is due on the caller's account; in its currency."""
    try:
        due, currency = await amount_due(flow.database, actor.tenant_id, args["account_id"],
                                         call.customer_id, flow.clock().date())  # fmt: skip
    except AccountNotFound as exc:
        raise DeskError(404, "not_found", str(exc)) from None
    amount = args.get("amount_minor") or due
    if amount <= 0:
        raise DeskError(409, "conflict", "nothing is due on this account: give an amount")
    return amount, currency


@operation
async def take_card_payment(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    """Starts the capture and returns: progress and the result reach the desk as events."""
    call = _live_own_call(flow, actor, args["call_id"])
    if flow.card_capture is None:
        raise DeskError(503, "payments_unavailable", "no payment provider is configured")
    amount, currency = await _amount(flow, actor, call, args)
    request = CaptureRequest(args["account_id"], amount, currency, actor.user_id, actor.label)
    try:
        flow.start_card_capture(call, request)
    except SessionError as exc:
        raise DeskError(409, "conflict", str(exc)) from None
    return {"amount_minor": amount, "currency": currency, "status": "started"}


@operation
async def send_pay_link(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    """A payment link by SMS (to the number calling, unless another is given) or email (to
    the customer's address on file, unless another is given)."""
    call = _live_own_call(flow, actor, args["call_id"])
    if flow.payments is None:
        raise DeskError(503, "payments_unavailable", "no payment provider is configured")
    amount, currency = await _amount(flow, actor, call, args)
    customer = await customer_contact(flow.database, actor.tenant_id, call.customer_id)
    recipient = args.get("recipient") or (
        customer.email if args["channel"] == "email" else call.caller_number
    )
    if not recipient:
        raise DeskError(409, "conflict", f"no {args['channel']} recipient on file: give one")
    try:
        sent = await pay_links.send_pay_link(
            flow.database, flow.payments, flow.sender, actor.tenant_id,
            account_id=args["account_id"], customer_ref=customer.ref, call_id=call.record_id,
            amount_minor=amount, currency=currency, channel=args["channel"],
            recipient=recipient, actor_id=actor.user_id, actor_label=actor.label,
            now=flow.clock(),
        )  # fmt: skip
    except ProviderError as exc:
        message = f"the payment provider refused: {exc}"
        raise DeskError(503, "provider_unavailable", message) from None
    return {"payment_id": sent.payment_id, "url": sent.url, "status": sent.status,
            "amount_minor": amount, "currency": currency, "channel": args["channel"],
            "to": pay_links.mask(recipient)}  # fmt: skip


def _live_own_call(flow: CallFlow, actor: Actor, call_id: str) -> FlowCall:
    _own_call(flow, actor, call_id)
    return flow.state.calls[call_id]


OPERATIONS.update(
    pause_recording=_pause_recording,
    start_recording=_start_recording,
    stop_recording=_stop_recording,
    resume_recording=_resume_recording,
    hold=_call_action(control.hold),
    resume=_call_action(control.resume),
    hang_up=_call_action(control.hang_up),
    complete_transfer=_call_action(control.complete_transfer),
    cancel_transfer=_call_action(control.cancel_transfer),
)


@operation
async def transfer(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    """To `queue` (an ACD queue key), or to `agent_id`'s endpoint, or to `number`."""
    call_id = args["call_id"]
    _own_call(flow, actor, call_id)
    if args.get("queue"):
        await control.transfer_to_queue(flow, call_id, actor.tenant_id, args["queue"])
        return None
    target = None
    if args.get("agent_id") is not None:
        profile = flow.config.agents.get(agent_key(args["agent_id"]))
        if profile is None or profile.tenant_id != actor.tenant_id:
            raise DeskError(422, "invalid", "agent_id: no such agent with an endpoint")
        endpoint, target = profile.endpoint, profile.agent_id
    else:
        endpoint = flow.executor.dial_out.format(number=args["number"])
    await control.transfer_to(flow, call_id, actor.tenant_id, endpoint, args["mode"], target)
    return None


@operation
async def click_to_call(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    ident = _agent_of_tenant(flow, actor, args["agent_id"])
    call_id = await outbound.click_to_call(
        flow, actor.tenant_id, ident, args["number"], args.get("customer_id")
    )
    return {"call_id": call_id}


@operation
async def queue_stats(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    """Each queue of the tenant: callers waiting, the longest wait, agents by state."""
    now = flow.clock()
    items = []
    for settings in flow.config.queues.values():
        if settings.tenant_id != actor.tenant_id:
            continue
        queue = flow.state.engine.queues.get(settings.acd.name)
        waiting = list(queue.waiting) if queue else []
        longest = max((int((now - e.arrived_at).total_seconds()) for e in waiting), default=0)
        states: dict[str, int] = {}
        for agent in flow.state.engine.agents.values():
            if agent.is_member(settings.acd.name):
                states[agent.state.value] = states.get(agent.state.value, 0) + 1
        items.append({"queue_id": settings.queue_id, "name": settings.name,
                      "waiting": len(waiting), "longest_wait_seconds": longest,
                      "agents": states})  # fmt: skip
    return {"items": sorted(items, key=lambda item: item["name"])}


# Money operations (credits, verification) register themselves with `operation` above.
from pbx.callflow import desk_money  # noqa: E402, F401
