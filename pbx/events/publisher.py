"""Turns what happens in the call flow into desk events: the screen-pop when a call is
offered (with a household's members when several customers share the number), the call
connected and ended, the panel of a caller the agent attached, agent state changes. The
one screen-pop builder: the AGI-only setup's pop (`offer_ringing`) is built here too, in the
same shape.

The call flow hands over notices in order through one queue; this worker builds each event
(the pop reads the customer's accounts) and appends it to the log, so a slow database never
holds the call flow's lock, and events of one call keep their order. Notices that waited
together are appended together, in one round trip to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from billing_bridge.business_days import BusinessDays
from billing_bridge.household import household
from billing_bridge.phones import normalise_caller_id
from billing_bridge.screen_pop import customer_panel
from pbx.db.database import Database
from pbx.db.models import Tenant, User
from pbx.events.codec import DeskCodecError
from pbx.events.hub import Hub
from pbx.events.model import Audience, DeskEvent
from pbx.events.payloads import AccountUpdated
from pbx.metrics import NO_METRICS, Metrics

log = logging.getLogger(__name__)

Notice = tuple[str, dict[str, Any], float]  # kind, payload, when noticed (monotonic)
BATCH = 100  # notices waiting together are appended in one round trip, up to this many


@dataclass(frozen=True, slots=True)
class Ringing:
    """A caller app_queue is ringing an agent's phone for (AGI-only setups), vouched for by
    caller-lookup's token: the business, the phone rung, the caller and who they are."""

    tenant_id: int
    endpoint: str  # the interface app_queue rings, e.g. PJSIP/1001
    call_id: str  # the caller's channel uniqueid
    caller_id: str
    customer_id: int | None


class DeskPublisher:
    def __init__(self, hub: Hub, database: Database, clock: Callable[[], datetime],
                 metrics: Metrics = NO_METRICS) -> None:  # fmt: skip
        self.hub, self.database, self.clock = hub, database, clock
        self.metrics = metrics  # each pop's latency: offered to published
        self._days = BusinessDays(database, clock)  # "overdue" in each business's own zone
        self._notices: asyncio.Queue[Notice] = asyncio.Queue(10_000)
        self._worker: asyncio.Task[None] | None = None
        # Panels being read ahead of the offer, by (tenant, customer); short-lived.
        self._panels: dict[tuple[int, int], asyncio.Task[dict[str, Any] | None]] = {}

    def notify(self, kind: str, payload: dict[str, Any]) -> None:
        """Called by the call flow (under its lock): never blocks, never raises."""
        try:
            self._notices.put_nowait((kind, payload, time.monotonic()))
        except asyncio.QueueFull:
            log.error("desk events backlog full: %s dropped", kind)

    def prefetch(self, tenant_id: int, customer_id: int) -> None:
        """Read the customer's panel now; the pop that follows uses it (if it is no older
        than the call, which it cannot be: it was read after the call arrived). Asked again
        (the caller changed their account in the IVR: a promise), it is read again, and the
        pop uses the newer read."""
        key = (tenant_id, customer_id)
        if len(self._panels) > 10_000:
            self._panels.clear()
        task = asyncio.get_running_loop().create_task(self._read_panel(tenant_id, customer_id))
        self._panels[key] = task

    async def _read_panel(self, tenant_id: int, customer_id: int) -> dict[str, Any] | None:
        today = await self._days.today(tenant_id)
        return await customer_panel(self.database, tenant_id, customer_id, today)

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="desk-publisher")

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await self._notices.join()  # what was noticed is published
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _run(self) -> None:
        while True:
            notices = [await self._notices.get()]
            while len(notices) < BATCH and not self._notices.empty():
                notices.append(self._notices.get_nowait())
            events = []
            pops: list[tuple[int, float]] = []  # (business, noticed) of each pop
            for kind, payload, noticed in notices:
                try:
                    events.append(await self._event(kind, payload))
                    if kind == "call.offered":
                        pops.append((payload["tenant_id"], noticed))
                except DeskCodecError as exc:  # a notice the codec refuses: one line
                    log.error("desk event %s not built: %s", kind, exc)
                except Exception:  # the database away while reading the panel
                    log.exception("desk event %s not built", kind)
            try:
                if events:
                    await self.hub.publish_all(events)
                published = time.monotonic()
                for tenant_id, noticed in pops:
                    self.metrics.pop_shown(tenant_id, published - noticed)
            except Exception:
                kinds = ", ".join(event.type for event in events)
                log.exception("desk events not published: %s", kinds)
            finally:
                for _ in notices:
                    self._notices.task_done()

    async def _event(self, kind: str, p: dict[str, Any]) -> DeskEvent:
        tenant = p["tenant_id"]
        queues = (p["queue"],) if p.get("queue") else ()
        if kind == "call.offered":
            data = dict(p["call"])
            data["panel"] = await self._panel(tenant, p["call"])
            if data["panel"] is None and data["match"] == "ambiguous" and data["caller_number"]:
                found = await household(self.database, tenant, data["caller_number"])
                data["household"] = found.to_json()
            return DeskEvent(kind, tenant, Audience(tuple(p["agents"]), queues), data)
        if kind == "account.updated":  # the agent attached the caller to the call
            call = p["call"]
            panel = await self._panel(tenant, call)
            if panel is None:
                raise LookupError(f"customer {call['customer_id']} is gone")
            payload = AccountUpdated(call_id=call["call_id"], record_id=call["record_id"],
                                     customer_id=call["customer_id"], panel=panel)  # fmt: skip
            return DeskEvent.of(tenant, Audience(tuple(p["agents"]), queues), payload)
        if kind == "agent.state":
            return DeskEvent(kind, tenant, Audience((p["agent_id"],), supervisors=True), p)
        if kind == "call.ended":  # a panel read ahead and never popped (no agent was offered
            self._forget_panel(tenant, p["call"].get("customer_id"))  # the call) goes with it
        return DeskEvent(kind, tenant, Audience(tuple(p["agents"]), queues), dict(p["call"]))

    def _forget_panel(self, tenant: int, customer: int | None) -> None:
        """Without this, the customer's next call would pop the panel read for this one."""
        ahead = self._panels.pop((tenant, customer), None) if customer is not None else None
        if ahead is not None and not ahead.done():
            ahead.cancel()

    async def offer_ringing(self, ringing: Ringing) -> bool:
        """Pop the desks of the business's active agents at that phone (False when none is):
        `call.offered` as the ARI call flow sends it, from a call Ledgerline does not log."""
        started = time.monotonic()
        async with self.database.system_session() as db:
            agents = list(await db.execute(
                select(User.id, Tenant.default_region)
                .join(Tenant, Tenant.id == User.tenant_id)
                .where(User.tenant_id == ringing.tenant_id, User.endpoint == ringing.endpoint,
                       User.active.is_(True))
            ))  # fmt: skip
        if not agents:
            return False
        caller = normalise_caller_id(ringing.caller_id, agents[0].default_region)
        call = {
            "call_id": ringing.call_id, "record_id": None, "direction": "inbound",
            "caller_number": caller.e164, "did": None, "match": "unique",
            "customer_id": ringing.customer_id, "priority": 0, "verified": None, "queue": None,
            "waited_seconds": 0, "agent_id": None, "outcome": None,
        }  # fmt: skip
        panel = await self._panel(ringing.tenant_id, call)
        if panel is None:  # no customer, or none of this business's
            call |= {"match": "none", "customer_id": None}
        audience = Audience(tuple(agent.id for agent in agents))
        await self.hub.publish(DeskEvent("call.offered", ringing.tenant_id, audience,
                                         call | {"panel": panel}))  # fmt: skip
        self.metrics.pop_shown(ringing.tenant_id, time.monotonic() - started)
        return True

    async def _panel(self, tenant: int, call: dict[str, Any]) -> dict[str, Any] | None:
        customer = call.get("customer_id")
        if customer is None:
            return None
        ahead = self._panels.pop((tenant, customer), None)
        try:
            panel = await ahead if ahead is not None else None
        except Exception:  # the read ahead failed: read again below
            panel = None
        if panel is None:
            panel = await self._read_panel(tenant, customer)
        if panel is None:
            return None
        # A read ahead is popped above, so this call is its only reader: no copy to make.
        recent = [c for c in panel["recent_calls"] if c["id"] != call.get("record_id")]
        return {**panel, "recent_calls": recent[:5]}  # this very call is not a "recent call"
