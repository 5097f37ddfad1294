"""What the desk needs from the world: the live calls (`LiveCalls`, which the call flow
implements in `pbx.callflow.live_calls`) and the ledger (`Money`, `pbx.desk.ledger`).

Both raise the desk's own errors (`pbx.desk.errors`), never their machinery's: a control
Asterisk refused is a `Conflict`, an unreachable Asterisk or provider `Unavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from billing_bridge.call_credits import CallCredit, CreditView
from billing_bridge.call_customer import Attached, Attachment
from billing_bridge.mandate_links import MandateLinkOrder, MandateLinkSent, MandateParty
from pbx.desk.commands import Actor, AgentStateName, TransferMode
from pbx.desk.results import AgentStateView


@dataclass(frozen=True, slots=True)
class LiveCall:
    call_id: str
    tenant_id: int
    record_id: int  # the call log row
    agent_user_id: int | None  # the agent on it (or last rung), if any
    customer_id: int | None
    caller_number: str | None
    connected: bool  # the caller is talking to the agent
    did: str
    queue: str | None
    recording: bool
    ivr_verified: str | None  # "pin", "date_of_birth", "failed" or None


@dataclass(frozen=True, slots=True)
class AgentProfile:
    user_id: int
    tenant_id: int


@dataclass(frozen=True, slots=True)
class RecordingRules:
    """What the call's route and queue say about recording it."""

    route_policy: str  # "all" where the number has no route
    queue_policy: str | None
    announcement: str | None  # the route's, played before an on-demand recording


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    queue_id: int
    name: str
    waiting_since: tuple[datetime, ...]
    member_states: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CardOrder:
    account_id: int
    amount_minor: int
    currency: str
    actor_id: int
    actor_label: str
    invoice_id: int | None = None  # the invoice of the account it pays, if the agent named one


@dataclass(frozen=True, slots=True)
class MandateOrder:
    account_id: int
    country: str
    holder: str
    customer_ref: str
    confirm_channel: str
    confirm_to: str
    email: str | None
    actor_id: int
    actor_label: str


class LiveCalls(Protocol):
    @property
    def ready(self) -> bool: ...  # connected to Asterisk and in sync
    def now(self) -> datetime: ...
    def call(self, call_id: str) -> LiveCall | None: ...
    def calls(self, tenant_id: int) -> Sequence[LiveCall]: ...
    def agent(self, user_id: int) -> AgentProfile | None: ...  # one with an endpoint
    def agents(self, tenant_id: int) -> Sequence[int]: ...
    def agent_state(self, user_id: int) -> AgentStateView: ...
    async def set_agent_state(self, user_id: int, state: AgentStateName, reason: str) -> None: ...
    async def hold(self, call_id: str, tenant_id: int) -> None: ...
    async def resume(self, call_id: str, tenant_id: int) -> None: ...
    async def hang_up(self, call_id: str, tenant_id: int) -> None: ...
    async def complete_transfer(self, call_id: str, tenant_id: int) -> None: ...
    async def cancel_transfer(self, call_id: str, tenant_id: int) -> None: ...
    async def transfer_to_queue(self, call_id: str, tenant_id: int, queue: str) -> None: ...
    async def transfer_to_agent(
        self, call_id: str, tenant_id: int, user_id: int, mode: TransferMode
    ) -> None: ...
    async def transfer_to_number(
        self, call_id: str, tenant_id: int, number: str, mode: TransferMode
    ) -> None: ...
    def recording_rules(self, call_id: str) -> RecordingRules: ...
    async def pause_recording(self, call_id: str, reason: str, actor: Actor) -> None: ...
    async def resume_recording(self, call_id: str, actor: Actor) -> None: ...
    async def start_recording(self, call_id: str, announcement: str) -> bool: ...  # started?
    async def stop_recording(self, call_id: str) -> None: ...
    @property
    def takes_cards(self) -> bool: ...
    @property
    def takes_mandates(self) -> bool: ...
    def start_card_capture(self, call_id: str, order: CardOrder) -> None: ...
    def start_mandate_capture(self, call_id: str, order: MandateOrder) -> None: ...
    async def click_to_call(
        self, tenant_id: int, user_id: int, number: str, customer_id: int | None
    ) -> str: ...
    def queues(self, tenant_id: int) -> Sequence[QueueSnapshot]: ...
    # The live call is now this customer's (logged already): its desks get the panel.
    async def attach_customer(self, call_id: str, customer_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Due:
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class InvoiceDue:
    """What an open invoice still owes, and whether it can only be paid whole (a Stripe
    invoice: Stripe pays an invoice in full or not at all)."""

    invoice_id: int
    outstanding_minor: int
    currency: str
    whole_only: bool


@dataclass(frozen=True, slots=True)
class Contact:
    ref: str
    email: str | None


@dataclass(frozen=True, slots=True)
class PayLinkOrder:
    tenant_id: int
    account_id: int
    customer_ref: str
    call_record_id: int
    amount_minor: int
    currency: str
    channel: str
    recipient: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class LinkSent:
    payment_id: int
    url: str
    status: str


class Money(Protocol):
    @property
    def takes_payments(self) -> bool: ...  # a payment provider is configured
    async def amount_due(
        self, tenant_id: int, account_id: int, customer_id: int | None
    ) -> Due: ...
    async def invoice_due(
        self, tenant_id: int, account_id: int, customer_id: int | None, invoice_id: int
    ) -> InvoiceDue: ...
    async def contact(self, tenant_id: int, customer_id: int | None) -> Contact: ...
    async def send_pay_link(self, order: PayLinkOrder) -> LinkSent: ...
    async def record_verification(
        self, call: LiveCall, questions: Sequence[str], actor: Actor
    ) -> None: ...
    async def check_verified(self, call: LiveCall) -> None: ...
    async def owner_of_account(self, tenant_id: int, account_id: int) -> int | None: ...
    async def grant_credit_in_call(self, order: CallCredit) -> CreditView: ...
    async def mandate_party(
        self, tenant_id: int, account_id: int, customer_id: int | None
    ) -> MandateParty: ...
    async def send_mandate_link(self, order: MandateLinkOrder) -> MandateLinkSent: ...
    async def attach_customer(self, order: Attachment) -> Attached: ...
