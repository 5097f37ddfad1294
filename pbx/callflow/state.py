"""Everything the call flow knows at one moment: the ACD engine and the calls it carries,
with an index from every channel to its call. Serialises to one JSON document."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pbx.acd.engine import Engine
from pbx.callflow.calls import FlowCall

STATE_VERSION = 1

Role = Literal["caller", "agent", "ringing", "customer", "third"]


@dataclass(frozen=True, slots=True)
class Leg:
    """What a channel is to the call flow."""

    call: FlowCall
    role: Role
    agent_id: str | None = None  # for "agent" and "ringing"


class FlowState:
    def __init__(self, engine: Engine, calls: Mapping[str, FlowCall] | None = None) -> None:
        self.engine = engine
        self.calls: dict[str, FlowCall] = dict(calls or {})
        # channel id -> the call it joined; `leg` checks the call still holds the channel.
        # Every channel is noted as it joins a call (`add`, `note`), so a channel missing
        # here is nobody's: no search through every call, which made each new caller cost
        # more the more calls were up (and most when the flow was behind).
        self._seen: dict[str, str] = {}
        self._index()

    def restore(self, saved: FlowState) -> None:
        """Take over a saved state in place (the executor keeps its reference to this one)."""
        self.engine, self.calls = saved.engine, dict(saved.calls)
        self._index()

    def __iter__(self) -> Iterator[FlowCall]:
        return iter(list(self.calls.values()))

    def add(self, call: FlowCall) -> None:
        self.calls[call.call_id] = call
        for channel_id in call.channels():
            self.note(channel_id, call)

    def drop(self, call_id: str) -> FlowCall | None:
        return self.calls.pop(call_id, None)

    def leg(self, channel_id: str) -> Leg | None:
        """Which call a channel belongs to, and as what."""
        known = self._seen.get(channel_id)
        if known is None:
            return None
        # A channel never moves to another call: once its own call has let it go (or
        # ended), it is nobody's. This keeps the events that trail a call cheap.
        call = self.calls.get(known)
        return _leg_of(call, channel_id) if call is not None else None

    def note(self, channel_id: str, call: FlowCall) -> None:
        """The channel joins the call (as any leg): its events will find it."""
        if len(self._seen) > 4 * len(self.calls) + 1000:
            self._index()  # forget channels of calls long gone
        self._seen[channel_id] = call.call_id

    def _index(self) -> None:
        self._seen = {
            channel_id: call.call_id
            for call in self.calls.values()
            for channel_id in call.channels()
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "engine": self.engine.to_dict(),
            "calls": [call.to_dict() for call in self.calls.values()],
        }

    def to_json(self) -> str:
        """`to_dict` as JSON text, the engine's agents serialised only when changed."""
        calls = json.dumps([call.to_dict() for call in self.calls.values()])
        return (
            f'{{"version": {STATE_VERSION}, "engine": {self.engine.to_json()}, "calls": {calls}}}'
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlowState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported call flow state version {data.get('version')!r}")
        calls = (FlowCall.from_dict(raw) for raw in data.get("calls", ()))
        return cls(Engine.from_dict(data["engine"]), {call.call_id: call for call in calls})

    @classmethod
    def empty(cls, rng: random.Random | None = None) -> FlowState:
        return cls(Engine(rng or random.Random()))


def _leg_of(call: FlowCall, channel_id: str) -> Leg | None:
    if call.caller_channel == channel_id:
        return Leg(call, "caller")
    if call.agent_channel == channel_id:
        return Leg(call, "agent", call.agent_id)
    if call.customer_channel == channel_id:
        return Leg(call, "customer")
    if call.third_channel == channel_id:
        return Leg(call, "third")
    if channel_id in call.ringing:
        return Leg(call, "ringing", call.ringing[channel_id])
    return None
