"""The dispatcher: feeds events into queues and agents, and returns the commands that follow.

Every public method takes `now` (aware UTC), changes state, and returns a list of commands;
the same state and the same calls give the same commands. After any change the engine
dispatches: it walks every waiting call across all queues in service order (priority, then
arrival) and rings agents for each call that is not already ringing, so an agent shared by
several queues always goes to the caller who should be served first.

`tick(now)` drives everything that happens because time passed; an adapter calls it at least
once a second (more often only sharpens timeouts, it never changes outcomes).
"""

from __future__ import annotations

import json
import random
from collections.abc import Container, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pbx.acd.agents import STAFFED_STATES, Agent, AgentMove, AgentState, Membership
from pbx.acd.callback_rule import next_attempt
from pbx.acd.calls import ActiveCall, InboundCall
from pbx.acd.commands import (
    CallAbandoned,
    CallbackFailed,
    CallbackRetry,
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
from pbx.acd.errors import AcdError, InvalidTransition, UnknownAgent, UnknownCall, UnknownQueue
from pbx.acd.free_agents import INDEXED, FreeAgents
from pbx.acd.queues import EntryKind, OverflowKind, Queue, QueueConfig, WaitingCall
from pbx.acd.serial import require_utc
from pbx.acd.strategies import choose_agents, member_key

STATE_VERSION = 1
# The queue an outbound (click-to-call) call counts under: no waiting list, no wrap-up.
OUTBOUND = "outbound"


class Engine:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.queues: dict[str, Queue] = {}
        self.agents: dict[str, Agent] = {}
        self.active: dict[str, ActiveCall] = {}
        # Agents dialled directly for a transfer, by agent id: ringing, then talking with the
        # caller (or consulted by the transferring agent), outside every queue. Each moves to
        # `active` once the call is theirs alone (`transfer_completed`).
        self.transfers: dict[str, ActiveCall] = {}
        # Agents removed by an admin while on a call: they leave the roster when it ends.
        self.retiring: set[str] = set()
        # Callback requests an agent answered, by call id, while the customer is dialled:
        # kept to wait in their queue again if the customer does not answer.
        self.callbacks: dict[str, WaitingCall] = {}
        self.seq = 0
        # Journals of agent changes, kept as they happen so that nothing scans the roster
        # per event: for desks (`changed_agents`), for snapshots (agents whose saved form
        # is stale), and who is available (the only agents a new call can ring).
        self._touched: set[str] = set()
        self._unsaved: set[str] = set()
        self._saved_agents: dict[str, str] = {}  # each agent's JSON as last saved
        self._available: dict[str, Agent] = {}
        self._free = FreeAgents()  # by queue, in the order `leastrecent` and `linear` ring
        # Every move of every agent, in order, for the agents' state history (`state_moves`).
        self._moves: list[AgentMove] = []

    # -- configuration (admin changes apply at once, waiting callers stay) ---------------

    def configure_queue(self, config: QueueConfig) -> None:
        if config.name in self.queues:
            self.queues[config.name].config = config
        else:
            self.queues[config.name] = Queue(config)

    def add_agent(self, agent: Agent) -> None:
        if agent.agent_id in self.agents:
            raise AcdError(f"agent {agent.agent_id} is already on the roster")
        self.agents[agent.agent_id] = agent
        agent.on_change = self._touch
        self._touch(agent.agent_id)

    def _touch(self, agent_id: str) -> None:
        self._touched.add(agent_id)
        self._unsaved.add(agent_id)
        agent = self.agents.get(agent_id)
        if agent is not None and agent.state_since is not None:
            reason = agent.pause_reason if agent.state is AgentState.PAUSED else None
            self._moves.append(AgentMove(agent_id, agent.state, reason, agent.state_since))
        if agent is not None and agent.state is AgentState.AVAILABLE:
            self._available[agent_id] = agent
            self._free.file(agent)
        else:
            self._available.pop(agent_id, None)

    def _drop_agent(self, agent_id: str, now: datetime) -> None:
        if self.agents[agent_id].state is not AgentState.LOGGED_OUT:  # gone: logged out
            self._moves.append(AgentMove(agent_id, AgentState.LOGGED_OUT, None, now))
        del self.agents[agent_id]
        self._available.pop(agent_id, None)
        self._free.forget_agent(agent_id)
        self._unsaved.discard(agent_id)
        self._saved_agents.pop(agent_id, None)

    def state_moves(self) -> list[AgentMove]:
        """Every state an agent entered since the last call, in order (the state history:
        `changed_agents` keeps only who changed, and would lose a short wrap-up)."""
        moves, self._moves = self._moves, []
        return moves

    def changed_agents(self) -> set[str]:
        """Agents whose state changed since the last call (for telling desks): no scan of
        the whole roster on every event."""
        changed, self._touched = self._touched, set()
        return changed

    def update_agent(
        self,
        agent_id: str,
        endpoint: str,
        skills: Mapping[str, int],
        memberships: Mapping[str, Membership],
        now: datetime,
    ) -> list[Command]:
        """An admin changed an agent: the state (and a call in progress) carries on."""
        now = require_utc(now)
        agent = self._agent(agent_id)
        agent.endpoint = endpoint
        agent.skills = dict(skills)
        agent.memberships = dict(memberships)
        if agent.state is AgentState.AVAILABLE:
            self._free.file(agent)  # its penalty or order may have dropped
        self._unsaved.add(agent_id)
        self.retiring.discard(agent_id)
        return self._dispatch(now)

    def remove_agent(self, agent_id: str, now: datetime) -> list[Command]:
        """An admin removed an agent: a ringing offer goes elsewhere; a call in progress
        finishes first (the agent takes no new calls meanwhile)."""
        now = require_utc(now)
        agent = self._agent(agent_id)
        agent.memberships = {}
        self._unsaved.add(agent_id)
        commands = self._withdraw(agent, now) if agent.state is AgentState.RINGING else []
        if agent.state is AgentState.ON_CALL:
            self.retiring.add(agent_id)
        else:
            self._drop_agent(agent_id, now)
        return commands + self._dispatch(now)

    def remove_queue(self, name: str) -> bool:
        """Drop a queue nobody waits in; False (kept) while calls still wait there."""
        queue = self._queue(name)
        if queue.waiting:
            return False
        del self.queues[name]
        self._free.forget_queue(name)
        return True

    # -- caller events -------------------------------------------------------------------

    def enqueue(self, call: InboundCall, queue: str, now: datetime) -> list[Command]:
        now = require_utc(now)
        target = self._queue(queue)
        if call.call_id in self.active or self._find_waiting(call.call_id):
            raise AcdError(f"call {call.call_id} is already in the ACD")
        self.seq += 1
        entry = WaitingCall(
            call.call_id,
            call.priority,
            arrived_at=min(require_utc(call.arrived_at), now) if call.arrived_at else now,
            queued_at=now,
            seq=self.seq,
            caller_number=call.caller_number,
            next_announce_at=target.first_announcement(now),
        )
        target.add(entry)
        return self._dispatch(now)

    def answered(self, call_id: str, agent_id: str, now: datetime) -> list[Command]:
        now = require_utc(now)
        queue, entry = self._waiting(call_id)
        if agent_id not in entry.ringing:
            raise UnknownCall(call_id, f"not ringing agent {agent_id}")
        self._agent(agent_id).answer(call_id, now)
        others = tuple(other for other in entry.ringing if other != agent_id)
        for other in others:
            self.agents[other].withdraw_offer(now)
        queue.remove(call_id)
        self.active[call_id] = ActiveCall(call_id, queue.name, agent_id, now)
        commands: list[Command] = [StopRinging(call_id, others)] if others else []
        if entry.kind is EntryKind.CALLBACK:
            entry.attempts += 1
            self.callbacks[call_id] = entry
            number = entry.caller_number or ""
            commands.append(DialCallback(call_id, agent_id, number, attempt=entry.attempts))
        else:
            commands.append(Connect(call_id, agent_id))
        return commands + self._dispatch(now)

    def release(self, call_id: str, now: datetime) -> list[Command]:
        """The agent hands the call on (a transfer): their part ends, wrap-up starts, and the
        call may be queued again."""
        now = require_utc(now)
        if call_id not in self.active:
            raise UnknownCall(call_id, "not connected to an agent")
        return self._end_call(self.active.pop(call_id), now)

    def start_outbound(self, call_id: str, agent_id: str, now: datetime) -> list[Command]:
        """The agent places a call; it ends through `caller_hung_up` or `agent_hung_up`."""
        now = require_utc(now)
        if call_id in self.active or self._find_waiting(call_id):
            raise AcdError(f"call {call_id} is already in the ACD")
        self._agent(agent_id).start_outbound(call_id, now)
        self.active[call_id] = ActiveCall(call_id, OUTBOUND, agent_id, now)
        return []

    def cancel_outbound(self, call_id: str, now: datetime) -> list[Command]:
        """A call the agent placed could not be started (its call log or the agent's phone
        failed): the agent is free again, with nothing counted."""
        now = require_utc(now)
        call = self.active.get(call_id)
        if call is None or call.queue != OUTBOUND:
            raise UnknownCall(call_id, "not a call an agent placed")
        del self.active[call_id]
        self._agent(call.agent_id).free(now)
        return self._dispatch(now)

    # -- transfers to an agent -----------------------------------------------------------

    def offer_transfer(
        self, call_id: str, agent_id: str, queue: str, now: datetime
    ) -> list[Command]:
        """`agent_id` is dialled directly for a transfer of `call_id` (which counts under
        `queue`): they ring, and no queue offers them a call meanwhile. Only an available
        agent can be: InvalidTransition otherwise."""
        now = require_utc(now)
        agent = self._agent(agent_id)
        agent.offer(call_id, now)
        self.transfers[agent_id] = ActiveCall(call_id, queue, agent_id, now)
        return []

    def transfer_answered(self, agent_id: str, now: datetime) -> list[Command]:
        """The transfer target picked up: on the call, as if offered and answered."""
        now = require_utc(now)
        transfer = self._transfer(agent_id)
        self._agent(agent_id).answer(transfer.call_id, now)
        self.transfers[agent_id] = replace(transfer, answered_at=now)
        return []

    def transfer_completed(self, agent_id: str, now: datetime) -> list[Command]:
        """The transfer is done and its former agent released: the call is the target's,
        and ends like any answered call (`caller_hung_up`, `agent_hung_up`, `release`)."""
        now = require_utc(now)
        transfer = self._transfer(agent_id)
        agent = self._agent(agent_id)
        if agent.state is not AgentState.ON_CALL:
            raise InvalidTransition(agent_id, agent.state, "take a transferred call")
        held = self.active.get(transfer.call_id)
        if held is not None:
            raise AcdError(f"call {transfer.call_id} is still with agent {held.agent_id}")
        del self.transfers[agent_id]
        self.active[transfer.call_id] = transfer
        return []

    def transfer_ended(self, agent_id: str, now: datetime) -> list[Command]:
        """The target's part ended before the call was theirs (no answer, a cancelled or
        abandoned transfer, the call over): ringing, they are available again; talking,
        wrap-up starts as after any call. Nothing to do if they are no transfer's target."""
        now = require_utc(now)
        transfer = self.transfers.pop(agent_id, None)
        agent = self.agents.get(agent_id)
        if transfer is None or agent is None or agent.call_id != transfer.call_id:
            return []
        if agent.state is AgentState.RINGING:
            agent.withdraw_offer(now)
            return self._dispatch(now)
        if agent.state is AgentState.ON_CALL:
            return self._end_call(transfer, now)
        return []

    def _transfer(self, agent_id: str) -> ActiveCall:
        if agent_id not in self.transfers:
            raise InvalidTransition(agent_id, self._agent(agent_id).state, "answer a transfer",
                                    "no transfer is dialling this agent")  # fmt: skip
        return self.transfers[agent_id]

    def caller_hung_up(self, call_id: str, now: datetime) -> list[Command]:
        now = require_utc(now)
        if call_id in self.active:
            return self._end_call(self.active.pop(call_id), now)
        found = self._find_waiting(call_id)
        if found is None:
            # Already gone: both legs of a call report their hangup, and events repeat.
            return []
        queue, entry = found
        if entry.kind is EntryKind.CALLBACK:
            # The caller's channel ends right after they ask for a callback; the request
            # keeps its place until an agent serves it or `cancel_callback` removes it.
            return []
        commands = self._stop_all_ringing(entry, now)
        record = queue.record_abandoned(entry, now)
        queue.remove(call_id)
        commands.append(CallAbandoned(call_id, queue.name, record.waited_s, record.position))
        return commands + self._dispatch(now)

    def cancel_callback(self, call_id: str, now: datetime) -> list[Command]:
        """Drop a callback request (the customer called again, or an admin removed it)."""
        now = require_utc(now)
        queue, entry = self._waiting(call_id)
        if entry.kind is not EntryKind.CALLBACK:
            raise UnknownCall(call_id, "not a callback request")
        commands = self._stop_all_ringing(entry, now)
        queue.remove(call_id)
        return commands + self._dispatch(now)

    def callback_not_answered(self, call_id: str, zone: ZoneInfo, now: datetime) -> list[Command]:
        """The customer of a callback being dialled did not answer (no answer, busy, failed),
        or the agent hung up before they did: the agent's part ends, and by the queue's rule
        (`callback_rule`, on the wall clock of the customer's `zone`) the request waits for
        its next attempt, keeping its place (`CallbackRetry`), or it is over
        (`CallbackFailed`)."""
        now = require_utc(now)
        entry = self.callbacks.get(call_id)
        if entry is None or call_id not in self.active:
            raise UnknownCall(call_id, "not a callback whose customer is being dialled")
        served = self.active.pop(call_id)
        commands = self._end_call(served, now)
        queue = self.queues.get(served.queue)
        retry_at = (
            next_attempt(queue.config.callback_rule, entry.attempts, now, zone) if queue else None
        )
        if queue is None or retry_at is None:
            return [CallbackFailed(call_id, entry.attempts), *commands]
        entry.ringing, entry.ring_deadline, entry.tried = [], None, []
        entry.retry_at = retry_at
        queue.add(entry)
        return [CallbackRetry(call_id, entry.attempts + 1, retry_at), *commands]

    # -- agent events --------------------------------------------------------------------

    def agent_hung_up(self, agent_id: str, now: datetime) -> list[Command]:
        """The agent's leg hung up: ends their call, or declines the call ringing them."""
        now = require_utc(now)
        agent = self._agent(agent_id)
        if agent_id in self.transfers:
            return self.transfer_ended(agent_id, now)
        if agent.state is AgentState.ON_CALL and agent.call_id in self.active:
            return self._end_call(self.active.pop(agent.call_id), now)
        if agent.state is AgentState.RINGING:
            return self._declined(agent, now)
        return []

    def offer_lost(self, agent_id: str, now: datetime) -> list[Command]:
        """The ringing leg vanished for a reason that is not the agent's (the PBX or this
        process restarted): no ring-no-answer pause; the call is offered again."""
        now = require_utc(now)
        agent = self._agent(agent_id)
        if agent.state is not AgentState.RINGING:
            return []
        return self._withdraw(agent, now) + self._dispatch(now)

    def agent_available(self, agent_id: str, now: datetime) -> list[Command]:
        """The agent says they are ready: logs in, unpauses, or ends wrap-up early."""
        now = require_utc(now)
        agent = self._agent(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            agent.log_in(now)
        elif agent.state is AgentState.PAUSED:
            agent.unpause(now)
        elif agent.state is AgentState.WRAP_UP:
            agent.end_wrap_up(now)
        elif agent.state is not AgentState.AVAILABLE:
            raise InvalidTransition(agent_id, agent.state, "become available")
        return self._dispatch(now)

    def pause_agent(self, agent_id: str, reason: str, now: datetime) -> list[Command]:
        now = require_utc(now)
        agent = self._agent(agent_id)
        commands = self._withdraw(agent, now) if agent.state is AgentState.RINGING else []
        agent.pause(reason, now)
        return commands + self._dispatch(now)

    def log_out(self, agent_id: str, now: datetime) -> list[Command]:
        now = require_utc(now)
        agent = self._agent(agent_id)
        commands = self._withdraw(agent, now) if agent.state is AgentState.RINGING else []
        agent.log_out(now)
        return commands + self._dispatch(now)

    # -- time ----------------------------------------------------------------------------

    def tick(
        self, now: datetime, answering: Container[tuple[str, str]] = frozenset()
    ) -> list[Command]:
        """`answering`: (call id, agent id) of answers that have arrived and wait to be
        handled (`answered`): their rings do not time out, whatever the deadline; the
        answer wins over a timeout it only lost to by waiting its turn."""
        now = require_utc(now)
        commands = self._expire_wrap_ups(now) + self._expire_rings(now, answering)
        # Dispatch before overflow: a caller who reaches the limit just as an agent frees up
        # is better served by the agent than by voicemail.
        commands += self._dispatch(now)
        overflowed, moved = self._overflow(now)
        commands += overflowed
        if moved:
            commands += self._dispatch(now)
        return commands + self._announce(now)

    def staffed(self, queue: Queue) -> int:
        required = queue.config.required_skills
        return sum(
            1
            for agent in self.agents.values()
            if agent.is_member(queue.name)
            and agent.state in STAFFED_STATES
            and agent.has_skills(required)
        )

    # -- internals -----------------------------------------------------------------------

    def _dispatch(self, now: datetime) -> list[Command]:
        commands: list[Command] = []
        # Calls in one queue share eligibility: if one finds nobody, nobody behind it will.
        blocked: set[str] = set()
        for queue, entry in self._in_service_order():
            # `ready_to_ring` written out: every change passes every waiting call, and most
            # of them are ringing already.
            if entry.ringing or (entry.retry_at is not None and entry.retry_at > now):
                continue
            if queue.name in blocked:
                continue
            chosen = self._choose(queue, entry, now)
            if not chosen:
                blocked.add(queue.name)
                continue
            commands.append(self._ring(queue, entry, chosen, now))
        return commands

    def _choose(self, queue: Queue, entry: WaitingCall, now: datetime) -> list[Agent]:
        available = self._available.values()  # ringing one takes it out: read afresh
        if queue.config.strategy not in INDEXED:
            return choose_agents(queue, available, tried=entry.tried, rng=self.rng, now=now)
        # As `choose_agents` would choose, without a pass over every free agent.
        tried = set(entry.tried)
        agent = self._free.pick(queue, self.agents, available, tried)
        if agent is None and tried:  # everyone eligible was tried: a new round
            agent = self._free.pick(queue, self.agents, available, set())
        return [agent] if agent is not None else []

    def _ring(
        self, queue: Queue, entry: WaitingCall, chosen: list[Agent], now: datetime
    ) -> Command:
        ids = [agent.agent_id for agent in chosen]
        for agent in chosen:
            agent.offer(entry.call_id, now)
        new_round = any(agent_id in entry.tried for agent_id in ids)
        entry.tried = ids if new_round else [*entry.tried, *ids]
        entry.ringing = ids
        entry.ring_deadline = now + timedelta(seconds=queue.config.ring_timeout_s)
        entry.retry_at = None
        queue.rr_last = member_key(chosen[-1], queue.name)
        callback = entry.caller_number if entry.kind is EntryKind.CALLBACK else None
        return RingAgents(
            entry.call_id,
            queue.name,
            tuple(ids),
            tuple(agent.endpoint for agent in chosen),
            queue.config.ring_timeout_s,
            callback_number=callback,
        )

    def _stop_all_ringing(self, entry: WaitingCall, now: datetime) -> list[Command]:
        if not entry.ringing:
            return []
        for agent_id in entry.ringing:
            self.agents[agent_id].withdraw_offer(now)
        stop = StopRinging(entry.call_id, tuple(entry.ringing))
        entry.ringing, entry.ring_deadline = [], None
        return [stop]

    def _expire_rings(self, now: datetime, answering: Container[tuple[str, str]]) -> list[Command]:
        commands: list[Command] = []
        for queue in self.queues.values():
            for entry in queue.waiting:
                if entry.ringing and entry.ring_deadline and entry.ring_deadline <= now:
                    if any((entry.call_id, agent_id) in answering for agent_id in entry.ringing):
                        continue  # answered in time: the answer is handled next
                    rung = [self.agents[agent_id] for agent_id in entry.ringing]
                    commands.append(StopRinging(entry.call_id, tuple(entry.ringing)))
                    commands += self._ring_failed(queue, rung, now)
                    self._stop_ringing(queue, entry, now)
        return commands

    def _declined(self, agent: Agent, now: datetime) -> list[Command]:
        # A rejected offer counts as a ring-no-answer: the agent did not take the call.
        queue, entry = self._waiting(agent.call_id or "")
        entry.ringing.remove(agent.agent_id)
        commands = self._ring_failed(queue, [agent], now)
        if not entry.ringing:
            self._stop_ringing(queue, entry, now)
        return commands + self._dispatch(now)

    def _withdraw(self, agent: Agent, now: datetime) -> list[Command]:
        """Stop ringing an agent who paused or logged out; no retry back-off for the call."""
        transfer = self.transfers.pop(agent.agent_id, None)
        if transfer is not None:  # rung for a transfer: the call flow hangs that leg up
            agent.withdraw_offer(now)
            return [StopRinging(transfer.call_id, (agent.agent_id,))]
        _, entry = self._waiting(agent.call_id or "")
        entry.ringing.remove(agent.agent_id)
        if not entry.ringing:
            entry.ring_deadline = None
        agent.withdraw_offer(now)
        return [StopRinging(entry.call_id, (agent.agent_id,))]

    def _ring_failed(self, queue: Queue, agents: list[Agent], now: datetime) -> list[Command]:
        commands: list[Command] = []
        for agent in agents:
            if queue.config.autopause:
                agent.ring_no_answer(now)
                commands.append(PauseAgent(agent.agent_id, agent.pause_reason or ""))
            else:
                agent.withdraw_offer(now)
        return commands

    def _stop_ringing(self, queue: Queue, entry: WaitingCall, now: datetime) -> None:
        entry.ringing = []
        entry.ring_deadline = None
        retry = queue.config.retry_s
        entry.retry_at = now + timedelta(seconds=retry) if retry else None

    def _end_call(self, call: ActiveCall, now: datetime) -> list[Command]:
        self.callbacks.pop(call.call_id, None)
        # The queue may have been removed by an admin while the call was connected.
        queue = self.queues.get(call.queue) or Queue(QueueConfig(call.queue))
        wrapup = queue.config.wrapup_s
        until = self._agent(call.agent_id).end_call(now, wrapup)
        queue.record_handle_time(int((now - call.answered_at).total_seconds()) + wrapup)
        commands: list[Command] = [StartWrapUp(call.agent_id, until)] if until else []
        if call.agent_id in self.retiring:
            self.retiring.discard(call.agent_id)
            self._drop_agent(call.agent_id, now)
            commands = []
        return commands + self._dispatch(now)

    def _expire_wrap_ups(self, now: datetime) -> list[Command]:
        commands: list[Command] = []
        for agent in self.agents.values():
            if agent.wrap_up_due(now):
                agent.end_wrap_up(now)
                commands.append(EndWrapUp(agent.agent_id))
        return commands

    def _overflow(self, now: datetime) -> tuple[list[Command], bool]:
        commands: list[Command] = []
        moved = False
        for queue in list(self.queues.values()):
            limit = queue.config.max_wait_s
            if limit is None:
                continue
            deadline = now - timedelta(seconds=limit)
            for entry in list(queue.waiting):
                # Never yank a call away from an agent whose phone is ringing for it.
                if (
                    entry.kind is EntryKind.CALLER
                    and not entry.ringing
                    and entry.queued_at <= deadline
                ):
                    command = self._overflow_one(queue, entry, now)
                    if command is not None:
                        commands.append(command)
                        moved = moved or command.kind is OverflowKind.QUEUE
        return commands, moved

    def _overflow_one(self, queue: Queue, entry: WaitingCall, now: datetime) -> Overflow | None:
        kind, target = queue.config.overflow_kind, queue.config.overflow_target
        if kind is OverflowKind.QUEUE:
            destination = self.queues.get(target)
            if destination is None:
                return None  # a misconfigured target must not lose the caller: keep waiting
            queue.remove(entry.call_id)
            destination.admit_overflow(entry, now)
        elif kind is OverflowKind.VOICEMAIL:
            queue.remove(entry.call_id)
        elif kind is OverflowKind.CALLBACK:
            if entry.caller_number is None:
                return None  # nobody to call back (withheld number): keep waiting
            entry.kind = EntryKind.CALLBACK
            entry.next_announce_at = None
        else:
            return None
        return Overflow(entry.call_id, kind, target)

    def _announce(self, now: datetime) -> list[Command]:
        commands: list[Command] = []
        for queue in self.queues.values():
            if queue.config.announce_position_every_s is not None:
                commands += queue.due_announcements(now, self.staffed(queue))
        return commands

    def _in_service_order(self) -> list[tuple[Queue, WaitingCall]]:
        waiting = [queue for queue in self.queues.values() if queue.waiting]
        if len(waiting) == 1:  # a queue keeps its calls in service order (`Queue.add`)
            return [(waiting[0], entry) for entry in waiting[0].waiting]
        pairs = [(queue, entry) for queue in waiting for entry in queue.waiting]
        return sorted(pairs, key=lambda pair: pair[1].order_key())

    def _find_waiting(self, call_id: str) -> tuple[Queue, WaitingCall] | None:
        for queue in self.queues.values():
            for entry in queue.waiting:
                if entry.call_id == call_id:
                    return queue, entry
        return None

    def _waiting(self, call_id: str) -> tuple[Queue, WaitingCall]:
        found = self._find_waiting(call_id)
        if found is None:
            raise UnknownCall(call_id, "not waiting in any queue")
        return found

    def _queue(self, name: str) -> Queue:
        if name not in self.queues:
            raise UnknownQueue(name)
        return self.queues[name]

    def _agent(self, agent_id: str) -> Agent:
        if agent_id not in self.agents:
            raise UnknownAgent(agent_id)
        return self.agents[agent_id]

    # -- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to carry on after a restart, JSON-safe (the RNG state too)."""
        return {**self._all_but_agents(), "agents": [a.to_dict() for a in self.agents.values()]}

    def to_json(self) -> str:
        """`to_dict` as JSON text, for the snapshot written twice a second: agents not
        changed since the last one are not serialised again (hundreds of KB with 1,000)."""
        for agent_id in self._unsaved:
            self._saved_agents[agent_id] = json.dumps(self.agents[agent_id].to_dict())
        self._unsaved.clear()
        agents = ",".join(self._saved_agents[agent_id] for agent_id in self.agents)
        return json.dumps(self._all_but_agents())[:-1] + f', "agents": [{agents}]}}'

    def _all_but_agents(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {
            "version": STATE_VERSION,
            "seq": self.seq,
            "rng_state": [version, list(internal), gauss],
            "queues": [queue.to_dict() for queue in self.queues.values()],
            "active": [call.to_dict() for call in self.active.values()],
            "transfers": [call.to_dict() for call in self.transfers.values()],
            "retiring": sorted(self.retiring),
            "callbacks": [entry.to_dict() for entry in self.callbacks.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Engine:
        if data.get("version") != STATE_VERSION:
            raise AcdError(f"unsupported ACD state version {data.get('version')!r}")
        version, internal, gauss = data["rng_state"]
        rng = random.Random()
        rng.setstate((version, tuple(internal), gauss))
        engine = cls(rng)
        engine.seq = data["seq"]
        for raw in data["queues"]:
            queue = Queue.from_dict(raw)
            engine.queues[queue.name] = queue
        for raw in data["agents"]:
            engine.add_agent(Agent.from_dict(raw))
        for raw in data["active"]:
            call = ActiveCall.from_dict(raw)
            engine.active[call.call_id] = call
        for raw in data.get("transfers", ()):
            call = ActiveCall.from_dict(raw)
            engine.transfers[call.agent_id] = call
        engine.retiring = set(data.get("retiring", ()))
        for raw in data.get("callbacks", ()):
            entry = WaitingCall.from_dict(raw)
            engine.callbacks[entry.call_id] = entry
        return engine
