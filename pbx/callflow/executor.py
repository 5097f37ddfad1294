"""Carries out what the ACD decided, over ARI, and writes the call log as it goes.

A command about a call runs in that call's lane: at once when the caller is already in it,
else posted there, behind the work queued before it. An ARI request that fails feeds back
into the ACD where that changes a decision (an agent's phone that cannot be dialled counts
as not answering); otherwise it is logged and the events that follow (a hangup, usually)
settle the call.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from pbx.acd.commands import (
    Announce,
    CallAbandoned,
    Command,
    Connect,
    DialCallback,
    EndWrapUp,
    Overflow,
    PauseAgent,
    RingAgents,
    StartWrapUp,
    StopRinging,
)
from pbx.acd.queues import OverflowKind
from pbx.ari import AriClient, AriError, AriNotFound, AriUnavailable
from pbx.callflow import callbacks, prompts
from pbx.callflow.call_log import CallLog
from pbx.callflow.calls import FlowCall, Phase
from pbx.callflow.config import AgentProfile, FlowConfig
from pbx.callflow.lanes import Lanes
from pbx.callflow.state import FlowState
from pbx.reports.agent_states import OFF_HOLD, ON_HOLD, AgentStateHistory, StateChange

log = logging.getLogger(__name__)

VOICEMAIL_CONTEXT = "ledgerline-voicemail"  # asterisk-conf/extensions.conf


def bridge_id(kind: str, call_id: str) -> str:
    """Bridges are named after their call, so a restarted process can find its own."""
    return f"ll-{kind}-{call_id}"


class Executor:
    def __init__(
        self,
        client: AriClient,
        state: FlowState,
        call_log: CallLog,
        config: Callable[[], FlowConfig],
        clock: Callable[[], datetime],
        *,
        lanes: Lanes,
        dial_out: str,
        notify: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.client = client
        self.state = state
        self.lanes = lanes
        self.call_log = call_log
        self.config = config
        self.clock = clock
        self.dial_out = dial_out  # e.g. "PJSIP/{number}@pstn-trunk"
        # Desk events (screen-pops and call changes); a no-op without a publisher.
        self.notify = notify if notify is not None else (lambda kind, payload: None)
        self._agents_seen: dict[str, tuple[str, str | None, str | None]] = {}
        # Where every agent's moves and holds are kept over time (set by the composition
        # root); None: not kept.
        self.history: AgentStateHistory | None = None
        # Each agent's profile as last seen: an agent an admin removed has none any more,
        # yet their last move (out of the roster) is theirs.
        self._profiles_seen: dict[str, AgentProfile] = {}
        # Desk events about a call held to go out with its next one (`announced_with_next`).
        self._held: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    async def run(self, commands: Iterable[Command]) -> None:
        work = deque(commands)
        while work:
            command = work.popleft()
            call_id: str | None = getattr(command, "call_id", None)
            if call_id is not None and not self.lanes.holding(call_id):
                self.lanes.post(call_id, lambda c=command: self.run((c,)), type(command).__name__)
                continue
            try:
                work.extend(await self._one(command))
            except AriError as exc:
                log.warning("%s for call %s failed: %s", type(command).__name__,
                            call_id or "-", exc)  # fmt: skip
            except Exception as exc:  # a bug, the database: the commands after it still run
                log.error("%s for call %s failed (%s: %s); the commands after it still run",
                          type(command).__name__, call_id or "-", type(exc).__name__,
                          exc)  # fmt: skip

    async def _one(self, command: Command) -> list[Command]:
        match command:
            case RingAgents():
                return await self._ring(command)
            case StopRinging():
                await self._stop_ringing(command)
            case Connect():
                await self._connect(command)
            case DialCallback():
                return await self._dial_callback(command)
            case Overflow():
                await self._overflow(command)
            case Announce():
                await self._announce(command)
            case CallAbandoned():
                await self._abandoned(command)
            case PauseAgent() | StartWrapUp() | EndWrapUp():
                pass  # nothing to do on Asterisk; desks hear of agent states from the flow
        return []

    # --- ringing ------------------------------------------------------------------------

    async def _ring(self, command: RingAgents) -> list[Command]:
        call = self.state.calls.get(command.call_id)
        if call is None:  # it ended between the ACD's choice and its turn in the lane
            log.info("call %s ended before its agents were rung", command.call_id)
            return []
        more: list[Command] = []
        offered: list[str] = []
        for agent_id, endpoint in zip(command.agent_ids, command.endpoints, strict=True):
            leg = uuid.uuid4().hex
            call.ringing[leg] = agent_id  # before originate: its events may come first
            self.state.note(leg, call)
            try:
                await self.client.originate(
                    endpoint,
                    app_args=f"agent,{call.call_id},{agent_id}",
                    caller_id=call.caller_number or "",
                    # Asterisk's own ring timeout only backs up the ACD's (it hangs up first).
                    timeout=command.timeout_s + 5,
                    channel_id=leg,
                    variables={"LL_CALL_ID": call.call_id},
                )
            except AriUnavailable as exc:
                # Asterisk itself is away: not the agent's fault. The leg stays recorded;
                # the resync after reconnecting finds it missing and offers the call again.
                log.warning("cannot ring agent %s now, Asterisk unavailable: %s", agent_id, exc)
            except AriError as exc:
                log.warning("cannot ring agent %s at %s: %s", agent_id, endpoint, exc)
                call.ringing.pop(leg, None)
                more += self._ring_failed(call, agent_id)
            except Exception as exc:  # not Asterisk's answer: as a ring that failed
                log.error("cannot ring agent %s at %s for call %s: %s: %s", agent_id,
                          endpoint, call.call_id, type(exc).__name__, exc)  # fmt: skip
                call.ringing.pop(leg, None)
                more += self._ring_failed(call, agent_id)
            else:
                offered.append(agent_id)
        if offered:  # first the pop (the agent's phone is ringing), then the call log
            self.announce("call.offered", call, offered)
        if call.offered_at is None:
            call.offered_at = self.clock()
            try:  # what the failed rings led to must run all the same
                await self.call_log.update(
                    call.tenant_id, call.record_id, offered_at=call.offered_at
                )
            except Exception as exc:
                log.error("call %s: offered_at not logged: %s: %s", call.call_id,
                          type(exc).__name__, exc)  # fmt: skip
        return more

    def announce(self, kind: str, call: FlowCall, agents: list[str]) -> None:
        """A desk event about `call` for these agents (and its queue's supervisors), after
        any of the call's held for it (`announced_with_next`)."""
        for held_kind, payload in self._held.pop(call.call_id, ()):
            self.notify(held_kind, payload)
        self.notify(kind, self._about(call, agents))
        # The agents' changes that came with it go out in the same burst (they would
        # otherwise wait for the next save): one round trip to the desks' bus, and one
        # wake-up of each process's reader, instead of two.
        self.announce_agent_changes()

    @contextmanager
    def announced_with_next(self, kind: str, call: FlowCall, agents: list[str]) -> Iterator[None]:
        """Announce `kind` about `call` (with the agents' changes that came with it, as
        `announce` does) together with the call's next desk event inside the block, or on
        leaving it if there was none: a caller queued and offered at once is one append to
        the desks' bus, not two. The events and their order are those of two announces."""
        held = self._held.setdefault(call.call_id, [])
        held.append((kind, self._about(call, agents)))
        held.extend(self._agent_changes())
        try:
            yield
        finally:
            for held_kind, payload in self._held.pop(call.call_id, ()):
                self.notify(held_kind, payload)

    def _about(self, call: FlowCall, agents: list[str]) -> dict[str, Any]:
        return {
            "tenant_id": call.tenant_id, "queue": call.queue,
            "agents": [int(a) for a in agents if a.isdigit()],
            "call": call_view(call, self.config(), self.clock()),
        }  # fmt: skip

    def announce_agent_changes(self) -> None:
        """An `agent.state` desk event for each agent whose state, pause reason or call
        changed since the last one told."""
        for kind, payload in self._agent_changes():
            self.notify(kind, payload)

    def _agent_changes(self) -> list[tuple[str, dict[str, Any]]]:
        """The `agent.state` events `announce_agent_changes` sends, marked as told."""
        self.record_agent_moves()
        engine = self.state.engine
        changes: list[tuple[str, dict[str, Any]]] = []
        for agent_id in engine.changed_agents():
            agent = engine.agents.get(agent_id)
            if agent is None:
                continue
            seen = (agent.state.value, agent.pause_reason, agent.call_id)
            if self._agents_seen.get(agent.agent_id) == seen:
                continue
            self._agents_seen[agent.agent_id] = seen
            profile = self.config().agents.get(agent.agent_id)
            if profile is None:
                continue
            since = agent.state_since.isoformat() if agent.state_since else None
            changes.append(("agent.state", {
                "tenant_id": profile.tenant_id, "agent_id": profile.user_id,
                "state": agent.state.value, "pause_reason": agent.pause_reason,
                "since": since, "call_id": agent.call_id,
            }))  # fmt: skip
        return changes

    def record_agent_moves(self) -> None:
        """Every state the agents entered since the last call, into the state history."""
        moves = self.state.engine.state_moves()
        if self.history is None:
            return
        agents = self.config().agents
        for move in moves:
            profile = agents.get(move.agent_id) or self._profiles_seen.get(move.agent_id)
            if profile is not None:
                self._profiles_seen[move.agent_id] = profile
                self.history.record(StateChange(
                    profile.tenant_id, profile.user_id, move.state.value, move.at,
                    reason=(move.pause_reason or "")[:64],  # the column's width
                ))  # fmt: skip

    def record_hold(self, call: FlowCall, on_hold: bool) -> None:
        """The call's caller was put on hold by its agent, or taken off it."""
        profile = self.config().agents.get(call.agent_id or "")
        if self.history is not None and profile is not None:
            self.history.record(StateChange(
                profile.tenant_id, profile.user_id, ON_HOLD if on_hold else OFF_HOLD,
                self.clock(), call_id=call.record_id,
            ))  # fmt: skip

    def _ring_failed(self, call: FlowCall, agent_id: str) -> list[Command]:
        agent = self.state.engine.agents.get(agent_id)
        if agent is None or agent.call_id != call.call_id or agent.state != "ringing":
            return []
        return self.state.engine.agent_hung_up(agent_id, self.clock())

    async def _stop_ringing(self, command: StopRinging) -> None:
        call = self.state.calls.get(command.call_id)
        if call is None:
            return
        legs = [leg for leg, agent in call.ringing.items() if agent in command.agent_ids]
        for leg in legs:
            del call.ringing[leg]  # first: the hangup's events must find nothing
            await self.hangup(leg)
        if call.third_agent in command.agent_ids and call.third_channel:
            # A transfer target withdrawn (paused, logged out): their leg goes, and its
            # hangup settles the transfer as one nobody answered.
            await self.hangup(call.third_channel)

    # --- connecting ---------------------------------------------------------------------

    async def _connect(self, command: Connect) -> None:
        call = self.state.calls[command.call_id]
        now = self.clock()
        call.phase, call.answered_at = Phase.CONNECTED, now
        await self.bridge_parties(call)
        profile = self.config().agents.get(command.agent_id)
        waited = call.waited(now)
        self.announce("call.connected", call, [command.agent_id])
        await self.call_log.update(
            call.tenant_id,
            call.record_id,
            answered_at=now,
            agent_id=profile.user_id if profile else None,
            wait_seconds=waited,
        )

    async def bridge_parties(self, call: FlowCall, *, made: bool = False) -> None:
        """Put the caller and the agent together in the call's talk bridge (`made`: it
        exists in Asterisk already), the caller's music and holding bridge gone."""
        talk = bridge_id("talk", call.call_id)
        if not made:
            await self.client.create_bridge("mixing", bridge_id=talk)
        call.bridge = talk
        await self.stop_music(call)
        if call.holding_bridge:  # destroying it lets the caller go (ARI's bridges.destroy)
            await self.destroy_bridge(call.holding_bridge)
            call.holding_bridge = None
        channels = [c for c in (call.caller_channel, call.agent_channel) if c]
        await self.client.add_channel(talk, channels)

    async def _dial_callback(self, command: DialCallback) -> list[Command]:
        """The agent answered a callback request: hold them in a bridge, dial the customer."""
        call = self.state.calls[command.call_id]
        call.phase, call.answered_at = Phase.CONNECTED, self.clock()
        await callbacks.attempt_starts(self, call, command.agent_id, command.attempt)
        await self.dial_customer(call, command.number)
        return []

    async def dial_customer(self, call: FlowCall, number: str) -> None:
        """Put the agent's answered leg in the call's bridge and dial the customer from the
        business's number (callbacks, click-to-call)."""
        talk = bridge_id("talk", call.call_id)
        await self.client.create_bridge("mixing", bridge_id=talk)
        call.bridge = talk
        if call.agent_channel:
            await self.client.add_channel(talk, call.agent_channel)
        line = self.config().tenants.get(call.tenant_id)
        leg = uuid.uuid4().hex
        call.customer_channel = leg
        self.state.note(leg, call)
        try:
            await self.client.originate(
                self.dial_out.format(number=number),
                app_args=f"customer,{call.call_id}",
                caller_id=line.caller_id if line else "",
                timeout=45,
                channel_id=leg,
            )
        except AriError as exc:
            log.warning("call %s: the customer could not be dialled: %s", call.call_id, exc)
            call.customer_channel = None
            if call.agent_channel:
                await self.hangup(call.agent_channel)

    # --- overflow, announcements, abandoned ---------------------------------------------

    async def _overflow(self, command: Overflow) -> None:
        call = self.state.calls.get(command.call_id)
        if call is None:
            return
        now = self.clock()
        if command.kind is OverflowKind.QUEUE:
            left = self.config().queues.get(call.queue or "")
            call.queue = command.target
            settings = self.config().queues.get(command.target)
            if settings is not None:
                await self.call_log.update(
                    call.tenant_id, call.record_id, queue_id=settings.queue_id, overflow="queue",
                    overflow_from_queue_id=left.queue_id if left else None,
                )  # fmt: skip
            return
        waited = call.waited(now)
        if command.kind is OverflowKind.VOICEMAIL:
            self.state.drop(call.call_id)
            await self.stop_music(call)
            await self.destroy_bridges(call)
            await self.call_log.update(call.tenant_id, call.record_id, outcome="voicemail",
                                       overflow="voicemail", wait_seconds=waited,
                                       ended_at=now)  # fmt: skip
            if call.caller_channel:
                await self.client.continue_in_dialplan(
                    call.caller_channel, context=VOICEMAIL_CONTEXT, extension=command.target,
                    priority=1,
                )  # fmt: skip
            return
        # A callback: the place in the queue is kept; the caller hears it confirmed and goes.
        call.phase, call.outcome = Phase.CALLBACK, "callback"
        await self.call_log.update(call.tenant_id, call.record_id, outcome="callback",
                                   overflow="callback", wait_seconds=waited,
                                   callback_state=callbacks.PENDING)  # fmt: skip
        if call.caller_channel:
            await self.play_then_hang_up(call, prompts.CALLBACK_CONFIRMED)

    async def _announce(self, command: Announce) -> None:
        call = self.state.calls.get(command.call_id)
        if call is None or not call.caller_channel or call.phase is not Phase.QUEUED:
            return
        media = prompts.position(command.position, command.estimated_wait_s, call.language)
        playback = await self.client.play(call.caller_channel, media, lang=call.language)
        if call.music:  # playing suspended it: `music_resumes` starts it again after
            call.music_after_playback = playback.id

    async def _abandoned(self, command: CallAbandoned) -> None:
        call = self.state.calls.get(command.call_id)
        if call is None:
            return
        await self.call_log.update(
            call.tenant_id, call.record_id, outcome="abandoned", wait_seconds=command.waited_s,
            ended_at=self.clock(),
        )  # fmt: skip

    # --- helpers shared with the call flow ----------------------------------------------

    async def play_then_hang_up(self, call: FlowCall, media: tuple[str, ...]) -> None:
        assert call.caller_channel is not None
        try:
            playback = await self.client.play(call.caller_channel, media)
        except AriNotFound:
            return
        call.hangup_after_playback = playback.id

    async def stop_music(self, call: FlowCall) -> None:
        if call.music:
            call.music = False
            call.music_after_playback = None
            if call.caller_channel:
                await self._quietly(self.client.stop_moh(call.caller_channel))

    async def music_resumes(self, call: FlowCall, playback_id: str) -> None:
        """An announcement to a waiting caller ended: their music starts again."""
        if call.music and call.music_after_playback == playback_id and call.caller_channel:
            call.music_after_playback = None
            music = self.config().music_for(call.queue)
            await self._quietly(self.client.start_moh(call.caller_channel, music))

    async def hangup(self, channel_id: str) -> None:
        await self._quietly(self.client.hangup(channel_id))

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._quietly(self.client.destroy_bridge(bridge_id))

    async def destroy_bridges(self, call: FlowCall) -> None:
        for bridge in (call.holding_bridge, call.bridge, call.consult_bridge):
            if bridge:
                await self.destroy_bridge(bridge)
        call.holding_bridge = call.bridge = call.consult_bridge = None

    async def tear_down(self, call: FlowCall, *, keep: str | None = None) -> None:
        """Hang up every channel of the call (but `keep`) and destroy its bridges."""
        for channel in call.channels():
            if channel != keep:
                await self.hangup(channel)
        call.ringing.clear()
        await self.destroy_bridges(call)

    @staticmethod
    async def _quietly(request: Awaitable[None]) -> None:
        """For clean-up: the object being gone already is the outcome wanted."""
        try:
            await request
        except AriNotFound:
            pass
        except AriError as exc:
            log.warning("clean-up request failed: %s", exc)


def call_view(call: FlowCall, config: FlowConfig, now: datetime) -> dict[str, Any]:
    """A call as an agent's desk shows it (no channel ids: they are Asterisk's business)."""
    queue = config.queues.get(call.queue or "")
    since = call.queued_at or call.arrived_at or now
    view = {
        "call_id": call.call_id,
        "record_id": call.record_id,
        "direction": call.direction,
        "caller_number": call.caller_number,
        "did": call.did,
        "match": call.match,
        "customer_id": call.customer_id,
        "priority": call.priority,
        "verified": call.verified,
        "queue": queue.name if queue else None,
        "waited_seconds": int((now - since).total_seconds()),
        "agent_id": int(call.agent_id) if call.agent_id and call.agent_id.isdigit() else None,
        "outcome": call.outcome,
    }
    if call.self_service:  # what the caller already did in the IVR's self-service
        view["in_the_ivr"] = {"steps": list(call.self_service)}
    if call.recording_notice:  # whether the caller heard that the call is recorded
        view["recording_notice"] = call.recording_notice
    return view
