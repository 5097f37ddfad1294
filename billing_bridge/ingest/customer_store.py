"""Customers and accounts from the billing system, written a chunk at a time: one SELECT for the
chunk's stored rows, a decision per record without I/O, then one executemany per kind of write.
Every ref in a chunk is distinct (`service` splits a chunk where a ref comes again), and every
id written was read through the business's session in this transaction.

The stored rows are read locked, in id order (`sql.rows_among`'s `lock`): a request writing the
same records at the same moment is waited for and its versions compared with, so an older
version never overwrites a newer one committed meanwhile; two such requests lock in one order
and wait for each other instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.balances import state_balance, state_balances
from billing_bridge.ingest.outcomes import (
    IngestRefused,
    Outcome,
    Result,
    by_version,
    unknown_parent,
)
from billing_bridge.ingest.records import AccountRecord, Business, CustomerRecord
from billing_bridge.ingest.sql import any_of, cached_plans, copy_rows, insert_rows, rows_among
from pbx.db.models import Account, BillingEvent, Customer, CustomerPhone
from pbx.db.types import utcnow


async def write_customers(
    session: AsyncSession, business: Business, records: Sequence[CustomerRecord]
) -> list[Result]:
    rows = await rows_among(session, (Customer.customer_ref, Customer.id, Customer.source_version),
                            Customer.customer_ref, [r.ref for r in records], lock=True)  # fmt: skip
    stored = {ref: (customer_id, version) for ref, customer_id, version in rows}
    results: dict[str, Result] = {}
    new: list[CustomerRecord] = []
    changed: list[tuple[int, CustomerRecord]] = []
    for record in records:
        found = stored.get(record.ref)
        if found is None:
            new.append(record)
        elif (outcome := by_version(found[1], record.source_version)) is not None:
            results[record.ref] = Result(record.ref, outcome)
        else:
            changed.append((found[0], record))
    now = utcnow()
    ids = await _insert_customers(session, business.tenant_id, new, now)
    if changed:
        async with cached_plans(session):  # one plan for the executemany's rows
            await session.execute(update(Customer), [
                {"id": customer_id, **_customer_fields(record), "updated_at": now}
                for customer_id, record in changed
            ])  # fmt: skip
    removed = await _replace_phones(session, business.tenant_id, changed, new, ids)
    for record in new:
        results[record.ref] = Result(record.ref, Outcome.CREATED, customer_ids=(ids[record.ref],))
    for customer_id, record in changed:
        results[record.ref] = Result(record.ref, Outcome.UPDATED, customer_ids=(customer_id,),
                                     numbers=frozenset(removed.get(customer_id, ())))  # fmt: skip
    return [results[record.ref] for record in records]


def _customer_fields(record: CustomerRecord) -> dict[str, Any]:
    address = record.address
    return {
        "name": record.name, "email": record.email, "language": record.language,
        "date_of_birth": record.date_of_birth, "address_line1": address.line1,
        "address_line2": address.line2, "address_city": address.city,
        "address_postal_code": address.postal_code, "address_country": address.country,
        "source_version": record.source_version,
    }  # fmt: skip


async def _insert_customers(
    session: AsyncSession, tenant_id: int, records: list[CustomerRecord], now: datetime
) -> dict[str, int]:
    """Their ids by ref: copied in (`copy_rows`), then read back by ref."""
    if not records:
        return {}
    rows = []
    for record in records:
        address = record.address
        rows.append((
            tenant_id, record.ref, record.name, record.email, record.language,
            record.date_of_birth, address.line1, address.line2, address.city,
            address.postal_code, address.country, record.source_version, now, now,
        ))  # fmt: skip
    await copy_rows(session, Customer, tenant_id, _CUSTOMER_COLUMNS, rows)
    rows = await rows_among(session, (Customer.customer_ref, Customer.id), Customer.customer_ref,
                            [record.ref for record in records])  # fmt: skip
    return {ref: customer_id for ref, customer_id in rows}


_CUSTOMER_COLUMNS = (
    "tenant_id", "customer_ref", "name", "email", "language", "date_of_birth", "address_line1",
    "address_line2", "address_city", "address_postal_code", "address_country",
    "source_version", "created_at", "updated_at",
)  # fmt: skip


async def _replace_phones(
    session: AsyncSession,
    tenant_id: int,
    changed: list[tuple[int, CustomerRecord]],
    new: list[CustomerRecord],
    ids: dict[str, int],
) -> dict[int, set[str]]:
    """Each customer's numbers become the record's: the ones it keeps stay as they are (their
    labels too), the others are deleted, the new ones added. The numbers taken away, by
    customer."""
    held: dict[int, dict[str, int]] = {customer_id: {} for customer_id, _ in changed}
    if changed:
        rows = await rows_among(
            session, (CustomerPhone.customer_id, CustomerPhone.e164, CustomerPhone.id),
            CustomerPhone.customer_id, list(held),
        )  # fmt: skip
        for customer_id, e164, phone_id in rows:
            held[customer_id][e164] = phone_id
    removed: dict[int, set[str]] = {}
    gone: list[int] = []
    added = [(ids[record.ref], e164) for record in new for e164 in record.phones]
    for customer_id, record in changed:
        numbers = held[customer_id]
        removed[customer_id] = set(numbers) - set(record.phones)
        gone += [numbers[e164] for e164 in removed[customer_id]]
        added += [(customer_id, e164) for e164 in record.phones if e164 not in numbers]
    if gone:
        await session.execute(delete(CustomerPhone).where(any_of(session, CustomerPhone.id, gone)))
    await insert_rows(session, CustomerPhone, tenant_id, [
        {"tenant_id": tenant_id, "customer_id": customer_id, "e164": e164, "label": ""}
        for customer_id, e164 in added
    ])  # fmt: skip
    return removed


async def write_accounts(
    session: AsyncSession, business: Business, records: Sequence[AccountRecord]
) -> list[Result]:
    owners = await rows_among(session, (Customer.customer_ref, Customer.id), Customer.customer_ref,
                              {r.customer_ref for r in records})  # fmt: skip
    customers = {ref: customer_id for ref, customer_id in owners}
    rows = await rows_among(
        session, (Account.account_ref, Account.id, Account.source_version, Account.customer_id,
                  Account.currency),
        Account.account_ref, [r.ref for r in records], lock=True,
    )  # fmt: skip
    stored = {ref: _StoredAccount(account_id, version, customer_id, currency)
              for ref, account_id, version, customer_id, currency in rows}  # fmt: skip
    unknown_events = await _unknown_events(session, records)
    results: dict[str, Result] = {}
    new: list[AccountRecord] = []
    changed: list[tuple[int, int, AccountRecord]] = []  # id, its customer until now, record
    for record in records:
        found, owner = stored.get(record.ref), customers.get(record.customer_ref)
        refused = _account_refused(record, owner, found, unknown_events)
        if refused is not None:
            results[record.ref] = Result(record.ref, refused=refused)
        elif found is None:
            new.append(record)
        elif (outcome := by_version(found.source_version, record.source_version)) is not None:
            results[record.ref] = Result(record.ref, outcome)
        else:
            changed.append((found.id, found.customer_id, record))
    now = utcnow()
    ids: dict[str, int] = {}
    if new:
        await copy_rows(session, Account, business.tenant_id, _ACCOUNT_COLUMNS, [
            (business.tenant_id, record.ref, customers[record.customer_ref], 0,
             record.currency, record.status, record.vip, record.source_version, now, now)
            for record in new
        ])  # fmt: skip
        made = await rows_among(session, (Account.account_ref, Account.id), Account.account_ref,
                                [record.ref for record in new])  # fmt: skip
        ids = {ref: account_id for ref, account_id in made}
    if changed:
        async with cached_plans(session):
            await session.execute(update(Account), [
                {"id": account_id, "customer_id": customers[record.customer_ref],
                 **_account_fields(record), "updated_at": now}
                for account_id, _, record in changed
            ])  # fmt: skip
    written = [(ids[r.ref], r) for r in new] + [(i, r) for i, _, r in changed]
    await _state_balances(session, business.tenant_id, written)
    for record in new:
        owner = customers[record.customer_ref]
        results[record.ref] = Result(record.ref, Outcome.CREATED, customer_ids=(owner,))
    for _, before, record in changed:
        owners = tuple(dict.fromkeys((customers[record.customer_ref], before)))
        results[record.ref] = Result(record.ref, Outcome.UPDATED, customer_ids=owners)
    return [results[record.ref] for record in records]


_ACCOUNT_COLUMNS = (
    "tenant_id", "account_ref", "customer_id", "balance_minor", "currency", "status", "vip",
    "source_version", "created_at", "updated_at",
)  # fmt: skip


class _StoredAccount(NamedTuple):
    id: int
    source_version: int | None
    customer_id: int
    currency: str


def _account_fields(record: AccountRecord) -> dict[str, Any]:
    return {"currency": record.currency, "status": record.status, "vip": record.vip,
            "source_version": record.source_version}  # fmt: skip


def _account_refused(
    record: AccountRecord, owner: int | None, found: Any, unknown_events: set[str]
) -> IngestRefused | None:
    if owner is None:
        return unknown_parent("customer", "customer", record.customer_ref)
    if found is not None and found.currency != record.currency:
        problem = f"the account is in {found.currency}; its currency cannot change"
        return IngestRefused("currency_mismatch", "currency", problem)
    missing = [e for e in record.acknowledged_events if e in unknown_events]
    if missing:
        problem = "no such event of this business: " + ", ".join(missing[:5])
        return IngestRefused("unknown_events", "acknowledged_events", problem)
    return None


async def _unknown_events(session: AsyncSession, records: Sequence[AccountRecord]) -> set[str]:
    """The acknowledged event ids in `records` that are not this business's events."""
    named = {e for record in records for e in record.acknowledged_events}
    if not named:
        return set()
    found = set(await session.scalars(
        select(BillingEvent.public_id).where(any_of(session, BillingEvent.public_id, named))
    ))  # fmt: skip
    return named - found


async def _state_balances(
    session: AsyncSession, tenant_id: int, written: list[tuple[int, AccountRecord]]
) -> None:
    """The balances the records state: the chunk's at once (`balances.state_balances`),
    those acknowledging events through `billing_bridge.balances.state_balance` one by one."""
    stating = {account_id: record for account_id, record in written
               if record.balance_minor is not None}  # fmt: skip
    plain = {i: r.balance_minor for i, r in stating.items() if not r.acknowledged_events}
    await state_balances(session, tenant_id, plain)  # type: ignore[arg-type]
    acknowledging = [account_id for account_id in stating if account_id not in plain]
    if not acknowledging:
        return
    accounts = await session.scalars(
        select(Account).where(any_of(session, Account.id, acknowledging))
    )
    for account in accounts:
        record = stating[account.id]
        assert record.balance_minor is not None
        await state_balance(session, account, record.balance_minor,
                            acknowledged_event_ids=record.acknowledged_events)  # fmt: skip
