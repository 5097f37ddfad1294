"""The call flow's own record of each call: which channels and bridges belong to it.

The ACD knows calls by id only; this is the map from those ids to Asterisk's objects, kept
beside the ACD's state in the same snapshot so a restarted process can pick both up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pbx.acd.serial import dump_time, load_time


class Phase(StrEnum):
    ARRIVING = "arriving"  # answered, being identified, verified and routed
    QUEUED = "queued"  # in the holding bridge, waiting for (or ringing) an agent
    CONNECTED = "connected"  # bridged with an agent
    CALLBACK = "callback"  # the caller asked to be called back and left; no channel now
    ENDED = "ended"


@dataclass
class FlowCall:
    call_id: str  # the caller's channel id, also the ACD's call id
    tenant_id: int
    record_id: int  # calls.id in the call log
    caller_channel: str | None
    tenant_slug: str = ""  # names the business's own prompts (its consent scripts)
    language: str = "en"  # the caller channel's language: the route's, or the business's
    caller_number: str | None = None  # E.164
    match: str = "none"  # identification: unique, ambiguous, none
    did: str = ""  # the dialed number as E.164 (or as Asterisk gave it)
    customer_id: int | None = None
    priority: int = 0
    in_arrears: bool = False
    phase: Phase = Phase.ARRIVING
    queue: str | None = None  # ACD queue key
    # Waiting for an agent, the caller hears music on their own channel (no bridge yet);
    # an announcement suspends it, and it is started again once that has played.
    music: bool = False
    music_after_playback: str | None = None
    holding_bridge: str | None = None  # on hold, or queued again by a transfer
    bridge: str | None = None  # the mixing bridge with the agent
    agent_id: str | None = None
    agent_channel: str | None = None
    customer_channel: str | None = None  # a callback's or click-to-call's leg to the customer
    on_hold: bool = False  # the caller is in the holding bridge while connected
    # A transfer in progress: the leg dialled to its target, and how it completes.
    third_channel: str | None = None
    transfer: str | None = None  # "blind" or "attended"
    # The agent dialled on `third_channel` (None for an outside number): busy in the ACD
    # from the moment they are dialled, and the call's agent once the transfer is done.
    third_agent: str | None = None
    consult_bridge: str | None = None  # attended: the agent talks to the target here
    direction: str = "inbound"
    dial_after_agent: str | None = None  # click-to-call: the number to dial once they answer
    # Agent legs being rung for this call: channel id -> agent id.
    ringing: dict[str, str] = field(default_factory=dict)
    arrived_at: datetime | None = None
    queued_at: datetime | None = None
    offered_at: datetime | None = None
    answered_at: datetime | None = None
    # "pin" or "date_of_birth" when the IVR verified the caller, "failed" when it could not.
    verified: str | None = None
    # Set once the call's outcome is decided before it ends (closed, callback, ...).
    outcome: str | None = None
    # A playback that hangs the caller up when it finishes (closed, callback confirmed).
    hangup_after_playback: str | None = None
    # The live recording (Asterisk's name) and its index row, while the call is recorded.
    recording: str | None = None
    recording_id: int | None = None
    # Whether the caller heard the recording notice: "played" or "failed" (also on the row).
    recording_notice: str | None = None
    # The caller is out of the agent's bridge keying details ("payment", "mandate"), and
    # whether the recording was paused for it: saved at once, so that if this process dies
    # meanwhile, whoever serves next puts the caller back.
    keying: str | None = None
    keying_paused: bool = False
    # What the caller did in the IVR's self-service menu, in order (`self_service.Step`).
    self_service: list[str] = field(default_factory=list)
    # A callback's attempt at calling the customer (`callbacks.py`): the asking call's row
    # (`record_id` is then the attempt's own), which attempt, and whether they answered.
    callback_of: int | None = None
    callback_attempt: int = 0
    customer_answered: bool = False

    def waited(self, until: datetime) -> int:
        """Whole seconds in the queue up to `until` (the call log's `wait_seconds`); 0 for
        a call never queued."""
        return int((until - (self.queued_at or until)).total_seconds())

    def channels(self) -> list[str]:
        """Every channel of this call that Ledgerline placed or holds."""
        ids = [
            self.caller_channel, self.agent_channel, self.customer_channel, self.third_channel,
            *self.ringing,
        ]  # fmt: skip
        return [channel for channel in ids if channel]

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "tenant_id": self.tenant_id,
            "tenant_slug": self.tenant_slug,
            "language": self.language,
            "record_id": self.record_id,
            "caller_channel": self.caller_channel,
            "caller_number": self.caller_number,
            "match": self.match,
            "did": self.did,
            "customer_id": self.customer_id,
            "priority": self.priority,
            "in_arrears": self.in_arrears,
            "phase": self.phase.value,
            "queue": self.queue,
            "music": self.music,
            "music_after_playback": self.music_after_playback,
            "holding_bridge": self.holding_bridge,
            "bridge": self.bridge,
            "agent_id": self.agent_id,
            "agent_channel": self.agent_channel,
            "customer_channel": self.customer_channel,
            "ringing": dict(self.ringing),
            "on_hold": self.on_hold,
            "third_channel": self.third_channel,
            "transfer": self.transfer,
            "third_agent": self.third_agent,
            "consult_bridge": self.consult_bridge,
            "direction": self.direction,
            "dial_after_agent": self.dial_after_agent,
            "arrived_at": dump_time(self.arrived_at),
            "queued_at": dump_time(self.queued_at),
            "offered_at": dump_time(self.offered_at),
            "answered_at": dump_time(self.answered_at),
            "verified": self.verified,
            "outcome": self.outcome,
            "hangup_after_playback": self.hangup_after_playback,
            "recording": self.recording,
            "recording_id": self.recording_id,
            "recording_notice": self.recording_notice,
            "keying": self.keying,
            "keying_paused": self.keying_paused,
            "self_service": list(self.self_service),
            "callback_of": self.callback_of,
            "callback_attempt": self.callback_attempt,
            "customer_answered": self.customer_answered,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlowCall:
        times = ("arrived_at", "queued_at", "offered_at", "answered_at")
        values = dict(data)
        for name in times:
            values[name] = load_time(data.get(name))
        values["phase"] = Phase(data["phase"])
        values["ringing"] = dict(data.get("ringing") or {})
        return cls(**values)
