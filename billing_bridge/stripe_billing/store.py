"""Stripe's customers and invoices written into Ledgerline's tables: a thin writer over the
mapped records (`mapping`), in the caller's transaction.

A Stripe customer is a Ledgerline customer and its one account, both referenced by the
Stripe id (cus_...), and a `provider_customers` row (provider "stripe") so card payments
reuse that Stripe customer and Stripe's events find the business they belong to. A Stripe
invoice is an `invoices` row with provider "stripe" and provider_ref in_...

Order: each row keeps the `source_version` of the state it holds; a record with an older one
is `stale` and changes nothing. Stripe's event times are whole seconds, so two events can
share one: at an equal version a paid or void invoice is not reopened (those states are
final at Stripe, except a paid invoice's refund, which does not reopen it either).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.balances import state_balance
from billing_bridge.stripe_billing.mapping import (
    PROVIDER,
    Business,
    CustomerRecord,
    InvoiceRecord,
)
from pbx.db.models import (
    Account,
    AccountEntry,
    BillingEvent,
    Customer,
    CustomerPhone,
    Invoice,
    Payment,
    ProviderCustomer,
    Tenant,
)

FINAL = frozenset({"paid", "void"})


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"  # older than the state kept
    NOT_FOUND = "not_found"  # an invoice of a Stripe customer Ledgerline does not have


@dataclass
class Written:
    outcome: Outcome
    account_id: int | None = None
    # Numbers whose caller lookup may now answer differently (the cache forgets them).
    numbers: set[str] = field(default_factory=set)
    # The customer changed (None: nothing changed): agents on a call with them see it.
    customer_id: int | None = None


class UnknownBusiness(LookupError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no business with slug '{slug}'")
        self.slug = slug


async def business_by_slug(session: AsyncSession, slug: str) -> Business:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise UnknownBusiness(slug)
    return _business(tenant)


async def business_by_id(session: AsyncSession, tenant_id: int) -> Business:
    tenant = await session.get_one(Tenant, tenant_id)
    return _business(tenant)


def _business(tenant: Tenant) -> Business:
    return Business(tenant.id, tenant.default_region, tenant.currency.upper(), tenant.timezone)


async def tenant_of_stripe_customer(session: AsyncSession, stripe_id: str) -> int | None:
    """The business a Stripe customer belongs to (one Stripe account per deployment: the
    customer ids tell the businesses apart). Needs a session that may cross businesses."""
    return await session.scalar(
        select(ProviderCustomer.tenant_id).where(
            ProviderCustomer.provider == PROVIDER,
            ProviderCustomer.provider_customer_id == stripe_id,
        )
    )


async def upsert_customer(
    session: AsyncSession, business: Business, record: CustomerRecord
) -> Written:
    customer = await _customer(session, business.tenant_id, record.stripe_id)
    if customer is None:
        customer = Customer(tenant_id=business.tenant_id, customer_ref=record.stripe_id)
        session.add(customer)
        outcome = Outcome.CREATED
    elif (customer.source_version or 0) > record.source_version:
        return Written(Outcome.STALE)
    else:
        outcome = Outcome.UPDATED
    before = _customer_state(customer)
    customer.name, customer.email = record.name, record.email
    address = record.address
    customer.address_line1, customer.address_line2 = address.line1, address.line2
    customer.address_city, customer.address_postal_code = address.city, address.postal_code
    customer.address_country = address.country
    customer.source_version = record.source_version
    await session.flush()
    if outcome is Outcome.CREATED:
        session.add(ProviderCustomer(
            tenant_id=business.tenant_id, customer_id=customer.id, provider=PROVIDER,
            provider_customer_id=record.stripe_id,
        ))  # fmt: skip
    account = await _account_of(session, customer, business)
    account_changed = _close_or_reopen(account, deleted=record.deleted)
    wanted = set() if record.deleted or record.phone is None else {record.phone}
    numbers = await _set_phones(session, customer, wanted)
    changed = numbers or account_changed or _customer_state(customer) != before
    if outcome is Outcome.UPDATED and not changed:
        outcome = Outcome.UNCHANGED
    changed_id = customer.id if outcome is not Outcome.UNCHANGED else None
    return Written(outcome, account.id, numbers, changed_id)


async def upsert_invoice(
    session: AsyncSession, business: Business, record: InvoiceRecord
) -> Written:
    customer = await _customer(session, business.tenant_id, record.customer_id)
    if customer is None:
        return Written(Outcome.NOT_FOUND)
    account = await _account_of(session, customer, business)
    invoice = await session.scalar(
        select(Invoice).where(Invoice.provider == PROVIDER,
                              Invoice.provider_ref == record.stripe_id).with_for_update()
    )  # fmt: skip
    if invoice is None:
        invoice = Invoice(tenant_id=business.tenant_id, provider=PROVIDER,
                          provider_ref=record.stripe_id)  # fmt: skip
        session.add(invoice)
        outcome = Outcome.CREATED
    elif _older(invoice, record):
        return Written(Outcome.STALE, account.id)
    else:
        outcome = Outcome.UPDATED
    state = (
        account.id, record.ref, record.currency, record.amount_minor,
        record.outstanding_minor, record.issued_on, record.due_on, record.status, record.summary,
    )  # fmt: skip
    if outcome is Outcome.UPDATED and _invoice_state(invoice) == state:
        invoice.source_version = max(invoice.source_version or 0, record.source_version)
        return Written(Outcome.UNCHANGED, account.id)
    (invoice.account_id, invoice.invoice_ref, invoice.currency, invoice.amount_minor,
     invoice.outstanding_minor, invoice.issued_on, invoice.due_on, invoice.status,
     invoice.line_summary) = state  # fmt: skip
    invoice.source_version = record.source_version
    await session.flush()
    return Written(outcome, account.id, customer_id=customer.id)


async def state_stripe_balance(session: AsyncSession, account_id: int) -> int:
    """What Stripe says the account owes, stated as the billing system's balance
    (`balances.state_balance`): the sum of its Stripe invoices still owed. A card payment that
    paid one of them at Stripe (`Invoice.pay`) is in that sum once the invoice is paid, so its
    event is acknowledged with it. The Stripe customer's own `balance` (a credit or debit
    carried to the next invoice) is not counted. Returns the account's balance after."""
    account = await session.get_one(Account, account_id)
    owed = await session.scalar(
        select(func.coalesce(func.sum(Invoice.outstanding_minor), 0)).where(
            Invoice.account_id == account_id, Invoice.provider == PROVIDER,
            Invoice.status == "open",
        )
    )  # fmt: skip
    applied_at_stripe = await session.scalars(
        select(BillingEvent.public_id)
        .join(AccountEntry, AccountEntry.id == BillingEvent.entry_id)
        .join(Payment, Payment.id == AccountEntry.payment_id)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(AccountEntry.account_id == account_id, AccountEntry.kind == "payment",
               Invoice.provider == PROVIDER, Invoice.status == "paid",
               BillingEvent.acknowledged_at.is_(None))
    )  # fmt: skip
    return await state_balance(
        session, account, int(owed or 0), acknowledged_event_ids=list(applied_at_stripe)
    )


def _older(invoice: Invoice, record: InvoiceRecord) -> bool:
    kept = invoice.source_version or 0
    if kept != record.source_version:
        return kept > record.source_version
    return invoice.status in FINAL and record.status not in FINAL


def _invoice_state(invoice: Invoice) -> tuple[object, ...]:
    return (
        invoice.account_id, invoice.invoice_ref, invoice.currency, invoice.amount_minor,
        invoice.outstanding_minor, invoice.issued_on, invoice.due_on, invoice.status,
        invoice.line_summary,
    )  # fmt: skip


def _customer_state(customer: Customer) -> tuple[object, ...]:
    return (
        customer.name, customer.email, customer.address_line1, customer.address_line2,
        customer.address_city, customer.address_postal_code, customer.address_country,
    )  # fmt: skip


async def _customer(session: AsyncSession, tenant_id: int, stripe_id: str) -> Customer | None:
    """By the provider_customers row, else by reference (a customer imported before it was
    linked to Stripe), locked for the change."""
    linked = select(ProviderCustomer.customer_id).where(
        ProviderCustomer.provider == PROVIDER, ProviderCustomer.provider_customer_id == stripe_id
    )
    customer = await session.scalar(
        select(Customer).where(Customer.id.in_(linked)).with_for_update()
    )
    if customer is None:
        customer = await session.scalar(
            select(Customer).where(Customer.customer_ref == stripe_id).with_for_update()
        )
        if customer is not None:
            session.add(ProviderCustomer(
                tenant_id=tenant_id, customer_id=customer.id, provider=PROVIDER,
                provider_customer_id=stripe_id,
            ))  # fmt: skip
    return customer


async def _account_of(session: AsyncSession, customer: Customer, business: Business) -> Account:
    """The Stripe customer's one account: the customer's account referenced by the Stripe
    id, else the account it already had (imported before it was linked to Stripe), else one
    made now with the Stripe id as its reference."""
    account = await session.scalar(
        select(Account).where(Account.customer_id == customer.id)
        .order_by(Account.account_ref != customer.customer_ref, Account.id).limit(1)
    )  # fmt: skip
    if account is None:
        account = Account(tenant_id=business.tenant_id, customer_id=customer.id,
                          account_ref=customer.customer_ref, currency=business.currency,
                          balance_minor=0, status="active")  # fmt: skip
        session.add(account)
        await session.flush()
    return account


def _close_or_reopen(account: Account, *, deleted: bool) -> bool:
    """A customer deleted at Stripe closes its account (nothing is deleted here: payments
    and calls refer to it); one seen again reopens it."""
    if deleted and account.status != "closed":
        account.status = "closed"
        return True
    if not deleted and account.status == "closed":
        account.status = "active"
        return True
    return False


async def _set_phones(session: AsyncSession, customer: Customer, wanted: set[str]) -> set[str]:
    """The customer's numbers become `wanted`; the numbers added or removed."""
    rows = (await session.scalars(
        select(CustomerPhone).where(CustomerPhone.customer_id == customer.id)
    )).all()  # fmt: skip
    have = {row.e164 for row in rows}
    for row in rows:
        if row.e164 not in wanted:
            await session.delete(row)
    for number in wanted - have:
        session.add(CustomerPhone(tenant_id=customer.tenant_id, customer_id=customer.id,
                                  e164=number, label="stripe"))  # fmt: skip
    return have ^ wanted
