"""The database side of identification: who owns a number, and where their accounts stand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import BigInteger, and_, cast, func, select

from billing_bridge.identification.model import AccountSummary, Candidate, CustomerProfile
from billing_bridge.phones import to_e164
from pbx.db.database import Database
from pbx.db.models import Account, Customer, CustomerPhone, InboundNumber, Invoice, Tenant


@dataclass(frozen=True, slots=True)
class TenantInfo:
    tenant_id: int
    slug: str
    default_region: str
    currency: str
    timezone: str


class CustomerDirectory:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def tenant_for_did(self, dialed: str, fallback_region: str) -> TenantInfo | None:
        """The business that owns the dialed number, however the trunk wrote it: E.164, digits
        without the plus, or national form in any region a business here is in."""
        raw = dialed.strip()
        forms = {raw, "+" + raw} if raw.isdigit() else {raw}
        async with self._database.system_session() as session:
            regions = set(
                (await session.execute(select(Tenant.default_region).distinct())).scalars()
            )
            for region in regions | {fallback_region}:
                if e164 := to_e164(raw, region):
                    forms.add(e164)
            row = (
                await session.execute(
                    select(Tenant)
                    .join(InboundNumber, InboundNumber.tenant_id == Tenant.id)
                    .where(InboundNumber.e164.in_(forms))
                    .limit(1)
                )
            ).scalar_one_or_none()
        return _tenant_info(row) if row else None

    async def tenant_by_slug(self, slug: str) -> TenantInfo | None:
        async with self._database.system_session() as session:
            row = (
                await session.execute(select(Tenant).where(Tenant.slug == slug))
            ).scalar_one_or_none()
        return _tenant_info(row) if row else None

    async def customers_with_number(self, tenant_id: int, e164: str, limit: int) -> list[Candidate]:
        async with self._database.tenant_session(tenant_id) as session:
            rows = await session.execute(
                select(Customer.id, Customer.customer_ref, Customer.name, Customer.last_contact_at)
                .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
                .where(CustomerPhone.e164 == e164)
                .order_by(Customer.name, Customer.id)
                .limit(limit)
            )
            return [Candidate(*row) for row in rows]

    async def profile(
        self, tenant: TenantInfo, customer: Candidate, today: date
    ) -> CustomerProfile:
        """The customer with each account's balance and what is overdue on it today."""
        # Correlated per account, so only this customer's invoices are read (through
        # ix_invoices_account_open), never the tenant's whole ledger.
        overdue = and_(
            Invoice.account_id == Account.id, Invoice.status == "open", Invoice.due_on < today
        )
        overdue_minor = (
            select(cast(func.coalesce(func.sum(Invoice.outstanding_minor), 0), BigInteger))
            .where(overdue)
            .scalar_subquery()
        )
        overdue_invoices = select(func.count()).where(overdue).scalar_subquery()
        async with self._database.tenant_session(tenant.tenant_id) as session:
            accounts = await session.execute(
                select(
                    Account.id,
                    Account.account_ref,
                    Account.currency,
                    Account.balance_minor,
                    Account.status,
                    Account.vip,
                    overdue_minor,
                    overdue_invoices,
                )
                .where(Account.customer_id == customer.customer_id)
                .order_by(Account.id)
            )
            summaries = tuple(AccountSummary(*row) for row in accounts)
        currencies = [a.currency for a in summaries]
        # The business's own currency leads; a customer billed only in another shows that one.
        headline = (
            currencies[0] if currencies and tenant.currency not in currencies else tenant.currency
        )
        return CustomerProfile(
            customer_id=customer.customer_id,
            customer_ref=customer.customer_ref,
            name=customer.name,
            last_contact_at=customer.last_contact_at,
            accounts=summaries,
            headline_currency=headline,
        )

    async def numbers_of(self, tenant_id: int, customer_ids: list[int]) -> set[str]:
        async with self._database.tenant_session(tenant_id) as session:
            rows = await session.execute(
                select(CustomerPhone.e164).where(CustomerPhone.customer_id.in_(customer_ids))
            )
            return set(rows.scalars())


def _tenant_info(row: Tenant) -> TenantInfo:
    return TenantInfo(row.id, row.slug, row.default_region, row.currency, row.timezone)
