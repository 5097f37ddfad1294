"""What the ACD wants done. The engine decides and returns these; an adapter carries them out.

Each is a small immutable record; an adapter matches on the type. None of them is an order to
change ACD state: by the time a command is returned, the engine's state already reflects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # queues builds Announce commands, so only type-check this import
    from pbx.acd.queues import OverflowKind


@dataclass(frozen=True, slots=True)
class RingAgents:
    """Ring these agents' endpoints for the call (one agent, or several for ringall)."""

    call_id: str
    queue: str
    agent_ids: tuple[str, ...]
    # The endpoint to dial for each agent, in the order of `agent_ids`.
    endpoints: tuple[str, ...]
    timeout_s: int
    # Set when the call is a callback request: no caller is on the line, the agent rings
    # first and `DialCallback` follows the answer.
    callback_number: str | None = None


@dataclass(frozen=True, slots=True)
class StopRinging:
    call_id: str
    agent_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Connect:
    """Bridge the waiting caller with the agent who answered."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class DialCallback:
    """The agent answered a callback request: now dial the customer and bridge them."""

    call_id: str
    agent_id: str
    number: str
    attempt: int = 1  # which dial of the customer this is (the queue's rule caps them)


@dataclass(frozen=True, slots=True)
class CallbackRetry:
    """The customer did not answer a callback: the request waits in its queue (its place
    kept) and is offered to agents again from `at`, for dial number `attempt`."""

    call_id: str
    attempt: int
    at: datetime


@dataclass(frozen=True, slots=True)
class CallbackFailed:
    """The customer did not answer the last dial the queue's rule allows: the request is
    over, unanswered after `attempts` dials."""

    call_id: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Overflow:
    """The call waited the queue's maximum: send it to another queue, voicemail or callback.

    For a queue the engine has already moved the call; for voicemail it has let the call go;
    for a callback it keeps the caller's place, and the adapter tells the caller and hangs up.
    """

    call_id: str
    kind: OverflowKind
    target: str


@dataclass(frozen=True, slots=True)
class Announce:
    """Tell the caller their place; `estimated_wait_s` is None when nobody is staffed."""

    call_id: str
    position: int
    estimated_wait_s: int | None


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    """The caller hung up before an agent answered: for the call log."""

    call_id: str
    queue: str
    waited_s: int
    position: int


@dataclass(frozen=True, slots=True)
class PauseAgent:
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class StartWrapUp:
    agent_id: str
    until: datetime


@dataclass(frozen=True, slots=True)
class EndWrapUp:
    """Wrap-up time ran out: the agent is available again."""

    agent_id: str


Command = (
    RingAgents
    | StopRinging
    | Connect
    | DialCallback
    | CallbackRetry
    | CallbackFailed
    | Overflow
    | Announce
    | CallAbandoned
    | PauseAgent
    | StartWrapUp
    | EndWrapUp
)
