"""Applying a customer import plan to one tenant's database, in one transaction.

Customers are matched by (tenant, customer_ref) and accounts by (tenant, account_ref), so
re-running a file updates rows instead of duplicating them. Three steps, each in chunks of
`CHUNK_SIZE` refs so a big file costs a few hundred round trips, not one per row:

1. read what the database holds for the file's refs (`SELECT ... IN`);
2. decide, without I/O, what changes and which rows conflict (`customer_import_changes`);
3. write the changes with one executemany per kind of write and chunk.

Reading everything before writing anything means every decision is made on the database as it
was, and the lookups never meet half-written rows. Nothing is committed until step 3 finished,
so a failure half-way leaves the database as it was.

A row's balance is what the billing system states, so it is applied as
`billing_bridge.balances.state_balance` applies a stated balance, for a whole chunk at once:
the account's balance becomes the stated one plus what is still pending in billing, with a
`statement` entry for the difference (written with one insert), and the stated balance
and its time are kept. An account is unchanged (nothing written) when the file states what
its balance already is less what is pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.balances import pending_in_billing, state_balances
from billing_bridge.csv_import import (
    NumbersChanged,
    UnknownTenant,
    chunks,
    forget_numbers,
    read_text,
    refresh_statistics,
)
from billing_bridge.customer_import import (
    AccountRecord,
    CustomerRecord,
    ImportPlan,
    parse_customer_csv,
)
from billing_bridge.customer_import_changes import (
    CustomerChange,
    ImportReport,
    StoredAccount,
    StoredCustomer,
    StoredState,
    decide,
)
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import Account, AccountEntry, Base, Customer, CustomerPhone, Tenant
from pbx.db.types import utcnow

# Refs per SELECT ... IN and rows per write: well under every driver's bound-parameter limit.
CHUNK_SIZE = 1000
AUDIT_ACTION = "customers.imported"
_ANALYZE = "ANALYZE " + ", ".join(m.__tablename__ for m in (Customer, CustomerPhone, Account))


async def import_customers(
    database: Database,
    tenant_slug: str,
    path: Path,
    *,
    actor: str,
    on_numbers_changed: NumbersChanged | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import or update a tenant's customers from a CSV file (see `customer_import`).

    Raises `UnknownTenant`, `ImportFileError` (file unusable, nothing imported) or `OSError`.
    Bad rows do not raise: they are in the report's problems and the other rows import.
    """
    tenant_id, region = await _find_tenant(database, tenant_slug)
    plan = await asyncio.to_thread(read_plan, path, region)
    report = ImportReport(rows_read=plan.rows_read, problems=list(plan.problems), dry_run=dry_run)
    await refresh_statistics(database, _ANALYZE, "customer import")
    async with database.tenant_session(tenant_id) as session:
        if dry_run:
            decide(plan, await _load_current(session, plan), report)
            return report  # the session closes without a commit: nothing was written
        async with session.begin():
            changes = decide(plan, await _load_current(session, plan), report)
            for chunk in chunks(changes, CHUNK_SIZE):
                await _write_chunk(session, tenant_id, chunk)
            record(
                session, tenant_id=tenant_id, actor=By(actor), action=AUDIT_ACTION,
                target=Target("tenant", tenant_id), details=report.audit_details(path.name),
            )  # fmt: skip
    numbers = set().union(*(change.stale_numbers() for change in changes))
    await forget_numbers(on_numbers_changed, tenant_id, numbers, report, "customer import")
    return report


def read_plan(path: Path, region: str) -> ImportPlan:
    """Read and validate the file (`csv_import.read_text`: a byte that is not UTF-8 is
    reported with its line)."""
    return parse_customer_csv(read_text(path), region)


async def _find_tenant(database: Database, slug: str) -> tuple[int, str]:
    # Finding the tenant crosses tenants by nature; everything after runs in its own session.
    async with database.system_session() as session:
        row = (
            await session.execute(
                select(Tenant.id, Tenant.default_region).where(Tenant.slug == slug)
            )
        ).one_or_none()
    if row is None:
        raise UnknownTenant(slug)
    return row.id, row.default_region


async def _load_current(session: AsyncSession, plan: ImportPlan) -> StoredState:
    current = StoredState()
    for chunk in chunks(list(plan.customers), CHUNK_SIZE):
        current.customers |= await _load_customers(session, chunk)
    current.owners = {customer.id: ref for ref, customer in current.customers.items()}
    account_refs = [ref for record in plan.customers.values() for ref in record.accounts]
    for chunk in chunks(account_refs, CHUNK_SIZE):
        current.accounts |= await _load_accounts(session, chunk)
    # Accounts the file puts under a customer other than their owner: name that owner.
    others = list({a.customer_id for a in current.accounts.values()} - current.owners.keys())
    for chunk in chunks(others, CHUNK_SIZE):
        rows = await session.execute(
            select(Customer.id, Customer.customer_ref).where(Customer.id.in_(chunk))
        )
        current.owners |= {customer_id: ref for customer_id, ref in rows}
    return current


async def _load_customers(session: AsyncSession, refs: Sequence[str]) -> dict[str, StoredCustomer]:
    rows = await session.execute(
        select(Customer.id, Customer.customer_ref, Customer.name, Customer.email).where(
            Customer.customer_ref.in_(refs)
        )
    )
    found = {row.id: row for row in rows}
    phones: dict[int, dict[str, int]] = {customer_id: {} for customer_id in found}
    if found:
        numbers = await session.execute(
            select(CustomerPhone.id, CustomerPhone.customer_id, CustomerPhone.e164).where(
                CustomerPhone.customer_id.in_(list(found))
            )
        )
        for phone_id, customer_id, e164 in numbers:
            phones[customer_id][e164] = phone_id
    return {
        row.customer_ref: StoredCustomer(row.id, row.name, row.email, phones[row.id])
        for row in found.values()
    }


async def _load_accounts(session: AsyncSession, refs: Sequence[str]) -> dict[str, StoredAccount]:
    """The accounts, each with what of its balance is still pending in billing."""
    rows = list(
        await session.execute(
            select(
                Account.account_ref,
                Account.id,
                Account.customer_id,
                Account.currency,
                Account.balance_minor,
                Account.status,
            ).where(Account.account_ref.in_(refs))
        )
    )
    pending = await pending_in_billing(session, [row.id for row in rows])
    return {
        row.account_ref: StoredAccount(
            row.id,
            row.customer_id,
            row.currency,
            row.balance_minor,
            row.status,
            pending.get(row.id, 0),
        )
        for row in rows
    }


async def _write_chunk(
    session: AsyncSession, tenant_id: int, changes: Sequence[CustomerChange]
) -> None:
    """A few executemany statements for a chunk of customers, never one round trip per row.

    Bulk statements bypass the session's flush-time tenant check, so every inserted row names
    the tenant explicitly. Updates and deletes go by primary key alone: every id was read
    through this tenant's session in this transaction, and a `tenant_id = ?` beside the key
    lets PostgreSQL, on stale statistics, pick the tenant index and scan a tenant per row.
    """
    new = [change.record for change in changes if change.stored is None]
    customer_ids = await _insert_customers(session, tenant_id, new)
    customer_ids |= {c.record.customer_ref: c.stored.id for c in changes if c.stored}
    details = [
        {"id": customer_ids[c.record.customer_ref], "name": c.record.name, "email": c.record.email}
        for c in changes
        if c.details_changed
    ]
    await _update(session, Customer, details)
    await _write_phones(session, tenant_id, changes, customer_ids)
    await _write_accounts(session, tenant_id, changes, customer_ids)


async def _insert_customers(
    session: AsyncSession, tenant_id: int, records: list[CustomerRecord]
) -> dict[str, int]:
    """Insert new customers; their ids by customer_ref (RETURNING rows come in no set order)."""
    if not records:
        return {}
    values = [
        {"tenant_id": tenant_id, "customer_ref": r.customer_ref, "name": r.name, "email": r.email}
        for r in records
    ]
    rows = await session.execute(
        insert(Customer).returning(Customer.customer_ref, Customer.id), values
    )
    return {customer_ref: customer_id for customer_ref, customer_id in rows}


async def _write_phones(
    session: AsyncSession,
    tenant_id: int,
    changes: Sequence[CustomerChange],
    customer_ids: dict[str, int],
) -> None:
    removed = [c.stored.phones[number] for c in changes if c.stored for number in c.phones_removed]
    if removed:
        await session.execute(delete(CustomerPhone).where(CustomerPhone.id.in_(removed)))
    added = [
        {"tenant_id": tenant_id, "customer_id": customer_ids[c.record.customer_ref], "e164": n}
        for c in changes
        for n in (c.phones_added if c.stored else c.record.phones)
    ]
    await _insert(session, CustomerPhone, added)


async def _write_accounts(
    session: AsyncSession,
    tenant_id: int,
    changes: Sequence[CustomerChange],
    customer_ids: dict[str, int],
) -> None:
    now = utcnow()
    created = [
        {
            "tenant_id": tenant_id,
            "customer_id": customer_ids[c.record.customer_ref],
            "account_ref": wanted.account_ref,
            # The file has no VIP column: new accounts start without, existing keep theirs.
            "vip": False,
            "currency": wanted.currency,
            "balance_minor": wanted.balance_minor,
            "status": wanted.status,
            "reported_balance_minor": wanted.balance_minor,
            "reported_at": now,
        }
        for c in changes
        for wanted in c.accounts_created
    ]
    account_ids = await _insert_accounts(session, created)
    # A new account's balance moved from nothing to the stated one: its first entry.
    entries = [
        _statement(tenant_id, account_ids[wanted.account_ref], wanted.currency,
                   wanted.balance_minor, wanted.balance_minor, now)
        for c in changes
        for wanted in c.accounts_created
        if wanted.balance_minor
    ]  # fmt: skip
    await _insert(session, AccountEntry, entries)
    updated = [(account_id, wanted) for c in changes for account_id, wanted in c.accounts_updated]
    await _state_balances(session, tenant_id, updated, now)


async def _insert_accounts(session: AsyncSession, values: list[dict]) -> dict[str, int]:
    """Insert new accounts; their ids by account_ref."""
    if not values:
        return {}
    rows = await session.execute(insert(Account).returning(Account.account_ref, Account.id), values)
    return {account_ref: account_id for account_ref, account_id in rows}


async def _state_balances(
    session: AsyncSession,
    tenant_id: int,
    updated: Sequence[tuple[int, AccountRecord]],
    now: datetime,
) -> None:
    """The accounts changed as the file states them (`billing_bridge.balances.state_balances`),
    their currency and status set in the same update."""
    await state_balances(
        session, tenant_id, {account_id: wanted.balance_minor for account_id, wanted in updated},
        also={account_id: {"currency": wanted.currency, "status": wanted.status}
              for account_id, wanted in updated},
        now=now,
    )  # fmt: skip


def _statement(tenant_id: int, account_id: int, currency: str, amount_minor: int,
               balance_after_minor: int, now: datetime) -> dict[str, Any]:  # fmt: skip
    return {"tenant_id": tenant_id, "account_id": account_id, "kind": "statement",
            "amount_minor": amount_minor, "currency": currency,
            "balance_after_minor": balance_after_minor, "created_at": now}  # fmt: skip


async def _insert(session: AsyncSession, model: type[Base], values: list[dict]) -> None:
    if values:
        await session.execute(insert(model), values)


async def _update(session: AsyncSession, model: type[Base], values: list[dict]) -> None:
    if values:  # ORM bulk UPDATE by primary key: one executemany
        await session.execute(update(model), values)
