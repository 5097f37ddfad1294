"""What each desk event carries: one frozen dataclass per kind, named as the desk reads it.

A field is named exactly as the key the browser reads (`pbx/http/static/desk.js`), and the
fields are in the order the JSON has always had them, so `codec.encode` gives the desk the
very object it received before events were typed. A field without a default is required;
one marked `OMITTED_IF_NONE` is left out of the JSON when it is None (a mandate's result
names a scheme only when there is one). `panel` stays a JSON object: its shape belongs to
`billing_bridge.screen_pop.customer_panel`.

To add a kind: a dataclass here with its `kind`, and a line in `KINDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

_frozen = dataclass(frozen=True, slots=True, kw_only=True)
OMITTED_IF_NONE = {"omitted_if_none": True}


def _optional() -> Any:
    return field(default=None, metadata=OMITTED_IF_NONE)


@_frozen
class DeskPayload:
    kind: ClassVar[str] = ""


# --- the call, as the agent's desk shows it (`pbx.callflow.executor.call_view`) --------------


@_frozen
class CallView(DeskPayload):
    call_id: str
    record_id: int
    direction: str
    caller_number: str | None
    did: str | None
    match: str
    customer_id: int | None
    priority: int
    verified: str | None
    queue: str | None
    waited_seconds: int
    agent_id: int | None
    outcome: str | None
    # {"steps": [...]}: what the caller did in the IVR's self-service before an agent
    in_the_ivr: Mapping[str, Any] | None = _optional()
    # "played" or "failed": whether the caller heard the recording notice (recorded calls)
    recording_notice: str | None = _optional()


@_frozen
class CallOffered(CallView):
    """The screen-pop: the call and, when the caller was identified, their account panel."""

    kind: ClassVar[str] = "call.offered"
    record_id: int | None  # None: an AGI-only pop, of a call app_queue serves and none logs
    panel: Mapping[str, Any] | None
    # A number several customers share, nobody picked yet: {"members": [...], "more": n}
    # (`billing_bridge.household`), for the agent to attach the one on the line
    household: Mapping[str, Any] | None = _optional()


@_frozen
class CallConnected(CallView):
    kind: ClassVar[str] = "call.connected"


@_frozen
class CallEnded(CallView):
    kind: ClassVar[str] = "call.ended"


@_frozen
class CallQueued(CallView):
    """A caller joined a queue and waits (for its supervisors and the wall board)."""

    kind: ClassVar[str] = "call.queued"


@_frozen
class AgentState(DeskPayload):
    kind: ClassVar[str] = "agent.state"
    tenant_id: int
    agent_id: int
    state: str
    pause_reason: str | None
    since: str | None  # ISO 8601
    call_id: str | None


# --- the caller keying details on the phone (`pbx.callflow.keypad_session`) ------------------


@_frozen
class KeyingProgress(DeskPayload):
    call_id: str
    record_id: int
    step: str  # started, field, charging, creating, finished, interrupted
    progress: str  # a sentence for the agent


@_frozen
class PaymentProgress(KeyingProgress):
    kind: ClassVar[str] = "payment.progress"


@_frozen
class MandateProgress(KeyingProgress):
    kind: ClassVar[str] = "mandate.progress"


@_frozen
class PaymentResult(DeskPayload):
    """A card payment keyed on the phone: taken, refused, pending or abandoned."""

    kind: ClassVar[str] = "payment.result"
    call_id: str
    record_id: int
    status: str
    payment_id: int | None
    failure: str | None
    card_last4: str | None
    balance_minor: int | None
    amount_minor: int
    currency: str
    account_id: int


@_frozen
class MandateResult(DeskPayload):
    """A direct-debit mandate set up on the phone; the optional fields only when they apply."""

    kind: ClassVar[str] = "mandate.result"
    call_id: str
    record_id: int
    status: str
    failure: str | None = _optional()
    mandate_id: int | None = _optional()
    scheme: str | None = _optional()
    confirmation: str | None = _optional()
    account_id: int


# --- what a payment provider's webhook changed (`billing_bridge.payments.webhooks`) ----------


@_frozen
class PaymentStatusChanged(DeskPayload):
    kind: ClassVar[str] = "payment.status"
    payment_id: int
    status: str
    method: str
    amount_minor: int
    currency: str
    account_id: int
    balance_minor: int
    call_record_id: int | None


@_frozen
class PaymentHeld(DeskPayload):
    """A move the payment table does not allow on an event alone: a supervisor decides."""

    kind: ClassVar[str] = "payment.held"
    payment_id: int
    status: str
    held_status: str
    amount_minor: int
    currency: str
    account_id: int
    reason: str


@_frozen
class MandateStatusChanged(DeskPayload):
    kind: ClassVar[str] = "mandate.status"
    mandate_id: int
    status: str
    scheme: str
    account_id: int


@_frozen
class RecordingStored(DeskPayload):
    kind: ClassVar[str] = "recording.stored"
    recording_id: int
    call_id: int
    agent_id: int | None
    duration_ms: int | None
    format: str


# --- what the billing system changed (`billing_bridge.ingest`) --------------------------------


@_frozen
class AccountUpdated(DeskPayload):
    """The billing system changed the customer on this call, or the agent attached the
    caller to it (a household's member, or one found by search): the panel as it is now."""

    kind: ClassVar[str] = "account.updated"
    call_id: str
    record_id: int
    customer_id: int
    panel: Mapping[str, Any]


# --- what the webhook delivery worker did (`billing_bridge.webhooks_out`) --------------------


@_frozen
class WebhookDisabled(DeskPayload):
    """A webhook subscription every delivery failed to for days, disabled: for its
    business's admins (who were emailed too), to fix the receiver and enable it again."""

    kind: ClassVar[str] = "webhook.disabled"
    subscription_id: int
    url: str
    reason: str
    failing_since: str  # ISO 8601
    disabled_at: str  # ISO 8601


# --- the wall board (`pbx.reports.board`): today's figures, sent again when they move ----------


@_frozen
class BoardTile(DeskPayload):
    """One queue on the wall board: live (waiting, agents) and today's (since the business's
    midnight) figures, with the thresholds that colour it. `at` is the server's clock when
    read: the board ticks the longest wait on from it until the next tile."""

    kind: ClassVar[str] = "board.tile"
    queue_id: int
    name: str
    at: str  # ISO 8601
    waiting: int
    longest_wait_seconds: int
    agents: Mapping[str, Any]  # state -> how many members are in it
    offered: int
    answered: int
    abandoned: int
    service_level_pct: int | None  # answered within the threshold, whole percent
    collected: Mapping[str, Any]  # currency -> minor units collected in this queue's calls
    wait_amber_seconds: int
    wait_red_seconds: int
    service_level_amber_pct: int
    service_level_red_pct: int
    status: str  # ok, amber, red: the worse of the wait's and the service level's


@_frozen
class BoardTotal(DeskPayload):
    """The whole business today: what it collected by every channel, in every currency."""

    kind: ClassVar[str] = "board.total"
    at: str  # ISO 8601
    service_level_seconds: int
    collected: Mapping[str, Any]  # currency -> minor units


# Each kind and the payloads it may carry, tried in order when decoding.
KINDS: Mapping[str, tuple[type[DeskPayload], ...]] = {
    "call.offered": (CallOffered,),
    "call.connected": (CallConnected,),
    "call.ended": (CallEnded,),
    "call.queued": (CallQueued,),
    "agent.state": (AgentState,),
    "payment.progress": (PaymentProgress,),
    "mandate.progress": (MandateProgress,),
    "payment.result": (PaymentResult,),
    "mandate.result": (MandateResult,),
    "payment.status": (PaymentStatusChanged,),
    "payment.held": (PaymentHeld,),
    "mandate.status": (MandateStatusChanged,),
    "recording.stored": (RecordingStored,),
    "account.updated": (AccountUpdated,),
    "webhook.disabled": (WebhookDisabled,),
    "board.tile": (BoardTile,),
    "board.total": (BoardTotal,),
}
