"""Which calls are recorded (pure).

A policy is "all" (every call, from the start), "none" (never) or "on_demand" (only when an
agent or supervisor starts it). It is set on each inbound route (default "all") and may be
set on a queue (default None).

Precedence: the queue's policy, when it has one, wins over the route's; a queue without one
follows the route. The queue is the narrower setting (who the caller is talking to: a
collections team that must be recorded, a welfare line that must not), the route the default
for every call to that number. A deployment that configures nothing records every call.

The queue a call is in can change (IVR menu, collections routing, overflow, transfer): the
call flow asks again whenever the call reaches a queue.
"""

from __future__ import annotations

POLICIES = ("all", "none", "on_demand")
ROUTE_DEFAULT = "all"
# Played to the caller when recording is on; a route may name its own prompt instead.
DEFAULT_ANNOUNCEMENT = "ledgerline-call-recorded"


def effective_policy(route_policy: str, queue_policy: str | None) -> str:
    _check(route_policy)
    if queue_policy is None:
        return route_policy
    _check(queue_policy)
    return queue_policy


def should_record_from_start(route_policy: str, queue_policy: str | None) -> bool:
    """Whether the call flow starts recording as soon as the call is in this queue."""
    return effective_policy(route_policy, queue_policy) == "all"


def may_record_on_demand(route_policy: str, queue_policy: str | None) -> bool:
    """Whether an agent or supervisor may start (and stop) recording this call."""
    return effective_policy(route_policy, queue_policy) == "on_demand"


def announcement(route_announcement: str | None) -> str:
    """The media URI telling the caller the call is recorded."""
    return f"sound:{route_announcement or DEFAULT_ANNOUNCEMENT}"


def _check(policy: str) -> None:
    if policy not in POLICIES:
        raise ValueError(f"unknown recording policy {policy!r}; expected one of {POLICIES}")
