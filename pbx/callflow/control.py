"""In-call control from the agent's desk: hold, transfer, hang up (click-to-call, which
places a new call, is `outbound.py`).

Each function runs in the call's lane, checks the call is in a state that allows the action
(else `ControlError`, which the API turns into 404/409), and changes bridges over ARI. The
events that follow (answers, hangups) are settled by `CallFlow` like any others.

A transfer dials its target (an agent's endpoint or an outside number) on a "third" leg:
    blind     the agent is released at once; the caller waits on hold and is bridged with
              the target when it answers (back to the queue if it does not)
    attended  the caller waits on hold while the agent talks to the target in a consult
              bridge; `complete_transfer` joins caller and target and releases the agent,
              `cancel_transfer` hangs the target up and brings the caller back
A transfer to a queue puts the caller back in the ACD, in that queue, at their priority.
A transfer to an agent makes them busy in the ACD from the moment they are dialled (only an
available agent can be), exactly like an offered call: on the call once they answer, the
call's agent once the transfer is done, and free (or in wrap-up) when their part ends.

Every id is checked against the caller's business before anything changes, and an action
that fails part-way undoes what it did: the ACD, the bridges and the call stay as they were.
"""

from __future__ import annotations

import logging
import uuid
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from pbx.acd.calls import InboundCall
from pbx.acd.engine import OUTBOUND
from pbx.acd.errors import AcdError
from pbx.ari import AriError
from pbx.callflow.call_work import CallWork
from pbx.callflow.calls import FlowCall, Phase
from pbx.callflow.executor import bridge_id

log = logging.getLogger(__name__)

TransferMode = Literal["blind", "attended"]


ErrorKind = Literal["not_found", "conflict", "invalid"]


class ControlError(Exception):
    """An in-call action that cannot be done: the call or agent is not found, the state does
    not allow it or Asterisk refused a step (conflict), or an id in the request names
    nothing of the business (invalid). Nothing was changed."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        self.kind = kind
        super().__init__(message)


def ari_failed(what: str, exc: AriError) -> ControlError:
    return ControlError("conflict", f"{what}: {exc}")


def _connected(flow: CallWork, call_id: str, tenant_id: int) -> FlowCall:
    call = flow.state.calls.get(call_id)
    if call is None or call.tenant_id != tenant_id:
        raise ControlError("not_found", f"no call {call_id} in progress")
    if call.phase is not Phase.CONNECTED or call.bridge is None:
        raise ControlError("conflict", f"call {call_id} is not connected to an agent")
    return call


def _party(call: FlowCall) -> str:
    """The channel on the far side from the agent: the caller, or the customer dialled."""
    party = call.caller_channel or call.customer_channel
    if party is None:
        raise ControlError("conflict", f"call {call.call_id} has nobody on the line")
    return party


# --- hold -----------------------------------------------------------------------------------


async def hold(flow: CallWork, call_id: str, tenant_id: int) -> None:
    async with flow.lanes.call(call_id):
        call = _connected(flow, call_id, tenant_id)
        if call.on_hold:
            raise ControlError("conflict", f"call {call_id} is already on hold")
        await _to_holding(flow, call)
        call.on_hold = True
        flow.executor.record_hold(call, on_hold=True)
        await flow.save()


async def resume(flow: CallWork, call_id: str, tenant_id: int) -> None:
    async with flow.lanes.call(call_id):
        call = _connected(flow, call_id, tenant_id)
        if not call.on_hold:
            raise ControlError("conflict", f"call {call_id} is not on hold")
        if call.transfer is not None:
            raise ControlError("conflict", "a transfer is in progress: complete or cancel it")
        await _from_holding(flow, call)
        call.on_hold = False
        flow.executor.record_hold(call, on_hold=False)
        await flow.save()


async def _to_holding(flow: CallWork, call: FlowCall) -> None:
    """Move the far party from the talk bridge to a holding bridge with music; if Asterisk
    refuses a step, the party goes back to the talk bridge and ControlError says why."""
    party = _party(call)
    holding = bridge_id("hold", call.call_id)
    assert call.bridge is not None
    try:
        await flow.client.create_bridge("holding", bridge_id=holding)
        call.holding_bridge = holding
        await flow.client.remove_channel(call.bridge, party)
        await flow.client.add_channel(holding, party, role="participant")
        await flow.client.bridge_start_moh(holding, flow.config.music_for(call.queue))
    except AriError as exc:
        await _back_to_talk(flow, call, party)
        raise ari_failed("the caller could not be put on hold", exc) from exc


async def _back_to_talk(flow: CallWork, call: FlowCall, party: str) -> None:
    """Undo a hold that failed half-way (each step quietly: the party may be gone)."""
    if call.holding_bridge:
        await flow.executor.destroy_bridge(call.holding_bridge)
        call.holding_bridge = None
    if call.bridge:
        try:
            await flow.client.add_channel(call.bridge, party)
        except AriError as exc:
            log.warning("call %s: the caller could not be put back: %s", call.call_id, exc)


async def _from_holding(flow: CallWork, call: FlowCall) -> None:
    """The far party back in the talk bridge. If Asterisk refuses, the call stays on hold
    (a later resume tries again) and ControlError says why."""
    party = _party(call)
    assert call.bridge is not None
    try:
        if call.holding_bridge:  # destroying it lets the party go (ARI's bridges.destroy)
            await flow.client.destroy_bridge(call.holding_bridge)
            call.holding_bridge = None
        await flow.client.add_channel(call.bridge, party)
    except AriError as exc:
        raise ari_failed("the caller could not be taken off hold", exc) from exc


# --- hang up --------------------------------------------------------------------------------


async def hang_up(flow: CallWork, call_id: str, tenant_id: int) -> None:
    """End the call for everyone (the events that follow close it in the call log)."""
    async with flow.lanes.call(call_id):
        call = flow.state.calls.get(call_id)
        if call is None or call.tenant_id != tenant_id:
            raise ControlError("not_found", f"no call {call_id} in progress")
        channels = call.channels()
    for channel in channels:
        await flow.executor.hangup(channel)


# --- transfers ------------------------------------------------------------------------------


async def transfer_to_queue(flow: CallWork, call_id: str, tenant_id: int, queue: str) -> None:
    async with flow.lanes.call(call_id):
        call = _connected(flow, call_id, tenant_id)
        if call.caller_channel is None or call.direction != "inbound":
            raise ControlError("conflict", "only an inbound caller can be queued")
        settings = flow.config.queues.get(queue)
        if queue not in flow.state.engine.queues or settings is None or (
            settings.tenant_id != tenant_id
        ):
            raise ControlError("invalid", "queue_id: no such queue")
        if call_id not in flow.state.engine.active:
            raise ControlError("conflict", f"call {call_id} is not with an agent")
        agent_channel = call.agent_channel
        if not call.on_hold:
            await _to_holding(flow, call)  # undone if it fails: nothing changed yet
        # From here nothing waits between the ACD's change and the commands that carry it
        # out: the call log is written last, and its failure does not undo the transfer.
        now = flow.clock()
        commands = flow.state.engine.release(call_id, now)
        call.agent_id = call.agent_channel = None
        call.on_hold = False
        if call.bridge:
            await flow.executor.destroy_bridge(call.bridge)
            call.bridge = None
        call.phase, call.queue, call.queued_at, call.answered_at = Phase.QUEUED, queue, now, None
        inbound = InboundCall(call_id, call.priority, call.caller_number)
        commands += flow.state.engine.enqueue(inbound, queue, now)
        await flow.executor.run(commands)
        await flow.save()
        await log_quietly(flow, call, queue_id=settings.queue_id)
    if agent_channel:
        await flow.executor.hangup(agent_channel)


async def log_quietly(flow: CallWork, call: FlowCall, **fields: object) -> None:
    """A call-log write after the change it records is done: if the database fails, the
    change stands (undoing a transfer the caller already heard would be worse)."""
    try:
        await flow.call_log.update(call.tenant_id, call.record_id, **fields)
    except (SQLAlchemyError, OSError) as exc:
        log.error("call %s: call log not updated (%s): %s", call.call_id, fields, exc)


async def transfer_to(
    flow: CallWork,
    call_id: str,
    tenant_id: int,
    endpoint: str,
    mode: TransferMode,
    agent_id: str | None = None,
) -> None:
    """Dial `endpoint` (PJSIP/1002, or the dial-out string for a number) for a transfer;
    `agent_id` when it is an agent's: they must be available, and are busy from now on."""
    async with flow.lanes.call(call_id):
        call = _connected(flow, call_id, tenant_id)
        if call.transfer is not None:
            raise ControlError("conflict", f"call {call_id} is already being transferred")
        if agent_id is not None:
            profile = flow.config.agents.get(agent_id)
            if profile is None or profile.tenant_id != tenant_id:
                raise ControlError("invalid", "agent_id: no such agent with an endpoint")
            try:
                flow.state.engine.offer_transfer(call_id, agent_id, call.queue or OUTBOUND,
                                                 flow.clock())  # fmt: skip
            except AcdError as exc:
                raise ControlError("conflict", f"the agent cannot take a transfer: {exc}") from exc
        held = call.on_hold
        leg = uuid.uuid4().hex
        try:
            if not held:
                await _to_holding(flow, call)
                call.on_hold = True
            call.third_channel, call.transfer, call.third_agent = leg, mode, agent_id
            flow.state.note(leg, call)
            line = flow.config.tenants.get(call.tenant_id)
            await flow.client.originate(
                endpoint,
                app_args=f"third,{call_id}",
                caller_id=call.caller_number or (line.caller_id if line else ""),
                timeout=30,
                channel_id=leg,
            )
        except BaseException as exc:
            await _undo_transfer(flow, call, agent_id, held)
            if isinstance(exc, AriError):
                raise ari_failed("the transfer target could not be dialled", exc) from exc
            raise
        if mode == "blind":
            await _release_agent(flow, call)
        await flow.save()


async def _undo_transfer(
    flow: CallWork, call: FlowCall, agent_id: str | None, held: bool
) -> None:
    """A transfer that could not be dialled: the target is free and the caller as before."""
    leg = call.third_channel
    call.third_channel = call.transfer = call.third_agent = None
    if agent_id is not None:
        await flow.executor.run(flow.state.engine.transfer_ended(agent_id, flow.clock()))
    if leg is not None:
        await flow.executor.hangup(leg)  # in case Asterisk made it before refusing
    if call.on_hold and not held:
        try:
            await _from_holding(flow, call)
            call.on_hold = False
        except ControlError as exc:
            log.warning("call %s: %s", call.call_id, exc)
    await flow.save()


async def complete_transfer(flow: CallWork, call_id: str, tenant_id: int) -> None:
    async with flow.lanes.call(call_id):
        call = _connected(flow, call_id, tenant_id)
        if call.transfer != "attended" or call.consult_bridge is None:
            raise ControlError("conflict", "no answered attended transfer to complete")
        await _join_third(flow, call)
        await _release_agent(flow, call)
        await _hand_over(flow, call)
        await flow.save()


async def cancel_transfer(flow: CallWork, call_id: str, tenant_id: int) -> None:
    async with flow.lanes.call(call_id):
        call = _connected(flow, call_id, tenant_id)
        if call.transfer != "attended":
            raise ControlError("conflict", "no attended transfer to cancel")
        third = call.third_channel
        await _abandon_third(flow, call)
        await flow.save()
    if third:
        await flow.executor.hangup(third)


async def third_answered(flow: CallWork, channel_id: str, call_id: str) -> None:
    """StasisStart of a transfer leg (in the call's lane)."""
    call = flow.state.calls.get(call_id)
    if call is None or call.third_channel != channel_id:
        await flow.executor.hangup(channel_id)
        return
    if call.third_agent is not None:
        try:
            flow.state.engine.transfer_answered(call.third_agent, flow.clock())
        except AcdError as exc:  # withdrawn meanwhile (they paused): their leg goes
            log.info("call %s: transfer target answered too late: %s", call_id, exc)
            await flow.executor.hangup(channel_id)
            return
    if call.transfer == "blind":
        await _join_third(flow, call)
        await _hand_over(flow, call)
        return
    consult = bridge_id("consult", call_id)
    await flow.client.create_bridge("mixing", bridge_id=consult)
    call.consult_bridge = consult
    if call.agent_channel and call.bridge:
        await flow.client.remove_channel(call.bridge, call.agent_channel)
    await flow.client.add_channel(consult, [c for c in (call.agent_channel, channel_id) if c])


async def third_gone(flow: CallWork, call: FlowCall) -> None:
    """The transfer target hung up or never answered (in the call's lane)."""
    if call.transfer is None:
        # A completed transfer: the target was the caller's party; the call is over.
        await flow.end_call(call)
        return
    if call.transfer == "attended":
        await _abandon_third(flow, call)
        return
    # A blind transfer that failed: the caller goes back to the queue they came from.
    target, call.third_channel, call.transfer, call.third_agent = call.third_agent, None, None, None
    if target is not None:
        await flow.executor.run(flow.state.engine.transfer_ended(target, flow.clock()))
    if call.caller_channel and call.queue in flow.state.engine.queues:
        now = flow.clock()
        call.phase, call.on_hold, call.queued_at = Phase.QUEUED, False, now
        if call.bridge:
            await flow.executor.destroy_bridge(call.bridge)
            call.bridge = None
        inbound = InboundCall(call.call_id, call.priority, call.caller_number)
        try:
            await flow.executor.run(flow.state.engine.enqueue(inbound, call.queue, now))
        except AcdError as exc:
            log.error("call %s could not return to its queue: %s", call.call_id, exc)
    else:
        await flow.end_call(call)


async def _join_third(flow: CallWork, call: FlowCall) -> None:
    """Caller and transfer target together in the talk bridge; the transfer is done."""
    party = _party(call)
    if call.bridge is None:
        call.bridge = bridge_id("talk", call.call_id)
        await flow.client.create_bridge("mixing", bridge_id=call.bridge)
    if call.holding_bridge:
        await flow.client.destroy_bridge(call.holding_bridge)
        call.holding_bridge = None
    if call.consult_bridge:
        await flow.executor.destroy_bridge(call.consult_bridge)
        call.consult_bridge = None
    assert call.third_channel is not None
    await flow.client.add_channel(call.bridge, [party, call.third_channel])
    call.on_hold, call.transfer = False, None
    call.phase = Phase.CONNECTED


async def _abandon_third(flow: CallWork, call: FlowCall) -> None:
    """An attended transfer is off: the agent and the caller talk again."""
    target, call.third_channel, call.transfer, call.third_agent = call.third_agent, None, None, None
    if target is not None:  # free again, or in wrap-up if they talked with the agent
        await flow.executor.run(flow.state.engine.transfer_ended(target, flow.clock()))
    if call.consult_bridge:
        await flow.executor.destroy_bridge(call.consult_bridge)
        call.consult_bridge = None
    if call.agent_channel and call.bridge:
        await flow.client.add_channel(call.bridge, call.agent_channel)
    if call.on_hold:
        await _from_holding(flow, call)
        call.on_hold = False


async def _hand_over(flow: CallWork, call: FlowCall) -> None:
    """A transfer to an agent is done: the call is theirs, in the ACD and here, and ends
    (or is held, transferred again...) like a call they were offered and answered."""
    target, leg = call.third_agent, call.third_channel
    if target is None or leg is None:
        return
    try:
        flow.state.engine.transfer_completed(target, flow.clock())
    except AcdError as exc:
        log.error("call %s: agent %s not given the transferred call: %s", call.call_id, target,
                  exc)  # fmt: skip
        return
    call.agent_id, call.agent_channel = target, leg
    call.third_channel = call.third_agent = None


async def _release_agent(flow: CallWork, call: FlowCall) -> None:
    """The agent's part is over: wrap-up starts and their leg is hung up."""
    agent_channel = call.agent_channel
    call.agent_channel = None
    try:
        await flow.executor.run(flow.state.engine.release(call.call_id, flow.clock()))
    except AcdError as exc:
        log.warning("call %s: releasing the agent: %s", call.call_id, exc)
    if agent_channel:
        await flow.executor.hangup(agent_channel)
    if call.bridge and call.transfer == "blind":
        await flow.executor.destroy_bridge(call.bridge)
        call.bridge = None
