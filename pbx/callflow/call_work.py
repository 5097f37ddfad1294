"""What in-call control (`control.py`) and click-to-call (`outbound.py`) work with.

The call flow provides it; they see only this: the live calls and their lanes, Asterisk,
the ACD's executor, the call log, the configuration and the clock, and the two things
only the call flow does (note a change for saving, end a call).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pbx.ari import AriClient
from pbx.callflow.call_log import CallLog
from pbx.callflow.calls import FlowCall
from pbx.callflow.config import FlowConfig
from pbx.callflow.executor import Executor
from pbx.callflow.lanes import Lanes
from pbx.callflow.state import FlowState


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
