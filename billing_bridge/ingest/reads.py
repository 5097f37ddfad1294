"""What machine clients read back by the billing system's references. Every read runs in the
business's own session: another business's rows are not found, exactly as missing ones.
(What a committed change touches live: `billing_bridge.live_accounts`.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.balances import pending_in_billing
from billing_bridge.ingest.records import Business
from pbx.db.database import Database
from pbx.db.models import Account, Customer, CustomerPhone, Invoice, Tenant


@dataclass(frozen=True, slots=True)
class CustomerView:
    ref: str
    name: str
    email: str | None
    phones: tuple[str, ...]
    language: str | None
    date_of_birth: date | None
    address: dict[str, str | None]
    source_version: int | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AccountView:
    ref: str
    customer_ref: str
    currency: str
    status: str
    vip: bool
    balance_minor: int
    reported_balance_minor: int | None
    reported_at: datetime | None
    pending_in_billing_minor: int
    source_version: int | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class InvoiceView:
    ref: str
    account_ref: str
    currency: str
    amount_minor: int
    outstanding_minor: int
    issued_on: date
    due_on: date
    status: str
    line_summary: str | None
    source_version: int | None


async def business_of(session: AsyncSession, tenant_id: int) -> Business:
    """What reading records needs to know of the business, as the first statement of the
    transaction that writes them. On SQLite the database's one writer's lock is taken
    first: a transaction that read and then writes is refused at once (not waited for) when
    another one wrote meanwhile, and requests arriving together would fail."""
    if session.bind.dialect.name == "sqlite":
        await session.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(id=Tenant.id)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    row = (await session.execute(
        select(Tenant.default_region, Tenant.currency).where(Tenant.id == tenant_id)
    )).one()  # fmt: skip
    return Business(tenant_id, row.default_region, row.currency)


async def customer_by_ref(database: Database, tenant_id: int, ref: str) -> CustomerView | None:
    async with database.tenant_session(tenant_id) as session:
        row = await session.scalar(select(Customer).where(Customer.customer_ref == ref))
        if row is None:
            return None
        phones = await session.scalars(
            select(CustomerPhone.e164).where(CustomerPhone.customer_id == row.id)
            .order_by(CustomerPhone.id)
        )  # fmt: skip
        address = {"line1": row.address_line1, "line2": row.address_line2,
                   "city": row.address_city, "postal_code": row.address_postal_code,
                   "country": row.address_country}  # fmt: skip
        return CustomerView(row.customer_ref, row.name, row.email, tuple(phones), row.language,
                            row.date_of_birth, address, row.source_version,
                            row.updated_at)  # fmt: skip


async def account_by_ref(database: Database, tenant_id: int, ref: str) -> AccountView | None:
    async with database.tenant_session(tenant_id) as session:
        found = (await session.execute(
            select(Account, Customer.customer_ref)
            .join(Customer, Customer.id == Account.customer_id)
            .where(Account.account_ref == ref)
        )).one_or_none()  # fmt: skip
        if found is None:
            return None
        account, customer_ref = found
        pending = (await pending_in_billing(session, [account.id])).get(account.id, 0)
        return AccountView(account.account_ref, customer_ref, account.currency, account.status,
                           account.vip, account.balance_minor, account.reported_balance_minor,
                           account.reported_at, pending, account.source_version,
                           account.updated_at)  # fmt: skip


async def invoice_by_ref(database: Database, tenant_id: int, ref: str) -> InvoiceView | None:
    async with database.tenant_session(tenant_id) as session:
        found = (await session.execute(
            select(Invoice, Account.account_ref)
            .join(Account, Account.id == Invoice.account_id)
            .where(Invoice.invoice_ref == ref)
        )).one_or_none()  # fmt: skip
        if found is None:
            return None
        invoice, account_ref = found
        return InvoiceView(invoice.invoice_ref, account_ref, invoice.currency,
                           invoice.amount_minor, invoice.outstanding_minor, invoice.issued_on,
                           invoice.due_on, invoice.status, invoice.line_summary,
                           invoice.source_version)  # fmt: skip
