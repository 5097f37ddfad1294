"""Click-to-call: the agent's desk places a call. The agent's phone rings first; when they
answer, the customer is dialled from the business's number and the two are bridged. For the
ACD the agent is on a call (in the `OUTBOUND` queue) from the moment the call is asked for.

The agent and the customer are checked against the business before anything changes, and a
call that cannot start (the call log or the agent's phone fails) undoes itself: the agent is
free again, with nothing counted, and no live call is left behind.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pbx.acd.errors import AcdError
from pbx.ari import AriError
from pbx.callflow.call_work import CallWork
from pbx.callflow.calls import FlowCall, Phase
from pbx.callflow.control import ControlError, ari_failed, log_quietly

log = logging.getLogger(__name__)
# The largest id a database column holds: a bigger one names nothing.
MAX_ID = 2**63 - 1


async def click_to_call(
    flow: CallWork, tenant_id: int, agent_id: str, number: str, customer_id: int | None
) -> str:
    """Ring the agent first; when they answer, dial `number` (E.164) from the business's
    number and bridge the two. Returns the new call's id.

    The agent and the customer are checked against the business first. The agent is then
    busy in the ACD (so no queue offers them a call meanwhile), and if the call log or the
    agent's phone fails, that is undone: the agent is free and no call is left behind."""
    profile = flow.config.agents.get(agent_id)
    if profile is None or profile.tenant_id != tenant_id:
        raise ControlError("not_found", f"no agent {agent_id}")
    if customer_id is not None and not (
        0 < customer_id <= MAX_ID and await flow.call_log.knows_customer(tenant_id, customer_id)
    ):
        raise ControlError("invalid", "customer_id: no such customer")
    call_id = uuid.uuid4().hex
    now = flow.clock()
    async with flow.lanes.call(call_id):
        try:
            flow.state.engine.start_outbound(call_id, agent_id, now)
        except AcdError as exc:
            raise ControlError("conflict", str(exc)) from exc
        record_id: int | None = None
        try:
            record_id = await flow.call_log.open(
                tenant_id, channel_id=call_id, caller_raw=number, caller_number=number,
                dialed_number=number, match="unique" if customer_id else "none",
                customer_id=customer_id, priority=0, arrived_at=now, direction="outbound",
            )  # fmt: skip
            slug, language = await flow.call_log.business(tenant_id)
            call = FlowCall(
                call_id, tenant_id, record_id, None, tenant_slug=slug, language=language,
                caller_number=number, customer_id=customer_id, phase=Phase.CONNECTED,
                agent_id=agent_id, arrived_at=now, direction="outbound",
            )  # fmt: skip
            call.agent_channel = uuid.uuid4().hex
            call.dial_after_agent = number
            flow.state.add(call)
            await flow.client.originate(
                profile.endpoint,
                app_args=f"outbound,{call_id}",
                caller_id=number,
                timeout=30,
                channel_id=call.agent_channel,
            )
        except BaseException as exc:
            await _undo_click_to_call(flow, tenant_id, call_id, record_id)
            if isinstance(exc, AriError):
                raise ari_failed("the agent's phone could not be rung", exc) from exc
            if isinstance(exc, IntegrityError):  # the customer went meanwhile
                raise ControlError("invalid", "customer_id: no such customer") from exc
            raise
        await flow.save()
    return call_id


async def _undo_click_to_call(
    flow: CallWork, tenant_id: int, call_id: str, record_id: int | None
) -> None:
    """A click-to-call that could not start: the agent free, counting nothing; the call gone
    from the live state; its log row (if written) closed as failed."""
    now = flow.clock()
    await flow.executor.run(flow.state.engine.cancel_outbound(call_id, now))
    call = flow.state.drop(call_id)
    if call is not None and call.agent_channel:
        await flow.executor.hangup(call.agent_channel)  # in case Asterisk made it
    if record_id is not None:
        try:
            await flow.call_log.update(tenant_id, record_id, outcome="failed", ended_at=now)
        except (SQLAlchemyError, OSError) as exc:
            log.error("click-to-call %s: failed call not closed in the log: %s", call_id, exc)
    await flow.save()


async def agent_answered(flow: CallWork, channel_id: str, call_id: str) -> None:
    """The agent picked up their click-to-call: now dial the customer (in its lane)."""
    call = flow.state.calls.get(call_id)
    if call is None or call.agent_channel != channel_id or not call.dial_after_agent:
        await flow.executor.hangup(channel_id)
        return
    number, call.dial_after_agent = call.dial_after_agent, None
    call.answered_at = flow.clock()
    await flow.executor.dial_customer(call, number)
    await log_quietly(flow, call, answered_at=call.answered_at,
                       agent_id=int(call.agent_id) if call.agent_id else None)  # fmt: skip
