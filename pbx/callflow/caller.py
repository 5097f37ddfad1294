"""The caller the agent identified during the call (a household's member picked on the pop,
or a customer found by search), taken into the live call: what the desk does next (a
payment, a mandate) is for that customer's accounts, and the agent's desk (with whoever
watches the queue) gets their panel as `account.updated`. The call log and the recordings
were changed first, with the audit entry (`billing_bridge.call_customer`)."""

from __future__ import annotations

from pbx.callflow.call_work import CallWork
from pbx.callflow.calls import Phase
from pbx.callflow.control import ControlError


async def attach_customer(flow: CallWork, call_id: str, customer_id: int) -> None:
    async with flow.lanes.call(call_id):
        call = flow.state.calls.get(call_id)
        if call is None or call.phase is Phase.ENDED:
            raise ControlError("not_found", f"no call {call_id} in progress")
        call.customer_id = customer_id
        agents = [call.agent_id] if call.agent_id else []
        flow.executor.announce("account.updated", call, agents)
        await flow.save()
