"""An agent's state machine: which state it is in, and the only ways out of each state.

    log_in          logged_out                  -> available
    log_out         available, paused, wrap_up  -> logged_out
    pause(reason)   available, paused, wrap_up  -> paused
    unpause         paused                      -> available
    offer           available                   -> ringing
    withdraw_offer  ringing                     -> available   (someone else answered, ...)
    answer          ringing                     -> on_call
    start_outbound  available, paused, wrap_up  -> on_call     (click-to-call)
    ring_no_answer  ringing                     -> paused("ring-no-answer")
    end_call        on_call                     -> wrap_up, or available with no wrap-up
    end_wrap_up     wrap_up                     -> available
    free            ringing, on_call            -> available   (the call never was: a call
                                                               placed that could not start,
                                                               a repair after a restart)

Every method checks the current state and raises `InvalidTransition` otherwise, so a stale or
duplicated event cannot silently corrupt the roster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pbx.acd.errors import InvalidTransition
from pbx.acd.serial import dump_time, load_time

RING_NO_ANSWER = "ring-no-answer"


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


_S = AgentState
# States from which an agent will take calls again without doing anything: the ones that
# count as "staffed" for estimated-wait announcements.
STAFFED_STATES = frozenset({_S.AVAILABLE, _S.RINGING, _S.ON_CALL, _S.WRAP_UP})


@dataclass(frozen=True, slots=True)
class AgentMove:
    """An agent entered `state` at `at` (paused: for `pause_reason`)."""

    agent_id: str
    state: AgentState
    pause_reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    """An agent's place in one queue.

    A lower penalty is rung first (app_queue's tiers); `order` is the member order that
    `linear` and `rrmemory` walk, ties broken by agent id.
    """

    penalty: int = 0
    order: int = 0


@dataclass(slots=True)
class Agent:
    agent_id: str
    # What to dial: `PJSIP/1001`, or an outside number through `Local/+972...@context`.
    endpoint: str
    # Skill name -> level; a queue requires a minimum level per skill.
    skills: dict[str, int] = field(default_factory=dict)
    memberships: dict[str, Membership] = field(default_factory=dict)
    state: AgentState = AgentState.LOGGED_OUT
    state_since: datetime | None = None
    pause_reason: str | None = None
    # The call ringing this agent or connected to it.
    call_id: str | None = None
    wrap_up_until: datetime | None = None
    last_call_ended_at: datetime | None = None
    calls_taken: int = 0
    # The UTC day `calls_taken` counts; a new day starts from zero.
    calls_taken_on: date | None = None
    # Told the agent's id on every state change (the engine's journal); not state.
    on_change: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    # -- questions ----------------------------------------------------------------------

    def is_member(self, queue: str) -> bool:
        return queue in self.memberships

    def penalty(self, queue: str) -> int:
        return self.memberships[queue].penalty

    def has_skills(self, required: Mapping[str, int]) -> bool:
        return all(self.skills.get(name, -1) >= level for name, level in required.items())

    def calls_today(self, now: datetime) -> int:
        return self.calls_taken if self.calls_taken_on == now.date() else 0

    def wrap_up_due(self, now: datetime) -> bool:
        return (
            self.state is _S.WRAP_UP
            and self.wrap_up_until is not None
            and self.wrap_up_until <= now
        )

    # -- transitions --------------------------------------------------------------------

    def log_in(self, now: datetime) -> None:
        self._move("log in", {_S.LOGGED_OUT}, _S.AVAILABLE, now)

    def log_out(self, now: datetime) -> None:
        # Ringing or on a call: the engine withdraws the offer or the call ends first.
        self._move("log out", {_S.AVAILABLE, _S.PAUSED, _S.WRAP_UP}, _S.LOGGED_OUT, now)
        self.pause_reason = None
        self.wrap_up_until = None

    def pause(self, reason: str, now: datetime) -> None:
        # Pausing while paused just changes the reason (e.g. "lunch" after "ring-no-answer").
        self._move("pause", {_S.AVAILABLE, _S.PAUSED, _S.WRAP_UP}, _S.PAUSED, now, reason)
        self.wrap_up_until = None

    def unpause(self, now: datetime) -> None:
        self._move("unpause", {_S.PAUSED}, _S.AVAILABLE, now)
        self.pause_reason = None

    def offer(self, call_id: str, now: datetime) -> None:
        self._move("be offered a call", {_S.AVAILABLE}, _S.RINGING, now)
        self.call_id = call_id

    def withdraw_offer(self, now: datetime) -> None:
        """The ringing stops for a reason that is not the agent's fault."""
        self._move("have an offer withdrawn", {_S.RINGING}, _S.AVAILABLE, now)
        self.call_id = None

    def answer(self, call_id: str, now: datetime) -> None:
        if self.state is _S.RINGING and self.call_id != call_id:
            raise InvalidTransition(
                self.agent_id, self.state, "answer", f"ringing for {self.call_id}, not {call_id}"
            )
        self._move("answer", {_S.RINGING}, _S.ON_CALL, now)

    def start_outbound(self, call_id: str, now: datetime) -> None:
        """The agent places a call (click-to-call): busy until it ends, like an answered one."""
        self._move("place a call", {_S.AVAILABLE, _S.PAUSED, _S.WRAP_UP}, _S.ON_CALL, now)
        self.call_id = call_id
        self.pause_reason = None
        self.wrap_up_until = None

    def ring_no_answer(self, now: datetime) -> None:
        # An agent who lets a call ring out is probably away from the desk: stop offering
        # calls until they come back, rather than making every caller wait a ring timeout.
        self._move("time out ringing", {_S.RINGING}, _S.PAUSED, now, RING_NO_ANSWER)
        self.call_id = None

    def end_call(self, now: datetime, wrapup_s: int) -> datetime | None:
        """The call is over; returns when wrap-up ends, or None when there is no wrap-up."""
        target = _S.WRAP_UP if wrapup_s > 0 else _S.AVAILABLE
        self._move("end a call", {_S.ON_CALL}, target, now)
        self.call_id = None
        self.last_call_ended_at = now
        if self.calls_taken_on != now.date():
            self.calls_taken, self.calls_taken_on = 0, now.date()
        self.calls_taken += 1
        self.wrap_up_until = now + timedelta(seconds=wrapup_s) if wrapup_s > 0 else None
        return self.wrap_up_until

    def free(self, now: datetime) -> None:
        """The call holding the agent does not exist (it could not be started, or a restart
        found it gone): available again, and nothing counted as a call taken."""
        self._move("be freed of a call", {_S.RINGING, _S.ON_CALL}, _S.AVAILABLE, now)
        self.call_id = None
        self.wrap_up_until = None

    def end_wrap_up(self, now: datetime) -> None:
        """Wrap-up time ran out, or the agent said they are ready early."""
        self._move("end wrap-up", {_S.WRAP_UP}, _S.AVAILABLE, now)
        self.wrap_up_until = None

    def _move(self, action: str, allowed: set[AgentState], to: AgentState, now: datetime,
              pause_reason: str | None = None) -> None:  # fmt: skip
        if self.state not in allowed:
            raise InvalidTransition(self.agent_id, self.state, action)
        self.state = to
        self.state_since = now
        if to is _S.PAUSED:  # set before `on_change`: the state history records it
            self.pause_reason = pause_reason
        if self.on_change is not None:
            self.on_change(self.agent_id)

    # -- persistence --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "endpoint": self.endpoint,
            "skills": dict(self.skills),
            "memberships": {
                queue: {"penalty": m.penalty, "order": m.order}
                for queue, m in self.memberships.items()
            },
            "state": self.state.value,
            "state_since": dump_time(self.state_since),
            "pause_reason": self.pause_reason,
            "call_id": self.call_id,
            "wrap_up_until": dump_time(self.wrap_up_until),
            "last_call_ended_at": dump_time(self.last_call_ended_at),
            "calls_taken": self.calls_taken,
            "calls_taken_on": self.calls_taken_on.isoformat() if self.calls_taken_on else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Agent:
        day = data.get("calls_taken_on")
        return cls(
            agent_id=data["agent_id"],
            endpoint=data["endpoint"],
            skills=dict(data.get("skills", {})),
            memberships={q: Membership(**m) for q, m in data.get("memberships", {}).items()},
            state=AgentState(data.get("state", AgentState.LOGGED_OUT)),
            state_since=load_time(data.get("state_since")),
            pause_reason=data.get("pause_reason"),
            call_id=data.get("call_id"),
            wrap_up_until=load_time(data.get("wrap_up_until")),
            last_call_ended_at=load_time(data.get("last_call_ended_at")),
            calls_taken=data.get("calls_taken", 0),
            calls_taken_on=date.fromisoformat(day) if day else None,
        )
