"""Invoices, external payments and balance adjustments from the billing system.

Invoices are written a chunk at a time like customers (`customer_store`). External payments
and adjustments move a balance: each is an `account_entries` row of its kind with the
billing system's `reference` (one entry per kind and reference), written with the balance in
the same transaction and audited. They are immutable: the same reference with the same
content again is `unchanged`, with other content a refusal (`conflict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collections import settlement
from billing_bridge.ingest.outcomes import (
    IngestRefused,
    Outcome,
    Result,
    by_version,
    unknown_parent,
)
from billing_bridge.ingest.records import (
    AdjustmentRecord,
    Business,
    ExternalPaymentRecord,
    InvoiceRecord,
)
from billing_bridge.ingest.sql import cached_plans, copy_rows, rows_among
from pbx.audit import Actor, Target, record
from pbx.db.models import Account, AccountEntry, Invoice
from pbx.db.types import utcnow


async def write_invoices(
    session: AsyncSession, business: Business, records: Sequence[InvoiceRecord]
) -> list[Result]:
    parents = await rows_among(
        session, (Account.account_ref, Account.id, Account.currency, Account.customer_id),
        Account.account_ref, {r.account_ref for r in records},
    )  # fmt: skip
    accounts = {ref: _Parent(account_id, currency, customer_id)
                for ref, account_id, currency, customer_id in parents}  # fmt: skip
    held = await rows_among(session, (Invoice.invoice_ref, Invoice.id, Invoice.source_version),
                            Invoice.invoice_ref, [r.ref for r in records], lock=True)  # fmt: skip
    stored = {ref: _Stored(invoice_id, version) for ref, invoice_id, version in held}
    results: list[Result] = []
    new: list[tuple[Any, ...]] = []  # _NEW_COLUMNS
    changed: list[dict[str, Any]] = []
    now, tenant_id = utcnow(), business.tenant_id
    created, updated = Outcome.CREATED, Outcome.UPDATED
    for invoice in records:
        account, found = accounts.get(invoice.account_ref), stored.get(invoice.ref)
        if account is None:
            refused = unknown_parent("account", "account", invoice.account_ref)
            results.append(Result(invoice.ref, refused=refused))
            continue
        if invoice.currency not in (None, account.currency):
            results.append(Result(invoice.ref, refused=_other_currency(account.currency)))
            continue
        if found is None:
            new.append((
                tenant_id, invoice.ref, account.id, account.currency, invoice.amount_minor,
                invoice.outstanding_minor, invoice.issued_on, invoice.due_on, invoice.status,
                invoice.line_summary, invoice.source_version, now,
            ))  # fmt: skip
            results.append(Result(invoice.ref, created, customer_ids=(account.customer_id,)))
            continue
        outcome = by_version(found.source_version, invoice.source_version)
        if outcome is not None:
            results.append(Result(invoice.ref, outcome))
            continue
        changed.append({
            "id": found.id, "account_id": account.id, "currency": account.currency,
            "amount_minor": invoice.amount_minor, "outstanding_minor": invoice.outstanding_minor,
            "issued_on": invoice.issued_on, "due_on": invoice.due_on, "status": invoice.status,
            "line_summary": invoice.line_summary, "source_version": invoice.source_version,
            "updated_at": now,
        })  # fmt: skip
        results.append(Result(invoice.ref, updated, customer_ids=(account.customer_id,)))
    await copy_rows(session, Invoice, tenant_id, _NEW_COLUMNS, new)
    if changed:
        async with cached_plans(session):  # one plan for the executemany's rows
            await session.execute(update(Invoice), changed)
    return results


class _Parent(NamedTuple):
    id: int
    currency: str
    customer_id: int


class _Stored(NamedTuple):
    id: int
    source_version: int | None


# A new invoice's columns, in the order `write_invoices` builds its rows (tuples, for COPY).
_NEW_COLUMNS = (
    "tenant_id", "invoice_ref", "account_id", "currency", "amount_minor", "outstanding_minor",
    "issued_on", "due_on", "status", "line_summary", "source_version", "updated_at",
)  # fmt: skip


def _other_currency(currency: str) -> IngestRefused:
    return IngestRefused("currency_mismatch", "currency", f"the account is in {currency}")


async def write_entry(
    session: AsyncSession,
    business: Business,
    entry: ExternalPaymentRecord | AdjustmentRecord,
    actor: Actor,
) -> Result:
    """One external payment or adjustment: its entry and the balance, or what it was."""
    kind = "external_payment" if isinstance(entry, ExternalPaymentRecord) else "adjustment"
    # A payment lowers what the customer owes; an adjustment is signed as the balance is.
    amount = -entry.amount_minor if kind == "external_payment" else entry.amount_minor
    account = (await session.execute(
        select(Account.id, Account.currency, Account.customer_id)
        .where(Account.account_ref == entry.account_ref)
    )).one_or_none()  # fmt: skip
    if account is None:
        refused = unknown_parent("account", "account", entry.account_ref)
        return Result(entry.reference, refused=refused)
    if entry.currency not in (None, account.currency):
        return Result(entry.reference, refused=_other_currency(account.currency))
    said = _said(entry)
    held = (await session.execute(
        select(AccountEntry.account_id, AccountEntry.amount_minor, AccountEntry.details)
        .where(AccountEntry.kind == kind, AccountEntry.reference == entry.reference)
    )).one_or_none()  # fmt: skip
    if held is not None:
        # Entries from before `details` was kept are compared on account and amount only.
        if (held.account_id, held.amount_minor) == (account.id, amount) and (
            held.details is None or held.details == said
        ):
            return Result(entry.reference, Outcome.UNCHANGED)
        refused = IngestRefused("conflict", "reference", f"a {kind} with reference "
                                f"{entry.reference!r} was recorded with other content")  # fmt: skip
        return Result(entry.reference, refused=refused)
    balance = await _post(session, business.tenant_id, account.id, kind, amount,
                          account.currency, entry.reference, said)  # fmt: skip
    if isinstance(entry, ExternalPaymentRecord):  # keeps or breaks a promise or plan with it
        await settlement.payment_arrived(session, business.tenant_id, account.id,
                                         entry.amount_minor, account.currency,
                                         paid_at=entry.received_at)  # fmt: skip
    record(
        session, tenant_id=business.tenant_id, actor=actor, action=f"billing.{kind}",
        target=Target("account", account.id), details=_details(entry, amount, balance),
    )  # fmt: skip
    return Result(entry.reference, Outcome.CREATED, customer_ids=(account.customer_id,))


def _said(entry: ExternalPaymentRecord | AdjustmentRecord) -> dict[str, Any]:
    """What the billing system said of the entry beyond its account and amount."""
    if isinstance(entry, ExternalPaymentRecord):
        return {"received_at": entry.received_at.isoformat(), "method": entry.method}
    return {"reason": entry.reason}


def _details(
    entry: ExternalPaymentRecord | AdjustmentRecord, amount: int, balance: int
) -> dict[str, Any]:
    return {"reference": entry.reference, "account_ref": entry.account_ref,
            "amount_minor": amount, "balance_after_minor": balance} | _said(entry)  # fmt: skip


async def _post(
    session: AsyncSession, tenant_id: int, account_id: int, kind: str, amount: int,
    currency: str, reference: str, details: dict[str, Any],
) -> int:  # fmt: skip
    """`ledger.post_entry`'s pattern, with the billing system's reference on the entry: the
    balance moves and the entry says why, in the caller's transaction. The balance after."""
    balance = int((await session.execute(
        update(Account).where(Account.id == account_id)
        .values(balance_minor=Account.balance_minor + amount)
        .returning(Account.balance_minor)
        .execution_options(synchronize_session=False)
    )).scalar_one())  # fmt: skip
    session.add(AccountEntry(
        tenant_id=tenant_id, account_id=account_id, kind=kind, amount_minor=amount,
        currency=currency, balance_after_minor=balance, reference=reference,
        details=details,
    ))  # fmt: skip
    await session.flush()  # a reference taken at the same moment fails here, in its savepoint
    return balance
