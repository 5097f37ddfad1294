"""After a change to customers has committed (the billing API, a Stripe Billing event): the
caller lookup forgets their numbers in every process, and agents on a call with one of them
get `account.updated` with the panel as it is now. The change stands whatever fails here: a
failure is logged, never the client's error."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from billing_bridge.business_days import business_today
from billing_bridge.live_accounts import live_change
from billing_bridge.screen_pop import customer_panel
from pbx.events.model import Audience, DeskEvent
from pbx.events.payloads import AccountUpdated
from pbx.http.context import ApiContext

log = logging.getLogger(__name__)


async def announce(
    ctx: ApiContext, tenant_id: int, customer_ids: Iterable[int], numbers: Iterable[str]
) -> None:
    now = datetime.now(UTC)
    try:
        change = await live_change(ctx.database, tenant_id, customer_ids, numbers, now)
        if change.numbers and ctx.forget_numbers is not None:
            await ctx.forget_numbers(tenant_id, change.numbers)
        if ctx.hub is None or not change.calls:
            return
        panels: dict[int, dict[str, Any] | None] = {}
        today = await business_today(ctx.database, tenant_id, now)  # "overdue" as it counts it
        for on in change.calls:
            if on.customer_id not in panels:
                read = customer_panel(ctx.database, tenant_id, on.customer_id, today)
                panels[on.customer_id] = await read
            panel = panels[on.customer_id]
            if panel is None:
                continue
            recent = [c for c in panel["recent_calls"] if c["id"] != on.record_id][:5]
            payload = AccountUpdated(call_id=on.call_id, record_id=on.record_id,
                                     customer_id=on.customer_id,
                                     panel={**panel, "recent_calls": recent})  # fmt: skip
            await ctx.hub.publish(DeskEvent.of(tenant_id, Audience((on.agent_id,)), payload))
    except Exception:
        log.exception("customer change committed; its live effect failed")
