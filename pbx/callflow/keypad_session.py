"""The caller alone with Ledgerline for a while, keying details on the phone.

Card capture and bank details by phone both take the caller out of the agent's bridge (the
agent hears music and no DTMF can reach the agent's leg, as it could through a bridge even
with audio muted), prompt and collect field by field with re-prompts, tell the agent only
how it is going (`<kind>.progress` desk events, never the digits), and put the caller back.
Whether the recording is paused is the caller's choice: card data is never recorded; a
mandate's consent must be.

Every prompt is played to its end before the caller's keys are read (`prompts_player`),
one media per playback; a prompt the caller did not hear through (a missing file, a failed
playback) ends the session: nothing keyed after silence is taken, and `unheard` says which
prompt it was so the capture can tell the agent why.

The call's state says the caller is keying (saved before they leave the bridge): a process
that stops or dies mid-session leaves them to whoever serves the call next, whose resync
brings them back with `bring_back` and tells the agent the session was interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pbx.ari import AriClient, AriError
from pbx.callflow import keypad, prompts
from pbx.callflow.calls import FlowCall, Phase
from pbx.callflow.keypad import Keypads
from pbx.callflow.prompts_player import PlayOutcome, PromptsPlayer
from pbx.events.codec import encode_payload
from pbx.events.payloads import DeskPayload, MandateProgress, PaymentProgress
from recordings.pauses import NotPaused

if TYPE_CHECKING:
    from pbx.callflow.recorder import CallRecorder

log = logging.getLogger(__name__)
_PROGRESS = {"payment": PaymentProgress, "mandate": MandateProgress}  # by session kind

ATTEMPTS = 3  # per field, then the session is abandoned


class SessionError(Exception):
    """The session cannot start (not connected, one already running on the call...)."""


class Verdict(Protocol):
    ok: bool
    progress: str  # for the agent's screen: never a digit of what was keyed


class Persist(Protocol):
    """The call flow's state saver: within a moment (`save`) or now (`flush`)."""

    async def save(self) -> None: ...

    async def flush(self) -> None: ...


class KeypadSessions:
    """At most one keypad session per call."""

    def __init__(
        self, client: AriClient, keypads: Keypads, recorder: CallRecorder, persist: Persist,
        notify: Callable[[str, dict[str, Any]], None], *, first_digit_s: float,
        between_digits_s: float, player: PromptsPlayer | None = None,
    ) -> None:  # fmt: skip
        self.client, self.keypads, self.recorder = client, keypads, recorder
        self.player = player or PromptsPlayer(client)
        self.persist, self.notify = persist, notify
        self.first_digit_s, self.between_digits_s = first_digit_s, between_digits_s
        self._running: set[str] = set()

    def caller_of(self, call: FlowCall) -> str:
        """The channel to prompt; raises `SessionError` if a session cannot start now."""
        if call.phase is not Phase.CONNECTED or call.bridge is None or call.on_hold:
            raise SessionError("the call is not connected to an agent")
        if call.transfer is not None:
            raise SessionError("a transfer is in progress")
        if call.call_id in self._running:
            raise SessionError("the caller is already keying details on this call")
        caller = call.caller_channel or call.customer_channel
        if caller is None:
            raise SessionError("nobody on the line")
        return caller

    def open(self, call: FlowCall, kind: str, pause_reason: str | None) -> KeypadSession:
        session = KeypadSession(self, call, self.caller_of(call), kind, pause_reason)
        self._running.add(call.call_id)
        return session

    def open_in_ivr(self, call: FlowCall, kind: str, pause_reason: str | None) -> KeypadSession:
        """A session for a caller in the IVR's self-service, before any agent: there is no
        bridge to take them from, and no agent to tell (the call log keeps the outcome)."""
        if call.phase is not Phase.ARRIVING or call.caller_channel is None:
            raise SessionError("the caller is not in the IVR")
        if call.call_id in self._running:
            raise SessionError("the caller is already keying details on this call")
        session = KeypadSession(self, call, call.caller_channel, kind, pause_reason, in_ivr=True)
        self._running.add(call.call_id)
        return session

    def closed(self, call: FlowCall) -> None:
        self._running.discard(call.call_id)

    def running(self, call: FlowCall) -> bool:
        return call.call_id in self._running

    async def bring_back(self, call: FlowCall, caller: str, *, resume: bool) -> None:
        """The caller back in the agent's bridge, the agent's music off, and the recording
        resumed if it was paused for the keying."""
        assert call.bridge is not None
        with contextlib.suppress(AriError):
            await self.client.bridge_stop_moh(call.bridge)
        try:
            await self.client.add_channel(call.bridge, caller)
        except AriError as exc:
            log.warning("call %s: caller not put back after keying: %s", call.call_id, exc)
        if resume and call.recording is not None:
            try:
                await self.recorder.resume(call, None)
            except NotPaused:
                pass  # stopped before the pause was made
            except Exception as exc:  # the session is over either way
                log.warning("call %s: recording not resumed: %s", call.call_id,
                            type(exc).__name__)  # fmt: skip

    def progress(self, call: FlowCall, kind: str, step: str, text: str) -> None:
        """How the `kind` ("payment", "mandate") keying on `call` goes, for its agent."""
        progress = _PROGRESS[kind]
        self.tell(call, progress(call_id=call.call_id, record_id=call.record_id, step=step,
                                 progress=text))  # fmt: skip

    def tell(self, call: FlowCall, payload: DeskPayload) -> None:
        """A typed desk event about the keying, for the call's agent (and its queue's
        supervisors); the call flow's notices carry it as its JSON object."""
        self.tell_agent(call, payload.kind, encode_payload(payload))

    def tell_agent(self, call: FlowCall, kind: str, data: dict[str, Any]) -> None:
        """A desk event about the keying for the call's agent (and its queue's supervisors)."""
        agent = call.agent_id
        self.notify(kind, {
            "tenant_id": call.tenant_id, "queue": call.queue,
            "agents": [int(agent)] if agent and agent.isdigit() else [],
            "call": {"call_id": call.call_id, "record_id": call.record_id, **data},
        })  # fmt: skip


class KeypadSession:
    def __init__(
        self, sessions: KeypadSessions, call: FlowCall, caller: str, kind: str,
        pause_reason: str | None, *, in_ivr: bool = False,
    ) -> None:  # fmt: skip
        self.sessions = sessions
        self.call, self.caller, self.kind, self.pause_reason = call, caller, kind, pause_reason
        self.in_ivr = in_ivr  # the caller alone in the IVR (`open_in_ivr`)
        # The first prompt the caller did not hear through, and how it ended.
        self.unheard: str | None = None
        self.unheard_outcome: PlayOutcome | None = None

    async def __aenter__(self) -> KeypadSession:
        try:
            await self._isolate()
        except BaseException:
            self.call.keying, self.call.keying_paused = None, False
            await self._close()
            raise
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *exc_info: object) -> None:
        try:
            if kind is not asyncio.CancelledError:  # stopping: the next resync restores
                await self._restore()
        finally:
            await self._close()

    async def field(
        self, prompt: tuple[str, ...], longest: int, check: Callable[[str], Any],
        *, terminator: str = "#",
    ) -> str | None:  # fmt: skip
        """The digits once they pass `check` (a `Verdict`); None after ATTEMPTS, a hangup or
        a prompt not heard through (`unheard`). Only the verdict's progress text leaves this
        method. Keys pressed while the prompt plays count (callers key ahead)."""
        digits = self.sessions.keypads.listen(self.caller)
        for attempt in range(ATTEMPTS):
            while not digits.empty():  # nothing keyed before the prompt counts
                digits.get_nowait()
            if attempt:  # keys pressed while told so already count for the next try
                await self.play(prompts.ENTRY_INVALID)
            if not await self.must_play(prompt):
                return None
            keyed = await keypad.collect(
                digits, max_digits=longest, first_timeout=self.sessions.first_digit_s,
                between_timeout=self.sessions.between_digits_s, terminator=terminator,
            )  # fmt: skip
            if self.call.phase is Phase.ENDED:
                return None
            verdict: Verdict = check(keyed)
            self.progress("field", verdict.progress)
            if verdict.ok:
                return keyed
            del keyed
        await self.play(prompts.ENTRY_INVALID)
        return None

    async def play(self, media: tuple[str, ...]) -> PlayOutcome:
        """Each media item in turn, to its end or the first that is not heard, in the
        call's language (the channel's own since admission; said again for a callback)."""
        return await self.sessions.player.play_each(self.caller, media, lang=self.call.language)

    async def must_play(self, media: tuple[str, ...]) -> bool:
        """Play what the caller must hear before anything they key counts; False (and
        `unheard` set, the agent told) if any of it was not played to its end."""
        outcome = await self.play(media)
        if outcome is PlayOutcome.DONE:
            return True
        self.unheard, self.unheard_outcome = ",".join(media), outcome
        if outcome is PlayOutcome.FAILED:
            self.progress("prompt", "a prompt could not be played to the caller: stopped, "
                          "nothing taken")  # fmt: skip
        return False

    @property
    def prompt_failed(self) -> bool:
        """A prompt could not be played (not a hangup, not a stop)."""
        return self.unheard_outcome is PlayOutcome.FAILED

    def progress(self, step: str, text: str) -> None:
        if not self.in_ivr:
            self.sessions.progress(self.call, self.kind, step, text)

    def tell(self, payload: DeskPayload) -> None:
        if not self.in_ivr:
            self.sessions.tell(self.call, payload)

    async def _isolate(self) -> None:
        call = self.call
        paused = self.pause_reason is not None and call.recording is not None
        call.keying, call.keying_paused = self.kind, paused
        sessions = self.sessions
        await sessions.persist.flush()  # before the caller leaves the bridge, not in a second
        if paused:
            await sessions.recorder.pause(call, self.pause_reason, None)
        if self.in_ivr:
            return
        assert call.bridge is not None
        await sessions.client.remove_channel(call.bridge, self.caller)
        with contextlib.suppress(AriError):
            await sessions.client.bridge_start_moh(call.bridge)
        self.progress("started", "the caller is keying details on the phone; you cannot hear it")

    async def _restore(self) -> None:
        call = self.call
        if self.in_ivr and call.keying_paused and call.phase is not Phase.ENDED:
            with contextlib.suppress(NotPaused):  # stopped before the pause was made
                await self.sessions.recorder.resume(call, None)
        elif call.phase is not Phase.ENDED and call.bridge is not None:
            await self.sessions.bring_back(call, self.caller, resume=call.keying_paused)
            self.progress("finished", "the caller is back with you")
        call.keying, call.keying_paused = None, False
        await self.sessions.persist.save()

    async def _close(self) -> None:
        self.sessions.closed(self.call)
        self.sessions.keypads.stop(self.caller)

