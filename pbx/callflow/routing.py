"""Where an inbound call goes: its route, the clock and who is calling decide (pure).

Open: the route's queue, or its collections queue for a caller in arrears, at the caller's
priority (VIP above collections above everyone else). Closed: the route's out-of-hours
target (another queue, such as an out-of-hours team; voicemail; or a hang-up after a
closed message).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pbx.callflow.hours import OpeningHours
from pbx.callflow.self_service_config import SelfServiceMenu


class Verification(StrEnum):
    NONE = "none"
    PIN = "pin"
    DATE_OF_BIRTH = "date_of_birth"


class ClosedKind(StrEnum):
    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    HANGUP = "hangup"


@dataclass(frozen=True, slots=True)
class Route:
    route_id: int
    tenant_id: int
    did: str  # E.164
    queue: str  # the ACD's queue key (see `pbx.callflow.config.queue_key`)
    collections_queue: str | None = None
    hours: OpeningHours | None = None  # None: always open
    closed_kind: ClosedKind = ClosedKind.HANGUP
    closed_target: str = ""  # an ACD queue key or a voicemail box, by `closed_kind`
    verification: Verification = Verification.NONE
    verification_attempts: int = 3
    menu: Menu | None = None
    recording_policy: str = "all"  # recordings.policy: all, none, on_demand
    recording_announcement: str | None = None  # a sound name; None: the default prompt
    self_service: SelfServiceMenu | None = None  # offered before the queue, while open
    language: str | None = None  # what its callers hear; None: the business's language


@dataclass(frozen=True, slots=True)
class Menu:
    """Press a digit to choose a queue; no (valid) choice keeps the route's own queue."""

    prompt: str  # a sound name, e.g. ledgerline-menu
    options: Mapping[str, str]  # digit -> ACD queue key
    attempts: int = 2


@dataclass(frozen=True, slots=True)
class Caller:
    """What routing needs to know about who is calling (from identification)."""

    priority: int = 0
    in_arrears: bool = False  # an overdue or suspended account


class DestinationKind(StrEnum):
    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    CLOSED = "closed"  # play the closed message and hang up


@dataclass(frozen=True, slots=True)
class Destination:
    kind: DestinationKind
    target: str = ""  # queue key or voicemail box
    priority: int = 0


def route_call(
    route: Route, caller: Caller, now: datetime, chosen_queue: str | None = None
) -> Destination:
    """`chosen_queue`: what the caller picked in the route's menu; it wins over the
    collections queue (they said what they called about), not over the opening hours."""
    if route.hours is not None and not route.hours.is_open(now):
        return _closed(route, caller)
    if chosen_queue is not None:
        return Destination(DestinationKind.QUEUE, chosen_queue, caller.priority)
    queue = route.collections_queue if caller.in_arrears and route.collections_queue else None
    return Destination(DestinationKind.QUEUE, queue or route.queue, caller.priority)


def is_open(route: Route, now: datetime) -> bool:
    return route.hours is None or route.hours.is_open(now)


def _closed(route: Route, caller: Caller) -> Destination:
    if route.closed_kind is ClosedKind.QUEUE and route.closed_target:
        return Destination(DestinationKind.QUEUE, route.closed_target, caller.priority)
    if route.closed_kind is ClosedKind.VOICEMAIL and route.closed_target:
        return Destination(DestinationKind.VOICEMAIL, route.closed_target)
    return Destination(DestinationKind.CLOSED)
