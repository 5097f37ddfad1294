"""Which Stripe invoice a card payment taken in a call pays (Stripe Billing businesses).

A payment pays a Stripe invoice at Stripe (`Invoice.pay`, never a loose PaymentIntent
beside it) when it is for exactly what the account's oldest open invoice still owes and that
invoice is a Stripe one (provider "stripe", provider_ref in_...): the desk's default amount
for a caller with one overdue invoice. Stripe pays an invoice whole, so any other amount is
an ordinary card payment, and the billing system hears of it as one. An invoice the agent
names is paid at Stripe whenever it is a Stripe invoice (the desk asks only its whole
outstanding of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlalchemy import select

from billing_bridge.payments.port import CardDetails, ChargeResult
from billing_bridge.stripe_billing.mapping import PROVIDER
from pbx.db.database import Database
from pbx.db.models import Invoice


@dataclass(frozen=True)
class InvoiceToPay:
    invoice_id: int
    provider_ref: str  # in_...


@runtime_checkable
class InvoicePayer(Protocol):
    """A provider that pays its own invoices by card (the Stripe adapter)."""

    name: str

    async def pay_invoice_by_card(
        self,
        card: CardDetails,
        *,
        invoice_ref: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> ChargeResult: ...


async def stripe_invoice_for(
    database: Database, tenant_id: int, account_id: int, amount_minor: int, currency: str
) -> InvoiceToPay | None:
    """The account's oldest open invoice if it is a Stripe invoice owing exactly this."""
    async with database.tenant_autocommit(tenant_id) as session:
        oldest = (await session.execute(
            select(Invoice.id, Invoice.provider, Invoice.provider_ref, Invoice.outstanding_minor,
                   Invoice.currency)
            .where(Invoice.account_id == account_id, Invoice.status == "open",
                   Invoice.outstanding_minor > 0)
            .order_by(Invoice.due_on, Invoice.issued_on, Invoice.id).limit(1)
        )).one_or_none()  # fmt: skip
    if oldest is None or oldest.provider != PROVIDER or not oldest.provider_ref:
        return None
    if (oldest.outstanding_minor, oldest.currency) != (amount_minor, currency.upper()):
        return None
    return InvoiceToPay(oldest.id, oldest.provider_ref)


async def named_stripe_invoice(
    database: Database, tenant_id: int, account_id: int, invoice_id: int
) -> InvoiceToPay | None:
    """The invoice the agent named, if it is a Stripe invoice of the account (paid there)."""
    async with database.tenant_autocommit(tenant_id) as session:
        row = (await session.execute(
            select(Invoice.id, Invoice.provider, Invoice.provider_ref)
            .where(Invoice.id == invoice_id, Invoice.account_id == account_id)
        )).one_or_none()  # fmt: skip
    if row is None or row.provider != PROVIDER or not row.provider_ref:
        return None
    return InvoiceToPay(row.id, row.provider_ref)
