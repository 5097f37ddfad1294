"""Attaching the caller to a live call once the agent knows who it is: a household member
picked from the pop, or a customer the agent found by the desk's search.

Which customers may be attached (the rule the desk documents in docs/collections.md):
- `household`: one of the customers who share the number calling; anyone else is refused.
- `search`: any customer of the business (the agent identified the caller by asking and
  found them by name, reference or another number); the audit entry says it was by search.
A customer of another business is not found either way. Picking again (the wrong member was
picked) is allowed: the call log keeps the latest, the audit log every pick.

In one transaction: the call log row, the call's recordings (their metadata: the pipeline
stores a recording with its customer), and the audit entry `call.customer_attached`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update

from pbx.audit import Actor, Target, record
from pbx.db.database import Database
from pbx.db.models import Call, Customer, CustomerPhone, Recording

Via = Literal["household", "search"]


class CustomerNotFound(LookupError):
    """No such customer in this business."""


class NotOfHousehold(ValueError):
    """The customer does not share the number calling: pick them through the search."""


class CallNotLogged(LookupError):
    """The call's log row is gone."""


@dataclass(frozen=True, slots=True)
class Attachment:
    tenant_id: int
    call_record_id: int
    caller_number: str | None  # E.164, None when withheld
    customer_id: int
    via: Via
    actor: Actor


@dataclass(frozen=True, slots=True)
class Attached:
    customer_id: int
    previous_customer_id: int | None


async def attach_customer(database: Database, order: Attachment) -> Attached:
    async with database.tenant_session(order.tenant_id) as session, session.begin():
        customer = await session.scalar(select(Customer.id).where(Customer.id == order.customer_id))
        if customer is None:
            raise CustomerNotFound("customer not found")
        if order.via == "household" and not await session.scalar(
            select(CustomerPhone.id).where(CustomerPhone.customer_id == customer,
                                           CustomerPhone.e164 == order.caller_number)
        ):  # fmt: skip
            raise NotOfHousehold("this customer does not share the number calling: "
                                 "find them by search")  # fmt: skip
        row = await session.scalar(
            select(Call).where(Call.id == order.call_record_id).with_for_update()
        )
        if row is None:
            raise CallNotLogged("call not found")
        previous, row.customer_id = row.customer_id, customer
        await session.execute(
            update(Recording).where(Recording.call_id == row.id).values(customer_id=customer)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        record(session, tenant_id=order.tenant_id, actor=order.actor,
               action="call.customer_attached", target=Target("call", row.id),
               details={"customer_id": customer, "previous_customer_id": previous,
                        "via": order.via})  # fmt: skip
    return Attached(customer, previous)
