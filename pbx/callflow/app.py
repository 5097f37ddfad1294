"""`CallFlow`: the Stasis application `ledgerline`, from ARI events to ACD and back.

Each call's events and actions run in its own lane (`lanes.py`), one at a time and in
order, while other calls' run alongside: the ACD engine is synchronous, so its decisions
need no lock, and what they ask of other calls is posted to those calls' lanes. Changes are
snapshotted to the database in the background, so a restarted process carries on with the
same waiting callers and agent states. Event handlers never wait for another event or for
a call's round trips (the events socket has a single reader): they post to lanes, and
anything that waits on the caller (IVR digits, playbacks) runs in its own task.

The engine is driven only while the events socket is connected and resynchronised: with
ARI away, ringing an agent would fail and wrongly pause them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from billing_bridge.identification.service import CallerIdentification
from billing_bridge.payments.pay_links import MessageSender, OutboxOnlySender
from billing_bridge.payments.port import PaymentProvider
from pbx.acd.agents import AgentState
from pbx.acd.commands import Command
from pbx.acd.repair import repair
from pbx.ari import AriClient, AriConnection, AriError
from pbx.ari.events import (
    Bridge,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    Event,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
)
from pbx.callflow import admission, callbacks, control, outbound
from pbx.callflow.call_log import CallLog
from pbx.callflow.calls import FlowCall, Phase
from pbx.callflow.card_capture import CaptureRequest, CardCapture
from pbx.callflow.config import CurrentConfig, FlowConfig, apply_config
from pbx.callflow.config_store import load_flow_config
from pbx.callflow.executor import Executor, bridge_id
from pbx.callflow.fencing import Fence
from pbx.callflow.keypad import Keypads
from pbx.callflow.keypad_session import KeypadSessions
from pbx.callflow.lanes import Lanes
from pbx.callflow.mandate_capture import MandateCapture, MandateRequest
from pbx.callflow.prompts_player import PromptsPlayer
from pbx.callflow.recorder import RECORDER_PREFIX, CallRecorder, recorder_channel
from pbx.callflow.saver import StateSaver
from pbx.callflow.state import FlowState
from pbx.db.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowTiming:
    tick: float = 0.25  # how often the ACD's timers are driven
    save_every: float = 0.5  # the saved state trails the live one by at most this
    first_digit: float = 10.0  # IVR: seconds to start keying
    between_digits: float = 5.0
    # Card or bank details keyed in a call (`ari.keypad_*_seconds`).
    keypad_first_digit: float = 10.0
    keypad_between_digits: float = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


# What `_on_event` reads; the connection does not decode the rest.
HANDLED_EVENTS = (
    StasisStart, StasisEnd, ChannelDestroyed, ChannelDtmfReceived, PlaybackFinished,
    RecordingFinished, RecordingFailed, ChannelHangupRequest,
)  # fmt: skip


@dataclass
class FlowParts:
    """What the call flow works with, built by the composition root (`pbx.bootstrap`)."""

    config: CurrentConfig
    state: FlowState
    # Each call's work runs in its own lane; `lock` orders what spans calls (agent
    # changes, configuration, the ticker, snapshots), none of which waits on a lane.
    lanes: Lanes
    lock: asyncio.Lock
    keypads: Keypads
    call_log: CallLog
    saver: StateSaver
    recorder: CallRecorder
    executor: Executor
    keypad_sessions: KeypadSessions  # one keypad session at a time per call, card or bank
    card_capture: CardCapture | None = None  # with a payment provider only
    mandate_capture: MandateCapture | None = None
    payments: PaymentProvider | None = None
    sender: MessageSender = field(default_factory=OutboxOnlySender)


class CallFlow:
    def __init__(
        self,
        client: AriClient,
        connection: AriConnection,
        database: Database,
        identification: CallerIdentification,
        parts: FlowParts,
        *,
        clock: Callable[[], datetime] = utc_now,
        timing: FlowTiming | None = None,
        prefetch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.client = client
        self.connection = connection
        self.database = database
        self.identification = identification
        self.clock = clock
        self.timing = timing or FlowTiming()
        self._config, self.state, self.lanes, self.lock = (
            parts.config,
            parts.state,
            parts.lanes,
            parts.lock,
        )
        self.keypads, self.call_log, self.saver = parts.keypads, parts.call_log, parts.saver
        self.snapshots = parts.saver.snapshots
        # A stale owner's changes to Asterisk are never sent (see `ownership.py`).
        client.guard_changes(self.saver.check_fence)
        # Start reading a caller's account for the screen-pop as soon as they are known.
        self.prefetch = prefetch
        self.recorder, self.executor = parts.recorder, parts.executor
        self.keypad_sessions = parts.keypad_sessions
        # Plays a prompt and says whether it was heard (the keypad sessions' player).
        self.prompts_player: PromptsPlayer = parts.keypad_sessions.player
        self.card_capture, self.mandate_capture = parts.card_capture, parts.mandate_capture
        self.payments, self.sender = parts.payments, parts.sender
        self._pending_config: FlowConfig | None = None
        self._synced = asyncio.Event()  # set once resynchronised after a connect
        self._tasks: set[asyncio.Task[Any]] = set()
        self._routing: set[str] = set()  # caller channels an admission task is working on
        # Agents' legs whose answer has arrived and waits its turn in the call's lane:
        # channel id -> (call id, agent id). Their rings do not time out meanwhile.
        self._answers: dict[str, tuple[str, str]] = {}
        connection.on_event(self._on_event, *HANDLED_EVENTS)
        connection.on_connected(self._resync)

    @property
    def config(self) -> FlowConfig:
        return self._config.value

    @config.setter
    def config(self, config: FlowConfig) -> None:
        self._config.value = config

    @property
    def fence(self) -> Fence:
        """Set by the ownership while this process owns the node (its lease's token)."""
        return self.saver.fence

    @fence.setter
    def fence(self, fence: Fence) -> None:
        self.saver.fence = fence

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        saved = await self.snapshots.load()
        if saved is not None:
            try:
                self.state.restore(FlowState.from_dict(saved))
            except (KeyError, TypeError, ValueError) as exc:
                log.error("saved call flow state unreadable (%s): starting empty", exc)
        self._pending_config = await load_flow_config(self.database)
        self.config = self._pending_config
        await self._complete_call_log()
        try:  # a head start only: with the database slow now, the first ends prepare them
            await self.call_log.warm()
        except Exception as exc:
            log.warning("call ends not readied at start (%s: %s)", type(exc).__name__, exc)
        history = self.executor.history
        if history is not None:  # spans left open by the last owner: `agent_states.py`
            agents = self.state.engine.agents
            history.restarted(((p.tenant_id, p.user_id) for key, p in self.config.agents.items()
                               if key not in agents or agents[key].state == "logged_out"),
                              self.clock())  # fmt: skip
            self._spawn(history.run(), "agent-history")
        await self.connection.start()
        self._spawn(self._ticker(), "acd-ticker")
        self._spawn(self.saver.run(), "acd-saver")

    async def _complete_call_log(self) -> None:
        """A stop can cut a call's work short between a change and its call-log write (the
        caller queued, the talk bridge made): each restored call's row gets what the state
        says and it lacks. Reports and audits read these rows."""
        for call in self.state:
            fields = self._logged_fields(call)
            if not fields:
                continue
            try:
                await self.call_log.fill_in(call.tenant_id, call.record_id, **fields)
            except Exception as exc:  # the calls are served all the same
                log.error("call %s: call log not completed (%s): %s", call.call_id,
                          sorted(fields), type(exc).__name__)  # fmt: skip

    def _logged_fields(self, call: FlowCall) -> dict[str, Any]:
        """The call-log columns an inbound call's queueing, offer and answer write."""
        if call.direction != "inbound" or call.callback_of is not None:
            return {}  # an outbound call's or a callback attempt's row: written otherwise
        fields: dict[str, Any] = {}
        if call.queued_at is not None:
            settings = self.config.queues.get(call.queue or "")
            fields["queued_at"] = call.queued_at
            if settings is not None:
                fields["queue_id"] = settings.queue_id
        if call.offered_at is not None:
            fields["offered_at"] = call.offered_at
        if call.phase is Phase.CONNECTED and call.answered_at is not None:
            profile = self.config.agents.get(call.agent_id or "")
            fields["answered_at"] = call.answered_at
            fields["wait_seconds"] = call.waited(call.answered_at)
            if profile is not None:
                fields["agent_id"] = profile.user_id
        return fields

    async def stop(self, *, save: bool = True, drain_s: float = 0.0) -> None:
        """Stop serving. `save=False` when another process has taken over: its state is
        newer than ours and must not be overwritten. `drain_s` (a graceful stop): no more
        events are read, and each call's work in flight is let finish for up to that long
        before the rest is cancelled; what is cut short the next owner's resync settles."""
        if drain_s > 0:
            await self.connection.stop()  # no new events, so no new work
            self._synced.clear()  # and no new ACD decisions: the next owner takes them
            if not await self.lanes.settle(drain_s):
                log.warning("calls' work still running after %.1f s: cut short", drain_s)
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.prompts_player.close()  # a wait its cancelled task did not end
        await self.saver.settle()  # a snapshot being written when the saver was stopped
        if self.executor.history is not None:
            await self.executor.history.settle()  # and the agents' states being written
        await self.lanes.cancel()
        self._answers.clear()  # answers cancelled before their turn: the next owner's resync
        await self.connection.stop()
        self._synced.clear()
        if save:
            await self.flush()
            if self.executor.history is not None:  # with the state: a new owner's is newer
                self.executor.record_agent_moves()
                await self.executor.history.flush()

    async def wait_ready(self, timeout: float) -> None:  # noqa: ASYNC109 - a start-up wait
        """Until connected and resynchronised; TimeoutError naming Asterisk otherwise."""
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    @property
    def ready(self) -> bool:
        """Connected to Asterisk and in sync: calls are being served."""
        return self._synced.is_set() and self.connection.connected

    async def reload_config(self) -> None:
        """An admin changed queues, agents or routes: apply at once, calls carry on."""
        config = await load_flow_config(self.database)
        async with self.lock:
            self.config = config
            self._pending_config = config
            if self._synced.is_set():
                await self._apply_pending()
            await self.save()

    async def _apply_pending(self) -> None:
        config, self._pending_config = self._pending_config, None
        if config is not None:
            commands = apply_config(self.state.engine, config, self.clock(), self.answering)
            await self.executor.run(commands)

    # --- agents -------------------------------------------------------------------------

    async def agent_available(self, agent_id: str) -> AgentState:
        return await self._agent_change(agent_id, self.state.engine.agent_available)

    async def pause_agent(self, agent_id: str, reason: str) -> AgentState:
        return await self._agent_change(
            agent_id, lambda a, now: self.state.engine.pause_agent(a, reason, now)
        )

    async def log_out_agent(self, agent_id: str) -> AgentState:
        return await self._agent_change(agent_id, self.state.engine.log_out)

    async def _agent_change(
        self, agent_id: str, change: Callable[[str, datetime], list[Command]]
    ) -> AgentState:
        """Raises the ACD's UnknownAgent / InvalidTransition for the API to report."""
        async with self.lock:
            commands = change(agent_id, self.clock())
            if self._synced.is_set():
                await self.executor.run(commands)
            await self.save()
            return self.state.engine.agents[agent_id].state

    # --- payments -----------------------------------------------------------------------

    def start_card_capture(self, call: FlowCall, request: CaptureRequest) -> None:
        """Take a card payment in the call, in the background (it lasts as long as the
        caller keys); raises `SessionError` at once if it cannot start."""
        assert self.card_capture is not None
        capture = self.card_capture
        capture.check(call)
        self._spawn(capture.take_payment(call, request), f"card-capture-{call.call_id}")

    def start_mandate_capture(self, call: FlowCall, request: MandateRequest) -> None:
        """Bank details and consent by phone, in the background; raises `SessionError` at
        once if the caller cannot be asked now."""
        assert self.mandate_capture is not None
        self.mandate_capture.sessions.caller_of(call)
        self._spawn(self.mandate_capture.set_up(call, request), f"mandate-{call.call_id}")

    # --- events -------------------------------------------------------------------------

    async def _on_event(self, event: Event) -> None:
        await self.lanes.room()  # overloaded: let the events wait in the socket's queue
        match event:
            case StasisStart():
                await self._stasis_start(event)
            case ChannelHangupRequest():  # before its playback ends: that is a hangup
                self.prompts_player.channel_gone(event.channel.id)
            case StasisEnd() | ChannelDestroyed():
                self.prompts_player.channel_gone(event.channel.id)
                self._hung_up(event.channel.id)
            case ChannelDtmfReceived():
                self.keypads.pressed(event.channel.id, event.digit)
            case PlaybackFinished():
                self.prompts_player.finished(event.playback.id, event.playback.state)
                await self._playback_finished(event.playback.id)
            case RecordingFinished() | RecordingFailed():
                failed, name = isinstance(event, RecordingFailed), event.recording.name
                self._spawn(self.recorder.finish(name, failed=failed), f"recording-{name}")

    async def _stasis_start(self, event: StasisStart) -> None:
        channel, args = event.channel, event.args
        if channel.id.startswith(RECORDER_PREFIX):
            return  # a call's recorder (a snoop channel): nothing to route
        kind = args[0] if args else ""
        if kind == "agent" and len(args) == 3:
            self._answers[channel.id] = (args[1], args[2])  # answered: no ring timeout now
            work = partial(self._agent_answered, channel.id, args[1], args[2])
        elif kind == "customer" and len(args) == 2:
            work = partial(self._customer_answered, channel.id, args[1])
        elif kind in ("third", "outbound") and len(args) == 2:
            work = partial(self._leg_answered, kind, channel.id, args[1])
        elif self.state.leg(channel.id) is None and channel.id not in self._routing:
            self._admit(channel)
            return
        else:
            return
        self.lanes.post(args[1], partial(self._saving, work), f"{kind}-answered")

    async def _saving(self, work: Callable[[], Awaitable[None]]) -> None:
        await work()
        await self.save()

    async def _leg_answered(self, kind: str, channel_id: str, call_id: str) -> None:
        answered = control.third_answered if kind == "third" else outbound.agent_answered
        try:
            await answered(self, channel_id, call_id)
        except AriError as exc:
            log.warning("call %s: %s leg not connected: %s", call_id, kind, exc)

    def _admit(self, channel: Channel) -> None:
        self._routing.add(channel.id)
        self._spawn(admission.admit(self, channel), f"admit-{channel.id}", channel.id)

    @property
    def answering(self) -> set[tuple[str, str]]:
        """(call id, agent id) of the answers that arrived and wait to be handled."""
        return set(self._answers.values())

    async def _agent_answered(self, channel_id: str, call_id: str, agent_id: str) -> None:
        try:
            await self._take_answer(channel_id, call_id, agent_id)
        finally:
            self._answers.pop(channel_id, None)

    async def _take_answer(self, channel_id: str, call_id: str, agent_id: str) -> None:
        leg = self.state.leg(channel_id)
        if leg is not None and leg.role == "agent" and leg.call.call_id == call_id:
            return  # already taken: a resync found this leg answered while the answer waited
        if leg is None or leg.role != "ringing" or leg.call.call_id != call_id:
            await self.executor.hangup(channel_id)  # the offer was withdrawn meanwhile
            return
        call = leg.call
        del call.ringing[channel_id]
        try:
            commands = self.state.engine.answered(call_id, agent_id, self.clock())
        except Exception as exc:  # an AcdError: another agent won the race, or it is over
            log.info("agent %s answered call %s too late: %s", agent_id, call_id, exc)
            await self.executor.hangup(channel_id)
            return
        call.agent_id, call.agent_channel = agent_id, channel_id
        await self.executor.run(commands)

    async def _customer_answered(self, channel_id: str, call_id: str) -> None:
        call = self.state.calls.get(call_id)
        if call is None or call.customer_channel != channel_id or call.bridge is None:
            await self.executor.hangup(channel_id)
            return
        try:
            await self.client.add_channel(call.bridge, channel_id)
        except AriError as exc:
            log.warning("callback %s: customer could not be bridged: %s", call_id, exc)
        else:
            if call.callback_of is not None:
                await callbacks.customer_answered(self.executor, call)

    def _hung_up(self, channel_id: str) -> None:
        """A channel left: settled in its call's lane, behind the call's earlier events."""
        self.keypads.hung_up(channel_id)
        leg = self.state.leg(channel_id)
        if leg is not None:
            self.lanes.post(leg.call.call_id, partial(self._settle_gone, channel_id), "gone")

    async def channel_gone(self, channel_id: str) -> None:
        """A channel of a call is gone, as a request about it found."""
        self.keypads.hung_up(channel_id)
        leg = self.state.leg(channel_id)
        if leg is not None:
            async with self.lanes.call(leg.call.call_id):
                await self._settle_gone(channel_id)

    async def _settle_gone(self, channel_id: str) -> None:
        await self._gone(channel_id)
        await self.save()

    async def _gone(self, channel_id: str, *, lost: bool = False) -> None:
        """A channel of a call hung up. `lost`: it vanished while we were not listening."""
        leg = self.state.leg(channel_id)
        if leg is None:
            return
        call, engine, now = leg.call, self.state.engine, self.clock()
        if leg.role == "ringing":
            del call.ringing[channel_id]
            agent = engine.agents.get(leg.agent_id or "")
            if agent is not None and agent.call_id == call.call_id and agent.state == "ringing":
                answer = engine.offer_lost if lost else engine.agent_hung_up
                await self.executor.run(answer(agent.agent_id, now))
            return
        if leg.role == "caller":
            call.caller_channel = None
            if call.phase is Phase.CALLBACK:
                return  # the request keeps its place without the caller on the line
            await self._end(call, engine.caller_hung_up(call.call_id, now))
        elif leg.role == "agent":
            call.agent_channel = None
            if call.callback_of is not None and not call.customer_answered:
                await callbacks.not_answered(self, call)  # as if the customer had not answered
                return
            await self._end(call, engine.agent_hung_up(leg.agent_id or "", now))
        elif leg.role == "third":
            call.third_channel = None
            await control.third_gone(self, call)
        else:  # the customer's leg of a callback or a click-to-call
            call.customer_channel = None
            if call.callback_of is not None and not call.customer_answered:
                await callbacks.not_answered(self, call)  # tried again later, or over
                return
            await self._end(call, engine.caller_hung_up(call.call_id, now))

    async def end_call(self, call: FlowCall) -> None:
        """End a call from our side (in its lane): the ACD lets it go, everything hangs up."""
        await self._end(call, self.state.engine.caller_hung_up(call.call_id, self.clock()))

    async def _end(self, call: FlowCall, commands: list[Command]) -> None:
        was = call.phase
        told = [a for a in {call.agent_id, *call.ringing.values()} if a]
        if call.third_agent is not None:  # an agent being dialled or consulted: free them
            target, call.third_agent = call.third_agent, None
            commands = [*commands, *self.state.engine.transfer_ended(target, self.clock())]
        await self.executor.run(commands)  # stop ringing, log the abandon, start wrap-up
        call.phase = Phase.ENDED
        await self.executor.tear_down(call)  # its hangups' events wait behind us in the lane
        now = self.clock()
        fields: dict[str, Any] = {"ended_at": now}
        if call.direction == "outbound":
            fields["outcome"] = "answered" if call.answered_at else "failed"
        if call.answered_at is not None:
            fields["outcome"] = call.outcome or "answered"
            fields["talk_seconds"] = int((now - call.answered_at).total_seconds())
        elif was is Phase.ARRIVING and call.outcome is None:
            fields["outcome"], fields["wait_seconds"] = "abandoned", 0
        if call.callback_of is not None:  # an attempt at a callback: answered or not
            fields["outcome"] = callbacks.attempt_outcome(call)
        if was is not Phase.QUEUED or call.answered_at is not None:
            await self.call_log.update(call.tenant_id, call.record_id, **fields)
        if call.callback_of is not None:  # and the request it was for ends with it
            await callbacks.attempt_ended(self.executor, call)
        call.outcome = fields.get("outcome", call.outcome or "abandoned")
        self.executor.announce("call.ended", call, told)
        self.state.drop(call.call_id)  # last: a call gone from the state is fully logged

    async def _playback_finished(self, playback_id: str) -> None:
        for call in self.state:
            if call.hangup_after_playback == playback_id and call.caller_channel:
                await self.executor.hangup(call.caller_channel)
            elif call.music_after_playback == playback_id:
                resume = partial(self.executor.music_resumes, call, playback_id)
                self.lanes.post(call.call_id, resume, "music-resumes")

    # --- time ---------------------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.timing.tick)
            if not self.ready:
                continue
            try:
                await self.tick()
            except Exception:  # the ticker must outlive any one bad tick
                log.exception("ACD tick failed")

    async def tick(self) -> None:
        """Drive the ACD's timers once (the ticker does every `timing.tick`). A ring whose
        answer has arrived does not time out while the answer waits its turn."""
        async with self.lock:
            commands = self.state.engine.tick(self.clock(), self.answering)
            if commands:
                await self.executor.run(commands)
                await self.save()

    # --- resynchronisation --------------------------------------------------------------

    async def _resync(self) -> None:
        """After every (re)connect: settle what happened while we were not listening."""
        self._synced.clear()
        channels = {channel.id: channel for channel in await self.client.list_channels()}
        bridges = await self.client.list_bridges()
        await self.prompts_player.resync(channels)
        async with self.lanes.exclusive(), self.lock:
            self._repair()
            for call in self.state:
                for channel_id in call.channels():
                    if channel_id not in channels:
                        await self._gone(channel_id, lost=True)
                if (
                    call.call_id in self.state.calls
                    and not call.channels()
                    and (call.phase is not Phase.CALLBACK)
                ):
                    log.warning("call %s has no channel left: ended", call.call_id)
                    await self.end_call(call)
            # before the answers found here, which `_connect` bridges itself
            await self._bridge_answered(channels, {bridge.id: bridge for bridge in bridges})
            await self._answered_while_away(channels)
            await self._release_lost_offers()
            await self._destroy_orphan_bridges([bridge.id for bridge in bridges])
            self._synced.set()
            await self._apply_pending()
            await self.executor.run(self.state.engine.tick(self.clock(), self.answering))
            await self.save()
        for call in self.state:
            if call.phase is Phase.ARRIVING and call.caller_channel not in self._routing:
                assert call.caller_channel is not None
                self._routing.add(call.caller_channel)
                task = admission.resume(self, call)
                self._spawn(task, f"resume-{call.call_id}", call.caller_channel)
        for call in self.state:
            if call.keying is not None and not self._keying_here(call):
                self.lanes.post(call.call_id, partial(self._keying_interrupted, call.call_id),
                                "keying-interrupted")  # fmt: skip
        recordings = {call.recording for call in self.state if call.recording}
        self._spawn(self.recorder.settle(recordings), "recordings-settle")
        recorded = {recorder_channel(call.call_id) for call in self.state if call.recording}
        for channel in channels.values():
            if channel.id.startswith(RECORDER_PREFIX):
                if channel.id not in recorded:  # its call ended while we were away
                    await self.executor.hangup(channel.id)  # the file goes to the pipeline
                continue
            if self._waiting_for_us(channel) and self.state.leg(channel.id) is None:
                if channel.dialplan.app_data.count(",") == 0 and channel.id not in self._routing:
                    self._admit(channel)  # entered Stasis while we were away
                elif channel.dialplan.app_data.count(",") > 0:
                    await self.executor.hangup(channel.id)  # a leg of a call that is over

    def _keying_here(self, call: FlowCall) -> bool:
        return self.keypad_sessions.running(call)

    async def _keying_interrupted(self, call_id: str) -> None:
        """The process that took the caller out to key details stopped before putting them
        back: back to the agent they go; the agent is told to check before asking again."""
        call = self.state.calls.get(call_id)
        if call is None or call.keying is None or self._keying_here(call):
            return
        kind, caller = call.keying, call.caller_channel or call.customer_channel
        if call.phase is Phase.CONNECTED and call.bridge is not None and caller is not None:
            await self.keypad_sessions.bring_back(call, caller, resume=call.keying_paused)
            log.warning("call %s: %s keying interrupted by a restart; caller put back",
                        call_id, kind)  # fmt: skip
            self.keypad_sessions.progress(
                call, kind, "interrupted", "interrupted by a restart: the caller is back with "
                "you; check the account before asking again",
            )  # fmt: skip
        elif call.phase is Phase.ARRIVING and call.keying_paused and call.recording is not None:
            # a card keyed in the IVR's self-service: nobody to put back, the recording resumes
            try:
                await self.recorder.resume(call, None)
            except Exception as exc:  # the menu goes on either way
                log.warning("call %s: recording not resumed after self-service keying: %s",
                            call_id, type(exc).__name__)  # fmt: skip
        call.keying, call.keying_paused = None, False
        await self.save()

    async def _answered_while_away(self, channels: dict[str, Channel]) -> None:
        for call in self.state:
            for leg_id, agent_id in list(call.ringing.items()):
                channel = channels.get(leg_id)
                if channel is not None and channel.state == "Up" and self._waiting_for_us(channel):
                    await self._agent_answered(leg_id, call.call_id, agent_id)

    async def _bridge_answered(
        self, channels: dict[str, Channel], bridges: dict[str, Bridge]
    ) -> None:
        """A call answered (counted connected) whose caller and agent were never put together:
        a stop cut `Executor._connect` short between the two. With both still on the line
        they are bridged now, as the answer would have; if Asterisk refuses, the call ends
        (logged as answered, the agent to wrap-up) rather than stay connected and silent."""
        cut = [call for call in self.state if self._unbridged(call, channels, bridges)]
        if not cut:
            return
        # Bridges as they are now: a call's connect may have finished since they were listed.
        bridges = {bridge.id: bridge for bridge in await self.client.list_bridges()}
        for call in cut:
            if call.call_id not in self.state.calls or not self._unbridged(call, channels, bridges):
                continue
            made = bridge_id("talk", call.call_id) in bridges
            log.warning("call %s: answered but never bridged (cut short): bridging now",
                        call.call_id)  # fmt: skip
            try:
                await self.executor.bridge_parties(call, made=made)
            except AriError as exc:
                log.warning("call %s: caller and agent cannot be bridged (%s): ended",
                            call.call_id, exc)  # fmt: skip
                await self.end_call(call)
                continue
            self.executor.announce("call.connected", call, [call.agent_id or ""])

    @staticmethod
    def _unbridged(
        call: FlowCall, channels: dict[str, Channel], bridges: dict[str, Bridge]
    ) -> bool:
        """Connected, caller and agent on the line, and neither in the call's talk bridge
        (and not on purpose: on hold, keying details, in a transfer)."""
        caller, agent = call.caller_channel, call.agent_channel
        if (
            call.phase is not Phase.CONNECTED or caller not in channels or agent not in channels
            or call.on_hold or call.keying is not None or call.third_agent is not None
            or call.consult_bridge is not None
        ):  # fmt: skip
            return False
        talk = bridges.get(bridge_id("talk", call.call_id))
        return talk is None or (caller not in talk.channels and agent not in talk.channels)

    def _repair(self) -> None:
        """A restored state never stops a start: an agent held by a call that does not
        exist (an operation that failed part-way, a crash) is made available, and logged."""
        for note in repair(self.state.engine, self.state.calls.keys(), self.clock()):
            log.warning("call flow state repaired: %s", note)

    async def _release_lost_offers(self) -> None:
        """An agent the engine thinks is ringing, with no leg ringing them: free them."""
        ringing = {agent for call in self.state for agent in call.ringing.values()}
        ringing |= {call.third_agent for call in self.state if call.third_agent}
        engine = self.state.engine
        for agent in list(engine.agents.values()):
            if agent.state is AgentState.RINGING and agent.agent_id not in ringing:
                await self.executor.run(engine.offer_lost(agent.agent_id, self.clock()))

    async def _destroy_orphan_bridges(self, bridge_ids: list[str]) -> None:
        ours = {b for call in self.state for b in (call.holding_bridge, call.bridge) if b}
        for bridge in bridge_ids:
            if bridge.startswith("ll-") and bridge not in ours:
                await self.executor.destroy_bridge(bridge)

    def _waiting_for_us(self, channel: Channel) -> bool:
        plan = channel.dialplan
        return plan.app_name == "Stasis" and plan.app_data.split(",")[0] == self.client.app

    # --- persistence --------------------------------------------------------------------

    async def save(self) -> None:
        """The state changed: desks hear which agents changed state, and the saver writes
        a snapshot within `timing.save_every` seconds (see `saver.py`)."""
        await self.saver.save()

    async def flush(self) -> None:
        """Write the snapshot now (takes the lock)."""
        await self.saver.flush()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str, channel: str = "") -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            self._routing.discard(channel)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("%s failed", name, exc_info=finished.exception())

        task.add_done_callback(done)
