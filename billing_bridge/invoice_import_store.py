"""Applying an invoice CSV (`invoice_import`) to one business's database, in one transaction.

As the customer import (`customer_import_store`): the accounts and invoices the file names
are read first, `CHUNK_SIZE` refs per `SELECT ... IN` (through the business's session, so
another business's references are simply unknown), so every decision is made on the
database as it was and the lookups never meet rows this import wrote; then decided without
I/O and written with one executemany per kind of write and chunk. Nothing is committed until
all is written. The import is audited once, with its counts. Imported
invoices are the ones recurring collection charges and the screen-pop shows; once committed,
the caller-lookup cache forgets the numbers of the customers whose invoices changed (their
overdue amounts did).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.csv_import import (
    NumbersChanged,
    UnknownTenant,
    chunks,
    forget_numbers,
    read_text,
    refresh_statistics,
)
from billing_bridge.invoice_import import (
    InvoiceImportReport,
    InvoicePlan,
    InvoiceRow,
    InvoiceWrite,
    StoredAccount,
    StoredInvoice,
    decide,
    parse_invoice_csv,
)
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import Account, CustomerPhone, Invoice, Tenant
from pbx.db.types import utcnow

CHUNK_SIZE = 1000  # refs per SELECT ... IN and rows per write
AUDIT_ACTION = "invoices.imported"
_ANALYZE = f"ANALYZE {Invoice.__tablename__}, {Account.__tablename__}"


async def import_invoices(
    database: Database,
    tenant_slug: str,
    path: Path,
    *,
    actor: str,
    on_numbers_changed: NumbersChanged | None = None,
    dry_run: bool = False,
) -> InvoiceImportReport:
    """Import or update a business's invoices from a CSV file (see `invoice_import`).

    Raises `UnknownTenant`, `ImportFileError` (the file is unusable: nothing imported) or
    `OSError`. Bad rows do not raise: they are the report's problems and the others import.
    """
    tenant_id = await _find_tenant(database, tenant_slug)
    plan = await asyncio.to_thread(read_invoice_plan, path)
    report = InvoiceImportReport(plan.rows_read, problems=list(plan.problems), dry_run=dry_run)
    await refresh_statistics(database, _ANALYZE, "invoice import")
    rows = list(plan.rows.values())
    async with database.tenant_session(tenant_id) as session:
        if dry_run:
            decide(rows, *await _load(session, rows), report)
            report.problems.sort(key=lambda problem: problem.line)
            return report  # the session closes without a commit: nothing was written
        async with session.begin():
            writes = decide(rows, *await _load(session, rows), report)
            report.problems.sort(key=lambda problem: problem.line)
            for chunk in chunks(writes, CHUNK_SIZE):
                await _write(session, tenant_id, chunk)
            numbers = await _numbers_of(session, {w.account.customer_id for w in writes})
            record(
                session, tenant_id=tenant_id, actor=By(actor), action=AUDIT_ACTION,
                target=Target("tenant", tenant_id), details=report.audit_details(path.name),
            )  # fmt: skip
    await forget_numbers(on_numbers_changed, tenant_id, numbers, report, "invoice import")
    return report


def read_invoice_plan(path: Path) -> InvoicePlan:
    """Read and validate the file (`csv_import.read_text`: a byte that is not UTF-8 is
    reported with its line)."""
    return parse_invoice_csv(read_text(path))


async def _find_tenant(database: Database, slug: str) -> int:
    # Finding the business crosses businesses by nature; the rest runs in its own session.
    async with database.system_session() as session:
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise UnknownTenant(slug)
    return int(tenant_id)


async def _load(
    session: AsyncSession, rows: Sequence[InvoiceRow]
) -> tuple[dict[str, StoredAccount], dict[str, StoredInvoice]]:
    """The business's accounts and invoices that `rows` name."""
    accounts: dict[str, StoredAccount] = {}
    invoices: dict[str, StoredInvoice] = {}
    for chunk in chunks(rows, CHUNK_SIZE):
        found = await _load_chunk(session, chunk)
        accounts |= found[0]
        invoices |= found[1]
    return accounts, invoices


async def _load_chunk(
    session: AsyncSession, rows: Sequence[InvoiceRow]
) -> tuple[dict[str, StoredAccount], dict[str, StoredInvoice]]:
    accounts = await session.execute(
        select(Account.account_ref, Account.id, Account.customer_id, Account.currency)
        .where(Account.account_ref.in_({row.account_ref for row in rows}))
    )  # fmt: skip
    invoices = await session.execute(
        select(Invoice.invoice_ref, Invoice.id, Invoice.account_id, Invoice.currency,
               Invoice.amount_minor, Invoice.outstanding_minor, Invoice.issued_on,
               Invoice.due_on, Invoice.status, Invoice.line_summary, Invoice.source_version)
        .where(Invoice.invoice_ref.in_([row.invoice_ref for row in rows]))
    )  # fmt: skip
    return (
        {ref: StoredAccount(*values) for ref, *values in accounts},
        {
            i.invoice_ref: StoredInvoice(
                i.id, i.account_id,
                (i.currency, i.amount_minor, i.outstanding_minor, i.issued_on, i.due_on,
                 i.status),
                i.line_summary, i.source_version,
            )
            for i in invoices
        },
    )  # fmt: skip


async def _write(session: AsyncSession, tenant_id: int, writes: Sequence[InvoiceWrite]) -> None:
    """One executemany for the new invoices and one for the changed ones. Bulk inserts
    bypass the session's flush-time check, so each new row names its business; updates go
    by primary keys read through this business's session in this transaction."""
    now = utcnow()
    new = [
        {"tenant_id": tenant_id, "invoice_ref": w.row.invoice_ref, **_fields(w, now)}
        for w in writes
        if w.stored_id is None
    ]
    changed = [{"id": w.stored_id, **_fields(w, now)} for w in writes if w.stored_id is not None]
    if new:
        await session.execute(insert(Invoice), new)
    if changed:  # ORM bulk UPDATE by primary key; rows without a version keep the stored one
        for keeps_version in (False, True):
            rows = [
                values for values in changed if ("source_version" not in values) is keeps_version
            ]
            if rows:
                await session.execute(update(Invoice), rows)


def _fields(write: InvoiceWrite, now: Any) -> dict[str, Any]:
    row = write.row
    values: dict[str, Any] = {
        "account_id": write.account.id, "currency": row.currency,
        "amount_minor": row.amount_minor, "outstanding_minor": row.outstanding_minor,
        "issued_on": row.issued_on, "due_on": row.due_on, "status": row.status,
        "updated_at": now,
    }  # fmt: skip
    if row.summary_given or write.stored_id is None:
        values["line_summary"] = row.line_summary
    if row.source_version is not None or write.stored_id is None:
        values["source_version"] = row.source_version
    return values


async def _numbers_of(session: AsyncSession, customers: set[int]) -> set[str]:
    numbers: set[str] = set()
    for chunk in chunks(sorted(customers), CHUNK_SIZE):
        numbers |= set(
            await session.scalars(
                select(CustomerPhone.e164).where(CustomerPhone.customer_id.in_(chunk))
            )
        )
    return numbers
