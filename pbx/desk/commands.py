"""One frozen command per desk operation, and who asks for it (`Actor`).

Fields are typed strictly (an id is an int, never a bool or "7"): a command that could not
have come from a validated request does not exist. Permission to act for an agent is the
API's check; whether a call is the actor's own is the handlers'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pbx.desk.typed import check_fields

AgentStateName = Literal["available", "paused", "logged_out"]
TransferMode = Literal["blind", "attended"]
Channel = Literal["sms", "email"]
CustomerVia = Literal["household", "search"]  # how the agent knows who the caller is


class Command:
    """A desk operation's request; its handler is in `pbx.desk.handlers.HANDLERS`."""

    __slots__ = ()

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    tenant_id: int
    supervisor: bool  # a supervisor or an admin: may act on any call of the tenant
    label: str = ""  # who, in audit entries ("agent:dana")

    def __post_init__(self) -> None:
        check_fields(self)


# --- agents and queues ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentStates(Command):
    pass


@dataclass(frozen=True, slots=True)
class AgentStateOf(Command):
    agent_id: int


@dataclass(frozen=True, slots=True)
class SetAgentState(Command):
    agent_id: int
    state: AgentStateName
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ClickToCall(Command):
    agent_id: int
    number: str
    customer_id: int | None = None


@dataclass(frozen=True, slots=True)
class QueueStats(Command):
    pass


# --- call control ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hold(Command):
    call_id: str


@dataclass(frozen=True, slots=True)
class Resume(Command):
    call_id: str


@dataclass(frozen=True, slots=True)
class HangUp(Command):
    call_id: str


@dataclass(frozen=True, slots=True)
class Transfer(Command):
    """To `queue` (an ACD queue key), or to `agent_id`'s endpoint, or to `number`."""

    call_id: str
    mode: TransferMode = "blind"
    queue: str | None = None
    agent_id: int | None = None
    number: str | None = None


@dataclass(frozen=True, slots=True)
class CompleteTransfer(Command):
    call_id: str


@dataclass(frozen=True, slots=True)
class CancelTransfer(Command):
    call_id: str


# --- recording ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PauseRecording(Command):
    call_id: str
    reason: str = "agent"


@dataclass(frozen=True, slots=True)
class ResumeRecording(Command):
    call_id: str


@dataclass(frozen=True, slots=True)
class StartRecording(Command):
    call_id: str


@dataclass(frozen=True, slots=True)
class StopRecording(Command):
    call_id: str


# --- money in a call ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TakeCardPayment(Command):
    """`invoice_id`: the open invoice of the account it pays (then `amount_minor` defaults
    to what the invoice still owes, and may not be more)."""

    call_id: str
    account_id: int
    amount_minor: int | None = None  # None: what is due
    invoice_id: int | None = None


@dataclass(frozen=True, slots=True)
class SendPayLink(Command):
    call_id: str
    account_id: int
    amount_minor: int | None = None
    channel: Channel = "sms"
    recipient: str | None = None  # None: the number calling, or the email on file


@dataclass(frozen=True, slots=True)
class VerifyCaller(Command):
    call_id: str
    questions: tuple[str, ...]  # their names only, never the answers


@dataclass(frozen=True, slots=True)
class CallWithAccount(Command):
    account_id: int


@dataclass(frozen=True, slots=True)
class GrantCreditInCall(Command):
    call_id: str
    account_id: int
    amount_minor: int
    reason_code: str
    currency: str | None = None  # None: the account's
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SetUpMandateByPhone(Command):
    call_id: str
    account_id: int
    country: str | None = None  # None: the business's region
    channel: Channel = "sms"
    recipient: str | None = None


@dataclass(frozen=True, slots=True)
class SendMandateLink(Command):
    call_id: str
    account_id: int
    scheme: str | None = None  # None: the business's region's
    channel: Channel = "sms"
    recipient: str | None = None


# --- who is calling -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttachCustomer(Command):
    """The caller is this customer: a member of the household sharing the number, picked
    on the pop, or one the agent found by search (`billing_bridge.call_customer` says whom
    each allows)."""

    call_id: str
    customer_id: int
    via: CustomerVia = "household"


COMMANDS: tuple[type[Command], ...] = (
    AgentStates, AgentStateOf, SetAgentState, ClickToCall, QueueStats, Hold, Resume, HangUp,
    Transfer, CompleteTransfer, CancelTransfer, PauseRecording, ResumeRecording,
    StartRecording, StopRecording, TakeCardPayment, SendPayLink, VerifyCaller,
    CallWithAccount, GrantCreditInCall, SetUpMandateByPhone, SendMandateLink, AttachCustomer,
)  # fmt: skip
