"""Queue configuration and the waiting list of one queue.

Order of service: higher priority first (the numbers of `billing_bridge.identification.model`:
VIP 10, collections 5, normal 0), then earlier arrival, then the order the ACD saw the calls.
A callback request keeps the entry (and so the place) of the caller who asked for it.

Estimated wait, announced to a caller at position p (1 = next):

    estimated_wait_s = ceil(p * H / N)

where H is the mean handle time (talk plus the queue's wrap-up) of the queue's last
`RECENT_HANDLE_TIMES` answered calls, or the configured `default_handle_s` before there are
any, and N is the number of staffed agents: members with the required skills who are
logged in and not paused (available, ringing, on a call or in wrap-up). With N agents each
freeing up every H seconds on average, one frees up every H/N seconds; the caller needs p of
those. With nobody staffed there is no honest estimate, so it is None.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pbx.acd.callback_rule import CallbackRule
from pbx.acd.commands import Announce
from pbx.acd.serial import dump_time, load_time
from pbx.instants import parse_instant

RECENT_HANDLE_TIMES = 20
# The call log (through the CallAbandoned command) is the permanent record; the queue keeps a
# short tail for live wallboards without growing its persisted state forever.
RECENT_ABANDONED = 100


class Strategy(StrEnum):
    RINGALL = "ringall"
    LEASTRECENT = "leastrecent"
    FEWESTCALLS = "fewestcalls"
    RRMEMORY = "rrmemory"
    LINEAR = "linear"
    RANDOM = "random"


class OverflowKind(StrEnum):
    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"


@dataclass(frozen=True, slots=True)
class QueueConfig:
    name: str
    strategy: Strategy = Strategy.RINGALL
    ring_timeout_s: int = 15
    # Pause between a ring timeout and this call's next attempt (app_queue's `retry`).
    retry_s: int = 0
    wrapup_s: int = 0
    max_wait_s: int | None = None
    overflow_kind: OverflowKind | None = None
    # Queue name, voicemail box, or callback list, depending on `overflow_kind`.
    overflow_target: str = ""
    announce_position_every_s: int | None = None
    # Skill name -> minimum level an agent needs to be offered this queue's calls.
    required_skills: Mapping[str, int] = field(default_factory=dict)
    # Ring-no-answer pauses the agent (app_queue's `autopause`); off, they stay available.
    autopause: bool = True
    default_handle_s: int = 180
    # How a callback whose customer does not answer is tried again.
    callback_rule: CallbackRule = field(default_factory=CallbackRule)

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        if self.overflow_kind is not None:
            object.__setattr__(self, "overflow_kind", OverflowKind(self.overflow_kind))
        object.__setattr__(self, "required_skills", dict(self.required_skills))
        for problem in self._problems():
            raise ValueError(f"queue {self.name!r}: {problem}")

    def _problems(self) -> Iterator[str]:
        if not self.name:
            yield "a queue needs a name"
        if self.ring_timeout_s <= 0:
            yield "ring_timeout_s must be positive"
        if self.retry_s < 0 or self.wrapup_s < 0:
            yield "retry_s and wrapup_s cannot be negative"
        if self.max_wait_s is not None and self.max_wait_s <= 0:
            yield "max_wait_s must be positive when set"
        if self.max_wait_s is not None and self.overflow_kind is None:
            yield "max_wait_s needs an overflow target"
        if self.overflow_kind is OverflowKind.QUEUE and self.overflow_target in ("", self.name):
            yield "overflow to a queue needs another queue's name"
        if self.announce_position_every_s is not None and self.announce_position_every_s <= 0:
            yield "announce_position_every_s must be positive when set"
        if self.default_handle_s <= 0:
            yield "default_handle_s must be positive"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "strategy": self.strategy.value,
            "ring_timeout_s": self.ring_timeout_s,
            "retry_s": self.retry_s,
            "wrapup_s": self.wrapup_s,
            "max_wait_s": self.max_wait_s,
            "overflow_kind": self.overflow_kind.value if self.overflow_kind else None,
            "overflow_target": self.overflow_target,
            "announce_position_every_s": self.announce_position_every_s,
            "required_skills": dict(self.required_skills),
            "autopause": self.autopause,
            "default_handle_s": self.default_handle_s,
            "callback_rule": self.callback_rule.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueConfig:
        values = dict(data)
        if "callback_rule" in values:
            values["callback_rule"] = CallbackRule.from_dict(values["callback_rule"])
        return cls(**values)


class EntryKind(StrEnum):
    CALLER = "caller"  # someone on the line, listening to music on hold
    CALLBACK = "callback"  # someone who hung up and asked to be called back


@dataclass(slots=True)
class WaitingCall:
    call_id: str
    priority: int
    # First entry into any queue: orders service, and measures the wait a caller feels.
    arrived_at: datetime
    # Entry into this queue: starts this queue's max-wait clock.
    queued_at: datetime
    # The ACD's arrival counter: keeps FIFO exact when two calls share a timestamp.
    seq: int
    caller_number: str | None = None
    kind: EntryKind = EntryKind.CALLER
    ringing: list[str] = field(default_factory=list)
    ring_deadline: datetime | None = None
    retry_at: datetime | None = None
    # Agents already rung for this call in the current round, so "try the next" moves on.
    tried: list[str] = field(default_factory=list)
    next_announce_at: datetime | None = None
    # A callback request: how many times the customer has been dialled for it.
    attempts: int = 0

    def order_key(self) -> tuple[int, datetime, int]:
        return (-self.priority, self.arrived_at, self.seq)

    def waited_s(self, now: datetime) -> int:
        return int((now - self.arrived_at).total_seconds())

    def ready_to_ring(self, now: datetime) -> bool:
        return not self.ringing and (self.retry_at is None or self.retry_at <= now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "priority": self.priority,
            "arrived_at": dump_time(self.arrived_at),
            "queued_at": dump_time(self.queued_at),
            "seq": self.seq,
            "caller_number": self.caller_number,
            "kind": self.kind.value,
            "ringing": list(self.ringing),
            "ring_deadline": dump_time(self.ring_deadline),
            "retry_at": dump_time(self.retry_at),
            "tried": list(self.tried),
            "next_announce_at": dump_time(self.next_announce_at),
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaitingCall:
        return cls(
            call_id=data["call_id"],
            priority=data["priority"],
            arrived_at=_time(data["arrived_at"]),
            queued_at=_time(data["queued_at"]),
            seq=data["seq"],
            caller_number=data.get("caller_number"),
            kind=EntryKind(data.get("kind", EntryKind.CALLER)),
            ringing=list(data.get("ringing", [])),
            ring_deadline=load_time(data.get("ring_deadline")),
            retry_at=load_time(data.get("retry_at")),
            tried=list(data.get("tried", [])),
            next_announce_at=load_time(data.get("next_announce_at")),
            attempts=data.get("attempts", 0),
        )


@dataclass(frozen=True, slots=True)
class AbandonedCall:
    call_id: str
    waited_s: int
    position: int
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "waited_s": self.waited_s,
            "position": self.position,
            "at": dump_time(self.at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AbandonedCall:
        return cls(**{**data, "at": _time(data["at"])})


@dataclass(slots=True)
class Queue:
    """One queue's configuration and its live state: who waits, in which order."""

    config: QueueConfig
    waiting: list[WaitingCall] = field(default_factory=list)
    recent_handle_s: list[int] = field(default_factory=list)
    abandoned: list[AbandonedCall] = field(default_factory=list)
    # rrmemory's memory: the member key (order, agent id) of the agent rung last.
    rr_last: tuple[int, str] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def add(self, entry: WaitingCall) -> None:
        bisect.insort(self.waiting, entry, key=WaitingCall.order_key)

    def get(self, call_id: str) -> WaitingCall | None:
        return next((entry for entry in self.waiting if entry.call_id == call_id), None)

    def remove(self, call_id: str) -> WaitingCall:
        index = self._index(call_id)
        return self.waiting.pop(index)

    def position(self, call_id: str) -> int:
        """1 for the next call to be served; callbacks holding a place count too."""
        return self._index(call_id) + 1

    def admit_overflow(self, entry: WaitingCall, now: datetime) -> None:
        """Take a caller overflowing from another queue.

        They keep their arrival time (their place by total wait), but this queue's max-wait
        clock starts now so they do not bounce straight on.
        """
        fresh = replace(entry, queued_at=now, ringing=[], tried=[], retry_at=None)
        fresh.next_announce_at = self.first_announcement(now)
        self.add(fresh)

    def first_announcement(self, now: datetime) -> datetime | None:
        every = self.config.announce_position_every_s
        return now + timedelta(seconds=every) if every else None

    def due_announcements(self, now: datetime, staffed: int) -> list[Announce]:
        """Position announcements due now, for callers on the line and not being rung."""
        every = self.config.announce_position_every_s
        announcements: list[Announce] = []
        for position, entry in enumerate(self.waiting, start=1):
            due = entry.next_announce_at
            if every is None or due is None or due > now:
                continue
            if entry.kind is not EntryKind.CALLER or entry.ringing:
                continue
            estimate = self.estimated_wait_s(position, staffed)
            announcements.append(Announce(entry.call_id, position, estimate))
            # Skip announcements missed while ringing instead of replaying them in a burst.
            missed = int((now - due).total_seconds()) // every
            entry.next_announce_at = due + timedelta(seconds=every * (missed + 1))
        return announcements

    def record_handle_time(self, seconds: int) -> None:
        self.recent_handle_s = [*self.recent_handle_s, max(0, seconds)][-RECENT_HANDLE_TIMES:]

    def record_abandoned(self, entry: WaitingCall, now: datetime) -> AbandonedCall:
        record = AbandonedCall(
            entry.call_id, entry.waited_s(now), self.position(entry.call_id), now
        )
        self.abandoned = [*self.abandoned, record][-RECENT_ABANDONED:]
        return record

    def average_handle_s(self) -> float:
        if not self.recent_handle_s:
            return float(self.config.default_handle_s)
        return sum(self.recent_handle_s) / len(self.recent_handle_s)

    def estimated_wait_s(self, position: int, staffed: int) -> int | None:
        """See the module docstring for the formula."""
        if staffed <= 0:
            return None
        return math.ceil(position * self.average_handle_s() / staffed)

    def _index(self, call_id: str) -> int:
        for index, entry in enumerate(self.waiting):
            if entry.call_id == call_id:
                return index
        raise KeyError(call_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "waiting": [entry.to_dict() for entry in self.waiting],
            "recent_handle_s": list(self.recent_handle_s),
            "abandoned": [record.to_dict() for record in self.abandoned],
            "rr_last": list(self.rr_last) if self.rr_last else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Queue:
        rr_last = data.get("rr_last")
        queue = cls(
            config=QueueConfig.from_dict(data["config"]),
            recent_handle_s=list(data.get("recent_handle_s", [])),
            abandoned=[AbandonedCall.from_dict(a) for a in data.get("abandoned", [])],
            rr_last=(int(rr_last[0]), str(rr_last[1])) if rr_last else None,
        )
        for entry in data.get("waiting", []):
            queue.add(WaitingCall.from_dict(entry))
        return queue


def _time(value: str) -> datetime:
    return parse_instant(value)
