"""What desk operations answer with (typed, JSON-able through `pbx.desk.typed`). The HTTP
layer builds its response models from these; operations that only act answer None."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from billing_bridge.call_credits import CreditView
from billing_bridge.mandate_links import MandateLinkSent


@dataclass(frozen=True, slots=True)
class AgentStateView:
    agent_id: int
    state: str
    pause_reason: str | None = None
    since: datetime | None = None
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class AgentStateList:
    items: tuple[AgentStateView, ...]


@dataclass(frozen=True, slots=True)
class QueueStat:
    queue_id: int
    name: str
    waiting: int
    longest_wait_seconds: int
    agents: dict[str, int]  # how many members are in each state


@dataclass(frozen=True, slots=True)
class QueueStatList:
    items: tuple[QueueStat, ...]


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str


@dataclass(frozen=True, slots=True)
class CardPaymentStarted:
    amount_minor: int
    currency: str
    status: Literal["started"] = "started"


@dataclass(frozen=True, slots=True)
class PayLinkSent:
    payment_id: int
    url: str
    status: str
    amount_minor: int
    currency: str
    channel: str
    to: str  # masked


@dataclass(frozen=True, slots=True)
class CallerVerified:
    call_id: str
    verified: str
    questions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CallOfAccount:
    """The call the agent is talking on with the account's owner, if any."""

    call_id: str | None


@dataclass(frozen=True, slots=True)
class MandateStarted:
    scheme: str
    status: Literal["started"] = "started"


@dataclass(frozen=True, slots=True)
class CustomerAttached:
    """The call is now the customer's; the desks on it get the panel (`account.updated`)."""

    call_id: str
    customer_id: int
    previous_customer_id: int | None


Result = (
    AgentStateView | AgentStateList | QueueStatList | CallStarted | CardPaymentStarted
    | PayLinkSent | CallerVerified | CallOfAccount | CreditView | MandateStarted
    | MandateLinkSent | CustomerAttached | None
)  # fmt: skip
RESULTS: tuple[type, ...] = (
    AgentStateView, AgentStateList, QueueStatList, CallStarted, CardPaymentStarted,
    PayLinkSent, CallerVerified, CallOfAccount, CreditView, MandateStarted, MandateLinkSent,
    CustomerAttached,
)  # fmt: skip
