"""A customer's record at a payment provider (Stripe, GoCardless): made once, the first time a
mandate needs one, and reused by every later mandate or payment (`provider_customers`).

`payer_of` is what the adapters are told about the payer (name, email, postal address from
the customer's record, the provider customer made before); `remember` keeps the provider
customer a result names, in the caller's transaction, once per customer and provider.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.payments.port import Payer
from pbx.db.database import Database
from pbx.db.models import Customer, ProviderCustomer


async def payer_of(
    database: Database, tenant_id: int, customer_id: int | None, provider: str, *, name: str,
    email: str | None,
) -> Payer:  # fmt: skip
    """`name` and `email`: as given in the call (the bank account's holder), the record's
    otherwise."""
    if customer_id is None:
        return Payer(name, email)
    async with database.tenant_autocommit(tenant_id) as session:
        customer = await session.get(Customer, customer_id)
        known = await session.scalar(
            select(ProviderCustomer.provider_customer_id).where(
                ProviderCustomer.customer_id == customer_id, ProviderCustomer.provider == provider
            )
        )
    if customer is None:
        return Payer(name, email)
    return Payer(
        name=name or customer.name, email=email or customer.email,
        address_line1=customer.address_line1, address_line2=customer.address_line2,
        address_city=customer.address_city, address_postal_code=customer.address_postal_code,
        address_country=customer.address_country, provider_customer_id=known,
    )  # fmt: skip


async def remember(
    session: AsyncSession, tenant_id: int, customer_id: int | None, provider: str,
    provider_customer_id: str | None,
) -> None:  # fmt: skip
    """Keep the provider customer a mandate was made under, unless one is kept already."""
    if customer_id is None or not provider_customer_id or len(provider_customer_id) > 128:
        return
    kept = await session.scalar(
        select(ProviderCustomer.id).where(
            ProviderCustomer.customer_id == customer_id, ProviderCustomer.provider == provider
        )
    )
    if kept is None:
        session.add(ProviderCustomer(tenant_id=tenant_id, customer_id=customer_id,
                                     provider=provider,
                                     provider_customer_id=provider_customer_id))  # fmt: skip
