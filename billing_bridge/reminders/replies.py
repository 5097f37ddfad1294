"""A customer's SMS reply asking for no more messages (STOP), as the gateway forwards it:
the customers with that number are opted out in every business that sent an SMS to it
(the reply answers that business's message; one that never wrote to the number is not
touched). Each opt-out in its business's own transaction, audited and emitted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select

from billing_bridge.reminders.store import opt_out
from pbx.db.database import Database
from pbx.db.models import CustomerPhone, OutboxMessage


async def stop_requested(database: Database, number: str, now: datetime) -> int:
    """Opt out whoever `number` (E.164) is in the businesses that texted it; how many
    customers were opted out now (0: none, or all already were)."""
    async with database.system_session() as session:
        texted = exists().where(OutboxMessage.tenant_id == CustomerPhone.tenant_id,
                                OutboxMessage.channel == "sms",
                                OutboxMessage.recipient == number)  # fmt: skip
        owners = (await session.execute(
            select(CustomerPhone.tenant_id, CustomerPhone.customer_id)
            .where(CustomerPhone.e164 == number, texted).distinct()
            .order_by(CustomerPhone.tenant_id, CustomerPhone.customer_id)
        )).all()  # fmt: skip
    opted = 0
    for tenant_id, customer_id in owners:
        async with database.tenant_session(tenant_id) as session, session.begin():
            opted += await opt_out(session, tenant_id, customer_id, via="sms_stop", now=now)
    return opted
