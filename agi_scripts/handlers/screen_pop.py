"""`agi://HOST:PORT/screen-pop,MEMBER,UNIQUEID,CUSTOMER_ID`: pop the agent's screen from a
dialplan that keeps app_queue (AGI-only deployments).

app_queue's connect routine runs this on each member channel as it is about to ring
(asterisk-conf `[ledgerline-screen-pop]`): MEMBER is the interface being rung (PJSIP/1001),
UNIQUEID the caller's channel, CUSTOMER_ID what caller-lookup found (may be empty). The
agent is found by their endpoint; the pop is the same `call.offered` event the ARI call
flow sends. Sets LL_POP to `sent`, or `unknown-agent` when no agent has that endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from agi_scripts.fastagi.server import Handler
from agi_scripts.fastagi.session import AGISession
from billing_bridge.phones import normalise_caller_id
from billing_bridge.screen_pop import customer_panel
from pbx.db.database import Database
from pbx.db.models import Tenant, User
from pbx.events.hub import Hub
from pbx.events.model import Audience, DeskEvent

log = logging.getLogger(__name__)


def screen_pop(database: Database, hub: Hub, clock: Callable[[], datetime]) -> Handler:
    async def handle(session: AGISession) -> None:
        args = [*session.env.args, "", "", ""]
        member, caller_uniqueid, customer = args[0].strip(), args[1].strip(), args[2].strip()
        async with database.system_session() as db:
            agents = list(await db.execute(
                select(User.id, User.tenant_id, Tenant.default_region)
                .join(Tenant, Tenant.id == User.tenant_id)
                .where(User.endpoint == member, User.active.is_(True))
            ))  # fmt: skip
        if not member or not agents:
            log.warning("screen-pop for %r: no active agent has that endpoint", member)
            await session.set_variable("LL_POP", "unknown-agent")
            return
        for user_id, tenant_id, region in agents:
            panel = None
            if customer.isdigit():
                panel = await customer_panel(database, tenant_id, int(customer), clock().date())
            caller = normalise_caller_id(session.env.callerid, region)
            data = {
                "call_id": caller_uniqueid, "source": "agi", "direction": "inbound",
                "caller_number": caller.e164, "match": "unique" if panel else "none",
                "customer_id": int(customer) if panel else None, "queue": None,
                "panel": panel,
            }  # fmt: skip
            await hub.publish(DeskEvent("call.offered", tenant_id, Audience((user_id,)), data))
        await session.set_variable("LL_POP", "sent")

    return handle
