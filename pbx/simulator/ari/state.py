"""The simulated Asterisk's objects: channels, bridges, playbacks, recordings.

Plain data. The rules that change them live in `model.py`, `bridging.py` and `media.py`;
the way they look on the wire lives in `render.py`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# ast_cause2str for the causes Ledgerline meets (main/channel.c `causes[]`).
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}
NORMAL_CLEARING = 16
# A hangup requested through ARI is a soft hangup with AST_SOFTHANGUP_EXPLICIT (0x20); the
# ChannelHangupRequest event reports those flags as its `cause` (seen in the captures).
SOFTHANGUP_EXPLICIT = 32


class AriError(Exception):
    """An ARI error reply: the HTTP status and the `message` of Asterisk's JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Party:
    """CallerID / connected line: a name and a number, both possibly empty."""

    name: str = ""
    number: str = ""


@dataclass
class Channel:
    id: str
    name: str
    tech: str  # "PJSIP", "Local", "Snoop"
    created: float
    state: str = "Down"
    protocol_id: str = ""
    caller: Party = field(default_factory=Party)
    connected: Party = field(default_factory=Party)
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    app_name: str = ""
    app_data: str = ""
    language: str = "en"
    variables: dict[str, str] = field(default_factory=dict)
    reported_variables: set[str] = field(default_factory=set)  # report_events=true
    subscribers: Counter[str] = field(default_factory=Counter)  # app -> references
    stasis_app: str | None = None
    peer_id: str | None = None  # the other half of a Local channel or of a looped trunk call
    peer_subscribed: bool = False  # the peer is a Local half (ARI subscribes to both halves)
    bridge_id: str | None = None
    originated: bool = False  # placed by ARI: Dial events, dialplan shows AppDial2
    dialstring: str = ""
    dialing: bool = False  # dialled and not yet answered
    created_by_ari: bool = False  # POST /channels/create: may be dialled once
    muted: set[str] = field(default_factory=set)  # "in" / "out"
    bridge_muted: bool = False
    absorb_dtmf: bool = False
    held: bool = False
    moh_class: str | None = None
    silence: bool = False
    talks: bool = True  # the far end sends audio (a silent agent does not)
    heard: list[str] = field(default_factory=list)  # media and music played to the far end
    digits_sent: list[str] = field(default_factory=list)  # DTMF sent to the far end
    snoop_of: str | None = None
    snoops: list[str] = field(default_factory=list)  # snoop channels on this one
    hangup_cause: int = NORMAL_CLEARING
    gone: bool = False

    @property
    def in_stasis(self) -> bool:
        return self.stasis_app is not None

    def dialplan_location(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "exten": self.exten,
            "priority": self.priority,
            "app_name": self.app_name,
            "app_data": self.app_data,
        }


@dataclass
class Bridge:
    id: str
    name: str
    types: frozenset[str]
    created: float
    channels: list[str] = field(default_factory=list)
    subscribers: Counter[str] = field(default_factory=Counter)
    moh_class: str | None = None

    @property
    def holding(self) -> bool:
        return "holding" in self.types


@dataclass
class Playback:
    id: str
    media: list[str]
    target_uri: str
    language: str
    state: str = "queued"  # queued, playing, paused, done, canceled, failed
    index: int = 0  # which of `media` is playing

    @property
    def target_id(self) -> str:
        return self.target_uri.partition(":")[2]


@dataclass
class LiveRecording:
    name: str
    format: str
    target_uri: str
    if_exists: str
    terminate_on: str
    max_duration: int
    state: str = "queued"  # queued, recording, paused, done, canceled, failed
    muted: bool = False
    segments: list[tuple[float, bool]] = field(default_factory=list)  # (seconds, audible)
    segment_start: float | None = None
    duration: int | None = None

    @property
    def target_id(self) -> str:
        return self.target_uri.partition(":")[2]

    @property
    def on_bridge(self) -> bool:
        return self.target_uri.startswith("bridge:")


@dataclass
class StoredRecording:
    name: str
    format: str
    data: bytes
