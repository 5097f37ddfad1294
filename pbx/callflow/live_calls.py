"""The desk's `LiveCalls` port over the call flow: what an agent's desk may see of and do
to the live calls, answered in the desk's terms.

Every refusal the call flow's machinery raises (a `ControlError`, the ACD's, Asterisk's,
a keypad session's, the recorder's) becomes the desk's error here, so the desk's handlers
never learn what is underneath.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

from pbx.acd.errors import AcdError, UnknownAgent
from pbx.ari import AriError, AriUnavailable
from pbx.callflow import caller, control, outbound
from pbx.callflow.app import CallFlow
from pbx.callflow.calls import FlowCall, Phase
from pbx.callflow.card_capture import CaptureRequest
from pbx.callflow.config import agent_key
from pbx.callflow.control import ControlError
from pbx.callflow.keypad_session import SessionError
from pbx.callflow.mandate_capture import MandateRequest
from pbx.callflow.recorder import RecordingUnavailable
from pbx.desk import errors
from pbx.desk.commands import Actor, AgentStateName, TransferMode
from pbx.desk.ledger import LedgerMoney
from pbx.desk.local import LocalDesk
from pbx.desk.ports import (
    AgentProfile,
    CardOrder,
    LiveCall,
    MandateOrder,
    QueueSnapshot,
    RecordingRules,
)
from pbx.desk.results import AgentStateView
from recordings.pauses import PauseError

# The desk's error for each kind of `ControlError`.
CONTROL_ERRORS: dict[str, type[errors.DeskError]] = {
    "not_found": errors.NotFound, "invalid": errors.Invalid, "conflict": errors.Conflict,
}  # fmt: skip


def local_desk(flow: CallFlow) -> LocalDesk:
    """The desk run in this process, over its call flow and the ledger."""
    money = LedgerMoney(flow.database, lambda: flow.payments, lambda: flow.sender, flow.clock)
    return LocalDesk(FlowLiveCalls(flow), money)


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except ControlError as exc:
        raise CONTROL_ERRORS[exc.kind](str(exc)) from None
    except UnknownAgent:
        raise errors.NotFound("agent not found") from None
    except AcdError as exc:  # an agent change that does not fit their state
        raise errors.Conflict(str(exc)) from None
    except (SessionError, RecordingUnavailable, PauseError) as exc:
        raise errors.Conflict(str(exc)) from None
    except AriUnavailable as exc:
        raise errors.Unavailable(f"Asterisk did not answer: {exc}") from None
    except AriError as exc:  # a channel or bridge gone meanwhile: its events settle the call
        raise errors.Conflict(f"Asterisk refused: {exc}") from None


def live_call(call: FlowCall) -> LiveCall:
    agent = int(call.agent_id) if call.agent_id and call.agent_id.isdigit() else None
    return LiveCall(
        call.call_id, call.tenant_id, call.record_id, agent, call.customer_id,
        call.caller_number, call.phase is Phase.CONNECTED, call.did, call.queue,
        call.recording is not None, call.verified,
    )  # fmt: skip


class FlowLiveCalls:
    def __init__(self, flow: CallFlow) -> None:
        self.flow = flow

    @property
    def ready(self) -> bool:
        return self.flow.ready

    def now(self) -> datetime:
        return self.flow.clock()

    def call(self, call_id: str) -> LiveCall | None:
        call = self.flow.state.calls.get(call_id)
        return live_call(call) if call is not None else None

    def calls(self, tenant_id: int) -> list[LiveCall]:
        return [live_call(call) for call in self.flow.state if call.tenant_id == tenant_id]

    def agent(self, user_id: int) -> AgentProfile | None:
        profile = self.flow.config.agents.get(agent_key(user_id))
        return AgentProfile(profile.user_id, profile.tenant_id) if profile else None

    def agents(self, tenant_id: int) -> list[int]:
        return [p.user_id for p in self.flow.config.agents.values() if p.tenant_id == tenant_id]

    def agent_state(self, user_id: int) -> AgentStateView:
        agent = self.flow.state.engine.agents.get(agent_key(user_id))
        if agent is None:
            return AgentStateView(user_id, "logged_out")
        return AgentStateView(user_id, agent.state.value, agent.pause_reason,
                              agent.state_since, agent.call_id)  # fmt: skip

    async def set_agent_state(self, user_id: int, state: AgentStateName, reason: str) -> None:
        key = agent_key(user_id)
        with refusals():
            if state == "available":
                await self.flow.agent_available(key)
            elif state == "paused":
                await self.flow.pause_agent(key, reason)
            else:
                await self.flow.log_out_agent(key)

    async def hold(self, call_id: str, tenant_id: int) -> None:
        with refusals():
            await control.hold(self.flow, call_id, tenant_id)

    async def resume(self, call_id: str, tenant_id: int) -> None:
        with refusals():
            await control.resume(self.flow, call_id, tenant_id)

    async def hang_up(self, call_id: str, tenant_id: int) -> None:
        with refusals():
            await control.hang_up(self.flow, call_id, tenant_id)

    async def complete_transfer(self, call_id: str, tenant_id: int) -> None:
        with refusals():
            await control.complete_transfer(self.flow, call_id, tenant_id)

    async def cancel_transfer(self, call_id: str, tenant_id: int) -> None:
        with refusals():
            await control.cancel_transfer(self.flow, call_id, tenant_id)

    async def transfer_to_queue(self, call_id: str, tenant_id: int, queue: str) -> None:
        with refusals():
            await control.transfer_to_queue(self.flow, call_id, tenant_id, queue)

    async def transfer_to_agent(
        self, call_id: str, tenant_id: int, user_id: int, mode: TransferMode
    ) -> None:
        profile = self.flow.config.agents.get(agent_key(user_id))
        if profile is None:
            raise errors.Invalid("agent_id: no such agent with an endpoint")
        with refusals():
            await control.transfer_to(self.flow, call_id, tenant_id, profile.endpoint, mode,
                                      profile.agent_id)  # fmt: skip

    async def transfer_to_number(
        self, call_id: str, tenant_id: int, number: str, mode: TransferMode
    ) -> None:
        endpoint = self.flow.executor.dial_out.format(number=number)
        with refusals():
            await control.transfer_to(self.flow, call_id, tenant_id, endpoint, mode, None)

    def recording_rules(self, call_id: str) -> RecordingRules:
        call = self._call(call_id)
        route = self.flow.config.routes.get(call.did)
        queue = self.flow.config.queues.get(call.queue or "")
        return RecordingRules(
            route.recording_policy if route else "all",
            queue.recording_policy if queue else None,
            route.recording_announcement if route else None,
        )

    async def pause_recording(self, call_id: str, reason: str, actor: Actor) -> None:
        with refusals():
            await self.flow.recorder.pause(self._call(call_id), reason, actor)

    async def resume_recording(self, call_id: str, actor: Actor) -> None:
        with refusals():
            await self.flow.recorder.resume(self._call(call_id), actor)

    async def start_recording(self, call_id: str, announcement: str) -> bool:
        call = self._call(call_id)
        with refusals():
            await self.flow.recorder.start(call, announcement)
        return call.recording is not None

    async def stop_recording(self, call_id: str) -> None:
        with refusals():
            await self.flow.recorder.stop(self._call(call_id))

    @property
    def takes_cards(self) -> bool:
        return self.flow.card_capture is not None

    @property
    def takes_mandates(self) -> bool:
        return self.flow.mandate_capture is not None

    def start_card_capture(self, call_id: str, order: CardOrder) -> None:
        request = CaptureRequest(order.account_id, order.amount_minor, order.currency,
                                 order.actor_id, order.actor_label, order.invoice_id)  # fmt: skip
        with refusals():
            self.flow.start_card_capture(self._call(call_id), request)

    def start_mandate_capture(self, call_id: str, order: MandateOrder) -> None:
        request = MandateRequest(
            order.account_id, order.country, order.holder, order.customer_ref,
            order.confirm_channel, order.confirm_to, order.email, order.actor_id,
            order.actor_label,
        )  # fmt: skip
        with refusals():
            self.flow.start_mandate_capture(self._call(call_id), request)

    async def click_to_call(
        self, tenant_id: int, user_id: int, number: str, customer_id: int | None
    ) -> str:
        with refusals():
            return await outbound.click_to_call(self.flow, tenant_id, agent_key(user_id),
                                                number, customer_id)  # fmt: skip

    def queues(self, tenant_id: int) -> list[QueueSnapshot]:
        engine, found = self.flow.state.engine, []
        for settings in self.flow.config.queues.values():
            if settings.tenant_id != tenant_id:
                continue
            queue = engine.queues.get(settings.acd.name)
            waiting = tuple(entry.arrived_at for entry in queue.waiting) if queue else ()
            states = tuple(agent.state.value for agent in engine.agents.values()
                           if agent.is_member(settings.acd.name))  # fmt: skip
            found.append(QueueSnapshot(settings.queue_id, settings.name, waiting, states))
        return found

    async def attach_customer(self, call_id: str, customer_id: int) -> None:
        with refusals():
            await caller.attach_customer(self.flow, call_id, customer_id)

    def _call(self, call_id: str) -> FlowCall:
        """The live call a handler has just checked; gone meanwhile: not found."""
        call = self.flow.state.calls.get(call_id)
        if call is None:
            raise errors.NotFound("call not found")
        return call
