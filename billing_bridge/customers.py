"""A customer as the billing system knows it, read by its own reference (machine clients with
an API key; the upserts of issue 15 will write here too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from pbx.db.database import Database
from pbx.db.models import Customer


@dataclass(frozen=True, slots=True)
class BillingCustomer:
    ref: str
    name: str
    email: str | None
    phones: tuple[str, ...]
    updated_at: datetime


async def customer_by_ref(database: Database, tenant_id: int, ref: str) -> BillingCustomer | None:
    """The business's customer with this reference, or None (another business's is not found,
    exactly as a missing one: the session is scoped to `tenant_id`)."""
    async with database.tenant_session(tenant_id) as session:
        row = await session.scalar(
            select(Customer).where(Customer.customer_ref == ref)
            .options(selectinload(Customer.phones)))  # fmt: skip
        if row is None:
            return None
        phones = tuple(phone.e164 for phone in row.phones)
        return BillingCustomer(row.customer_ref, row.name, row.email, phones, row.updated_at)
