"""A callback's attempts at calling the customer back, as the call log and the live call
keep them.

The call that asked for the callback keeps its row (outcome "callback", `callback_state`
"pending"). Each time an agent answers the request, the customer is dialled as attempt n:
a row of its own (outbound, `callback_of` the asking call's row, `callback_attempt` n),
which is the live call's `record_id` while the attempt lasts, so that its recording,
disposition and end are the attempt's. An attempt the customer does not answer (no answer,
busy, failed), or whose agent hangs up before the customer answers, ends "failed": the ACD
puts the request back in its queue for the next attempt by the queue's rule
(`pbx.acd.callback_rule`, on the customer's clock), and the live call waits again with no
channel, saved like any other, so a restart keeps the schedule. After
the last attempt the request is over: the asking call's row ends with `callback_state`
"failed", and the queue's supervisors hear `call.ended` with the outcome "callback_failed".
An attempt the customer answers ends the request "answered"; a customer who calls in
meanwhile cancels it ("cancelled").
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from billing_bridge.reminders.rules import customer_zone
from pbx.acd.commands import CallbackFailed, CallbackRetry
from pbx.acd.errors import AcdError
from pbx.acd.queues import EntryKind
from pbx.callflow.calls import FlowCall, Phase

if TYPE_CHECKING:  # the executor starts attempts; this module only uses what it passes
    from pbx.callflow.call_work import CallWork
    from pbx.callflow.executor import Executor

log = logging.getLogger(__name__)

PENDING, ANSWERED, FAILED, CANCELLED = "pending", "answered", "failed", "cancelled"
FAILED_OUTCOME = "callback_failed"  # what desks are told of a request no attempt reached


async def attempt_starts(executor: Executor, call: FlowCall, agent_id: str, attempt: int) -> None:
    """An agent answered the request: the customer is about to be dialled as `attempt`.
    Its row is opened (the same row again for an attempt started before a restart)."""
    asking = call.callback_of if call.callback_of is not None else call.record_id
    config, now = executor.config(), executor.clock()
    row = await executor.call_log.open(
        call.tenant_id, channel_id=f"{call.call_id}-callback-{attempt}",
        caller_raw=call.caller_number or "", caller_number=call.caller_number,
        dialed_number=call.caller_number, match=call.match, customer_id=call.customer_id,
        priority=call.priority, arrived_at=now, direction="outbound",
    )  # fmt: skip
    profile, queue = config.agents.get(agent_id), config.queues.get(call.queue or "")
    await executor.call_log.update(
        call.tenant_id, row, callback_of=asking, callback_attempt=attempt,
        agent_id=profile.user_id if profile else None,
        queue_id=queue.queue_id if queue else None, offered_at=now,
    )  # fmt: skip
    call.callback_of, call.record_id, call.callback_attempt = asking, row, attempt
    call.customer_answered = False


async def customer_answered(executor: Executor, call: FlowCall) -> None:
    """The customer picked up and is with the agent: the attempt's talk starts now."""
    call.customer_answered, call.answered_at = True, executor.clock()
    await executor.call_log.update(call.tenant_id, call.record_id, answered_at=call.answered_at)


def attempt_outcome(call: FlowCall) -> str:
    """The outcome of an attempt's row as its call ends."""
    return "answered" if call.customer_answered else "failed"


async def attempt_ended(executor: Executor, call: FlowCall) -> None:
    """The attempt's call ended (the agent or the answered customer hung up), its row
    closed: the request ends with it."""
    await _request_over(executor, call, ANSWERED if call.customer_answered else FAILED)


async def not_answered(flow: CallWork, call: FlowCall) -> None:
    """The customer's leg ended unanswered, or the agent's before the customer answered (in
    the call's lane): the attempt ends, the legs left go, and the request waits for its next
    attempt or is over."""
    now = flow.clock()
    try:
        commands = flow.state.engine.callback_not_answered(call.call_id, _zone(flow, call), now)
    except AcdError as exc:  # the ACD dials it no more (its state is older than the call's)
        log.warning("callback %s: %s; ended", call.call_id, exc)
        await flow.end_call(call)
        return
    legs = call.channels()
    call.agent_channel = call.customer_channel = call.agent_id = None  # their events: nobody's
    for leg in legs:
        await flow.executor.hangup(leg)
    await flow.executor.destroy_bridges(call)
    await flow.call_log.update(call.tenant_id, call.record_id, outcome="failed", ended_at=now)
    call.record_id, call.callback_of = call.callback_of or call.record_id, None
    call.answered_at, call.customer_answered = None, False
    decision = next(c for c in commands if isinstance(c, CallbackRetry | CallbackFailed))
    await flow.executor.run([c for c in commands if c is not decision])  # the agent's wrap-up
    if isinstance(decision, CallbackRetry):
        call.phase = Phase.CALLBACK
        log.info("callback %s: attempt %d at %s", call.call_id, decision.attempt, decision.at)
        return
    await _request_over(flow.executor, call, FAILED)
    flow.state.drop(call.call_id)


async def cancel_for_caller(flow: CallWork, caller: FlowCall) -> None:
    """`caller` just called in: a callback request of theirs waiting for an agent or for its
    next attempt is over ("cancelled"). One being dialled now is left to end by itself."""
    number = caller.caller_number
    if not number:
        return
    waiting = [
        entry.call_id for queue in flow.state.engine.queues.values() for entry in queue.waiting
        if entry.kind is EntryKind.CALLBACK and entry.caller_number == number
    ]  # fmt: skip
    for call_id in waiting:
        call = flow.state.calls.get(call_id)
        if call is None or call.tenant_id != caller.tenant_id:
            continue
        async with flow.lanes.call(call_id):
            if call.phase is not Phase.CALLBACK:
                continue
            try:
                commands = flow.state.engine.cancel_callback(call.call_id, flow.clock())
            except AcdError:  # no longer waiting in the ACD
                continue
            await flow.executor.run(commands)  # an agent rung for it stops ringing
            await _request_over(flow.executor, call, CANCELLED)
            flow.state.drop(call.call_id)
        await flow.save()


async def _request_over(executor: Executor, call: FlowCall, state: str) -> None:
    """The asking call's row ends with how its callback ended; for a request no attempt
    reached, its queue's supervisors are told."""
    asking = call.callback_of if call.callback_of is not None else call.record_id
    await executor.call_log.update(
        call.tenant_id, asking, callback_state=state, ended_at=executor.clock()
    )
    if call.callback_of is None:  # not an attempt's own end (`call.ended` tells that)
        call.phase = Phase.ENDED
        call.outcome = FAILED_OUTCOME if state == FAILED else f"callback_{state}"
        executor.announce("call.ended", call, [])


def _zone(flow: CallWork, call: FlowCall) -> ZoneInfo:
    line = flow.config.tenants.get(call.tenant_id)
    try:
        business = ZoneInfo(line.timezone if line else "UTC")
    except (KeyError, ValueError):
        business = ZoneInfo("UTC")
    return customer_zone(call.caller_number, business)
