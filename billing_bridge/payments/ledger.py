"""Payments as Ledgerline keeps them: the row, the account's balance, the audit entry.

A balance never moves alone: `post_entry` changes it and writes the `account_entries` row
that says why (a payment, a refund, a chargeback, ...), in the caller's transaction, so an
account's entries add up to how its balance moved. One transaction per payment outcome.
Only what a provider's receipt carries about a card is kept (brand, last four digits); the
idempotency key is unique per business, so recording the same outcome again (a retried
request, a process that died after charging) changes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collections import settlement
from billing_bridge.events import changes
from billing_bridge.payments.port import ChargeResult, PaymentStatus
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import Account, AccountEntry, Customer, Invoice, Payment


@dataclass(frozen=True)
class PaymentTaken:
    payment_id: int
    status: str
    balance_minor: int  # the account's balance after it


class AccountNotFound(LookupError):
    pass


class InvoiceNotPayable(LookupError):
    """No open invoice owing something of the account paid (another business's invoice
    looks the same as a missing one)."""


@dataclass(frozen=True)
class OpenInvoice:
    invoice_id: int
    outstanding_minor: int
    currency: str
    provider: str | None  # "stripe": the billing system's invoice is a Stripe invoice
    provider_ref: str | None


@dataclass(frozen=True)
class Contact:
    ref: str
    email: str | None


async def customer_contact(database: Database, tenant_id: int, customer_id: int | None) -> Contact:
    if customer_id is None:
        return Contact("", None)
    async with database.tenant_autocommit(tenant_id) as session:
        row = (await session.execute(
            select(Customer.customer_ref, Customer.email).where(Customer.id == customer_id)
        )).one_or_none()  # fmt: skip
    return Contact(row.customer_ref, row.email) if row else Contact("", None)


async def amount_due(
    database: Database, tenant_id: int, account_id: int, customer_id: int | None, today: date
) -> tuple[int, str]:
    """What a payment defaults to: the account's overdue invoices (or, with none overdue,
    its balance), never more than the balance, in its currency. Only an account of
    `customer_id` is found."""
    async with database.tenant_autocommit(tenant_id) as session:
        account = await session.scalar(select(Account).where(Account.id == account_id))
        if account is None or account.customer_id != customer_id:
            raise AccountNotFound(f"no account {account_id} for this caller")
        overdue = await session.scalar(
            select(func.coalesce(func.sum(Invoice.outstanding_minor), 0)).where(
                Invoice.account_id == account_id, Invoice.status == "open",
                Invoice.outstanding_minor > 0, Invoice.due_on < today,
            )
        )  # fmt: skip
    # The invoices are the billing system's: a payment Ledgerline took that billing has not
    # applied yet is off the balance but not off them, and must not be asked for again.
    owed = max(account.balance_minor, 0)
    return (min(int(overdue), owed) or owed), account.currency


async def open_invoice(
    database: Database, tenant_id: int, account_id: int, customer_id: int | None,
    invoice_id: int,
) -> OpenInvoice:  # fmt: skip
    """The invoice a payment names, if it is an open invoice of the caller's account that
    still owes something; the account is checked first (`AccountNotFound`), as `amount_due`
    does, then the invoice (`InvoiceNotPayable`)."""
    async with database.tenant_autocommit(tenant_id) as session:
        owner = await session.scalar(select(Account.customer_id).where(Account.id == account_id))
        if owner is None or owner != customer_id:
            raise AccountNotFound(f"no account {account_id} for this caller")
        row = (await session.execute(
            select(Invoice.id, Invoice.outstanding_minor, Invoice.currency, Invoice.provider,
                   Invoice.provider_ref)
            .where(Invoice.id == invoice_id, Invoice.account_id == account_id,
                   Invoice.status == "open", Invoice.outstanding_minor > 0)
        )).one_or_none()  # fmt: skip
    if row is None:
        raise InvoiceNotPayable(f"no open invoice {invoice_id} owing on account {account_id}")
    return OpenInvoice(row.id, row.outstanding_minor, row.currency, row.provider,
                       row.provider_ref)  # fmt: skip


async def record_card_payment(
    database: Database,
    tenant_id: int,
    *,
    account_id: int,
    call_id: int | None,
    amount_minor: int,
    currency: str,
    provider: str,
    idempotency_key: str,
    result: ChargeResult,
    actor_id: int | None,
    actor_label: str,
    invoice_id: int | None = None,
) -> PaymentTaken:
    """`invoice_id`: the invoice the payment pays (one the agent named, or the provider's own
    invoice the charge paid there, a Stripe invoice). When the payment succeeds, what the
    invoice still owes goes down by the amount (paid at 0) in the payment's transaction; a
    Stripe invoice's own event follows and changes nothing more (`stripe_billing.store`)."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        account = await session.scalar(
            select(Account).where(Account.id == account_id).with_for_update()
        )
        if account is None:
            raise AccountNotFound(f"no account {account_id}")
        payment = await session.scalar(
            select(Payment).where(Payment.idempotency_key == idempotency_key)
        )
        was = payment.status if payment is not None else None
        already_succeeded = was == PaymentStatus.SUCCEEDED
        if payment is None:
            payment = Payment(account_id=account_id, idempotency_key=idempotency_key)
            session.add(payment)
        payment.amount_minor, payment.currency, payment.method = amount_minor, currency, "card"
        payment.provider, payment.provider_ref = provider, result.provider_ref
        payment.status, payment.call_id = result.status.value, call_id
        payment.card_brand, payment.card_last4 = result.card_brand, result.card_last4
        payment.failure_reason = result.failure_code
        payment.invoice_id = invoice_id
        await session.flush()
        entry = None
        if result.status is PaymentStatus.SUCCEEDED and not already_succeeded:
            if invoice_id is not None:
                await pay_invoice(session, invoice_id, account_id, amount_minor)
            entry = await post_account_entry(
                session, tenant_id, account_id=account_id, kind="payment",
                amount_minor=-amount_minor, currency=currency, payment_id=payment.id,
            )  # fmt: skip
        if was != payment.status:  # a retry that changes nothing tells the billing system nothing
            await changes.payment_moved(session, payment, entry_id=entry.id if entry else None)
        record(
            session, tenant_id=tenant_id, actor=By(actor_label, actor_id), action="payment.card",
            target=Target("payment", payment.id),
            details={"account_id": account_id, "call_id": call_id, "amount_minor": amount_minor,
                     "currency": currency, "status": result.status.value,
                     "card_last4": result.card_last4, "failure": result.failure_code,
                     "invoice_id": invoice_id},
        )  # fmt: skip
        balance = await session.scalar(
            select(Account.balance_minor).where(Account.id == account_id)
        )
        return PaymentTaken(payment.id, payment.status, int(balance or 0))


async def pay_invoice(
    session: AsyncSession, invoice_id: int, account_id: int, amount_minor: int
) -> None:
    """What the open invoice still owes goes down by the amount, never below 0; paid at 0.
    Both values are computed from the row as the update finds it (locked), so two payments
    of one invoice at once each take their own amount off.

    The invoice stays the billing system's: its own next version of the invoice (after it
    applied the payment, or not yet) is taken as it comes. Only a Stripe invoice's version
    (the time of what Stripe said of it) moves to now, so that a Stripe event older than
    this payment, delivered late, cannot reopen it; an integer version a billing system
    counts must never be overtaken by a clock's."""
    settles = Invoice.outstanding_minor <= amount_minor
    await session.execute(
        update(Invoice)
        .where(Invoice.id == invoice_id, Invoice.account_id == account_id,
               Invoice.status == "open")
        .values(outstanding_minor=case((settles, 0),
                                       else_=Invoice.outstanding_minor - amount_minor),
                status=case((settles, "paid"), else_=Invoice.status),
                source_version=_stripe_now())
        .execution_options(synchronize_session=False)
    )  # fmt: skip


async def settle_invoice(
    session: AsyncSession, invoice_id: int, account_id: int, balance_change_minor: int
) -> None:
    """The invoice a payment named moves as its account's balance does with the payment's
    entry (`balance_change_minor`, signed as the balance): a payment or a won chargeback pays
    it (`pay_invoice`); a refund, a chargeback or a reversed payment puts the amount back on
    it (`reopen_invoice`). In the entry's transaction, so balance and invoice agree."""
    if balance_change_minor < 0:
        await pay_invoice(session, invoice_id, account_id, -balance_change_minor)
    elif balance_change_minor > 0:
        await reopen_invoice(session, invoice_id, account_id, balance_change_minor)


async def reopen_invoice(
    session: AsyncSession, invoice_id: int, account_id: int, amount_minor: int
) -> None:
    """What the invoice still owes goes up by the amount a payment of it no longer pays,
    never above the invoice's amount; a paid invoice is open again. A void invoice is left
    as the billing system set it. Computed from the row as the update finds it (locked),
    as `pay_invoice` is, with the same version rule."""
    owes = Invoice.outstanding_minor + amount_minor
    await session.execute(
        update(Invoice)
        .where(Invoice.id == invoice_id, Invoice.account_id == account_id,
               Invoice.status.in_(("open", "paid")))
        .values(outstanding_minor=case((owes > Invoice.amount_minor, Invoice.amount_minor),
                                       else_=owes),
                status="open", source_version=_stripe_now())
        .execution_options(synchronize_session=False)
    )  # fmt: skip


def _stripe_now() -> Any:
    """The version an invoice a payment moved takes: a Stripe invoice's moves to now, any
    other keeps the billing system's (see `pay_invoice`)."""
    return case((Invoice.provider == "stripe", _now_version()), else_=Invoice.source_version)


def _now_version() -> int:
    """A Stripe invoice paid now: what Stripe said of it before is older."""
    now = datetime.now(UTC)
    return int(now.timestamp()) * 1_000_000 + now.microsecond


async def post_entry(
    session: AsyncSession,
    tenant_id: int,
    *,
    account_id: int,
    kind: str,
    amount_minor: int,
    currency: str,
    payment_id: int | None = None,
    credit_id: int | None = None,
    event_id: str | None = None,
) -> int:
    """Move the account's balance by `amount_minor` (positive: the customer owes more) and
    record why, in the caller's transaction; the balance after."""
    entry = await post_account_entry(
        session, tenant_id, account_id=account_id, kind=kind, amount_minor=amount_minor,
        currency=currency, payment_id=payment_id, credit_id=credit_id, event_id=event_id,
    )  # fmt: skip
    return entry.balance_after_minor


async def post_account_entry(
    session: AsyncSession,
    tenant_id: int,
    *,
    account_id: int,
    kind: str,
    amount_minor: int,
    currency: str,
    payment_id: int | None = None,
    credit_id: int | None = None,
    event_id: str | None = None,
    paid_at: datetime | None = None,
) -> AccountEntry:
    """As `post_entry`; the entry written (flushed: its id is what the billing event that
    reports the change names). A payment also settles what it keeps or breaks of the
    account's promise or plan, in this transaction (`paid_at`: when it was paid, if the
    provider says; else now)."""
    await session.execute(
        update(Account).where(Account.id == account_id)
        .values(balance_minor=Account.balance_minor + amount_minor)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    balance = int(
        await session.scalar(select(Account.balance_minor).where(Account.id == account_id)) or 0
    )
    entry = AccountEntry(
        tenant_id=tenant_id, account_id=account_id, kind=kind, amount_minor=amount_minor,
        currency=currency, balance_after_minor=balance, payment_id=payment_id,
        credit_id=credit_id, event_id=event_id,
    )  # fmt: skip
    session.add(entry)
    await session.flush()
    if kind == "payment" and amount_minor < 0:
        await settlement.payment_arrived(session, tenant_id, account_id, -amount_minor, currency,
                                         paid_at=paid_at, entry_id=entry.id)  # fmt: skip
    return entry
