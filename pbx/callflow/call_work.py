"""What in-call control (`control.py`), click-to-call (`outbound.py`) and admission
(`admission.py`) work with.

The call flow provides it; they see only this: the live calls and their lanes, Asterisk,
the ACD's executor, the call log, the configuration and the clock, and the two things
only the call flow does (note a change for saving, end a call). Admission also sees who
is calling (identification, the screen-pop's read-ahead), the keypads and their timing,
the recorder and the database (a caller's PIN), and settles a channel found gone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from billing_bridge.identification.service import CallerIdentification
from pbx.ari import AriClient
from pbx.callflow.call_log import CallLog
from pbx.callflow.calls import FlowCall
from pbx.callflow.card_capture import CardCapture
from pbx.callflow.config import FlowConfig
from pbx.callflow.executor import Executor
from pbx.callflow.keypad import Keypads
from pbx.callflow.keypad_session import KeypadSessions
from pbx.callflow.lanes import Lanes
from pbx.callflow.mandate_capture import MandateCapture
from pbx.callflow.recorder import CallRecorder
from pbx.callflow.state import FlowState
from pbx.db.database import Database


class CallWork(Protocol):
    state: FlowState
    lanes: Lanes
    client: AriClient
    executor: Executor
    call_log: CallLog
    clock: Callable[[], datetime]

    @property
    def config(self) -> FlowConfig: ...

    async def save(self) -> None:
        """The state changed: it is written within a moment."""
        ...

    async def end_call(self, call: FlowCall) -> None:
        """End `call` from our side (in its lane): everything hangs up."""
        ...


class DigitTiming(Protocol):
    @property
    def first_digit(self) -> float:
        """Seconds a caller has to start keying."""
        ...

    @property
    def between_digits(self) -> float: ...


class AdmissionWork(CallWork, Protocol):
    identification: CallerIdentification
    # Starts reading a known caller's account for the screen-pop (None: no desks).
    prefetch: Callable[[int, int], None] | None
    keypads: Keypads
    timing: DigitTiming
    recorder: CallRecorder
    database: Database
    # The self-service menu's payments and mandates (None: the business takes none).
    keypad_sessions: KeypadSessions
    card_capture: CardCapture | None
    mandate_capture: MandateCapture | None

    async def channel_gone(self, channel_id: str) -> None:
        """A channel of a call is gone, as a request about it found: settle it."""
        ...
