"""Builders for test data, written through the ORM like the application writes it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pbx.db.database import Database
from pbx.db.models import Account, Customer, CustomerPhone, InboundNumber, Invoice, Tenant


async def make_tenant(
    database: Database,
    slug: str,
    region: str,
    currency: str,
    dids: Sequence[str],
    timezone: str = "UTC",
) -> int:
    async with database.system_session() as session, session.begin():
        tenant = Tenant(
            slug=slug,
            name=slug.title(),
            default_region=region,
            currency=currency,
            timezone=timezone,
        )
        session.add(tenant)
        await session.flush()
        session.add_all(InboundNumber(tenant_id=tenant.id, e164=did) for did in dids)
        return tenant.id


async def make_customer(
    database: Database,
    tenant_id: int,
    ref: str,
    name: str,
    phones: Sequence[str],
    accounts: Sequence[dict] = (),
) -> int:
    """`accounts`: dicts of Account fields, each optionally with `invoices`: dicts of Invoice
    fields (currency defaults to the account's, outstanding to the amount)."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        customer = Customer(customer_ref=ref, name=name)
        customer.phones = [CustomerPhone(e164=p) for p in phones]
        session.add(customer)
        await session.flush()
        for number, spec in enumerate(accounts):
            spec = dict(spec)
            invoices = spec.pop("invoices", [])
            account = Account(
                customer_id=customer.id, account_ref=spec.pop("ref", f"{ref}-A{number}"), **spec
            )
            session.add(account)
            await session.flush()
            for index, invoice in enumerate(invoices):
                invoice = dict(invoice)
                invoice.setdefault("currency", account.currency)
                invoice.setdefault("outstanding_minor", invoice["amount_minor"])
                invoice.setdefault("issued_on", date(2026, 1, 1))
                session.add(
                    Invoice(
                        account_id=account.id,
                        invoice_ref=f"{account.account_ref}-I{index}",
                        **invoice,
                    )
                )
        return customer.id
