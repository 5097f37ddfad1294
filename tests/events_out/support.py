"""A business with a customer and an account, and reads of the events it has, for the
outgoing billing events' tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import Account, AccountEntry, BillingEvent, WebhookDelivery
from tests.factories import make_customer, make_tenant


@dataclass(frozen=True)
class Business:
    tenant_id: int
    customer_id: int
    account_id: int


async def business(
    database: Database, slug: str, did: str, balance_minor: int = 10_000
) -> Business:
    tenant_id = await make_tenant(database, slug, "IL", "ILS", [did])
    customer_id = await make_customer(
        database, tenant_id, f"{slug}-C1", f"{slug.title()} Customer", [],
        [{"ref": f"{slug}-A1", "currency": "ILS", "balance_minor": balance_minor}],
    )  # fmt: skip
    async with database.tenant_session(tenant_id) as session:
        account_id = await session.scalar(
            select(Account.id).where(Account.customer_id == customer_id)
        )
    assert account_id is not None
    return Business(tenant_id, customer_id, account_id)


async def events_of(database: Database, tenant_id: int) -> list[BillingEvent]:
    async with database.tenant_session(tenant_id) as session:
        return list(await session.scalars(select(BillingEvent).order_by(BillingEvent.seq)))


async def deliveries_of(database: Database, tenant_id: int) -> list[WebhookDelivery]:
    async with database.tenant_session(tenant_id) as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def entry(database: Database, tenant_id: int, entry_id: int | None) -> AccountEntry:
    async with database.tenant_session(tenant_id) as session:
        found = await session.get(AccountEntry, entry_id) if entry_id is not None else None
    assert found is not None, "the event names no account entry"
    return found
