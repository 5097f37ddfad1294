"""Who is calling: the agent attaches the caller to the call once they know (a household's
member picked on the pop, or a customer found by search)."""

from __future__ import annotations

from billing_bridge.call_customer import Attachment
from pbx.desk.commands import Actor, AttachCustomer
from pbx.desk.handlers.common import Ports, own_call
from pbx.desk.results import CustomerAttached


async def attach_customer(ports: Ports, actor: Actor, command: AttachCustomer) -> CustomerAttached:
    """Logged and audited first (refused there when the customer is not one the pick
    allows); then the live call is theirs, and its desks get their panel."""
    call = own_call(ports, actor, command.call_id)
    attached = await ports.money.attach_customer(Attachment(
        actor.tenant_id, call.record_id, call.caller_number, command.customer_id, command.via,
        actor,
    ))  # fmt: skip
    await ports.calls.attach_customer(call.call_id, attached.customer_id)
    return CustomerAttached(call.call_id, attached.customer_id, attached.previous_customer_id)
