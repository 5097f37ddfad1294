"""An invoice's account is of the invoice's own business, held by the database: one foreign
key (tenant_id, account_id) -> accounts (tenant_id, id), migration 0029, which keeps every
invoice and what names it, on SQLite too (where a copy of the table would have
cascade-deleted the collection attempts)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from pbx.db.database import Database
from pbx.db.migrate import current_revision, head_revision, upgrade
from tests.recordings.test_schema import downgrade, fresh_database  # noqa: F401 (a fixture)

_NOW = "CURRENT_TIMESTAMP"
_BUSINESSES = [
    f"INSERT INTO tenants (id, slug, name, default_region, currency, timezone, created_at) "
    f"VALUES ({n}, 'b{n}', 'B{n}', 'IL', 'ILS', 'UTC', {_NOW})"
    for n in (1, 2)
] + [
    f"INSERT INTO customers (id, customer_ref, name, created_at, updated_at, tenant_id) "
    f"VALUES ({n}, 'C-{n}', 'Dana', {_NOW}, {_NOW}, {n})"
    for n in (1, 2)
] + [
    f"INSERT INTO accounts (id, customer_id, account_ref, currency, balance_minor, status, vip, "
    f"created_at, updated_at, tenant_id) VALUES ({n}, {n}, 'A-{n}', 'ILS', 0, 'active', false, "
    f"{_NOW}, {_NOW}, {n})"
    for n in (1, 2)
]  # fmt: skip


def _invoice(invoice_id: int, tenant_id: int, account_id: int) -> str:
    return (
        "INSERT INTO invoices (id, tenant_id, account_id, invoice_ref, currency, amount_minor, "
        f"outstanding_minor, issued_on, due_on, status) VALUES ({invoice_id}, {tenant_id}, "
        f"{account_id}, 'I-{invoice_id}', 'ILS', 100, 100, '2026-11-01', '2026-12-01', 'open')"
    )


async def _run(database: Database, *statements: str) -> None:
    async with database.engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


async def _count(database: Database, table: str) -> int:
    async with database.engine.connect() as connection:
        return int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_an_invoice_on_another_businesss_account_is_refused(database: Database) -> None:
    await _run(database, *_BUSINESSES, _invoice(1, 1, 1))
    with pytest.raises(IntegrityError):
        await _run(database, _invoice(2, 1, 2))  # business 1, business 2's account
    with pytest.raises(IntegrityError):
        await _run(database, _invoice(3, 3, 1))  # no such business
    assert await _count(database, "invoices") == 1

    await _run(database, "DELETE FROM accounts WHERE id = 1")  # its invoices go with it
    assert await _count(database, "invoices") == 0


# What names an invoice, as 0028 knew it: a mandate, and a collection attempt on the invoice.
_NAMING = [
    f"INSERT INTO mandates (id, customer_id, account_id, provider, scheme, status, created_at, "
    f"updated_at, tenant_id) VALUES (1, 1, 1, 'fake', 'bacs', 'active', {_NOW}, {_NOW}, 1)",
    f"INSERT INTO collection_attempts (id, invoice_id, mandate_id, attempt, idempotency_key, "
    f"amount_minor, currency, status, created_at, updated_at, tenant_id) VALUES (1, 1, 1, 1, "
    f"'k-1', 100, 'ILS', 'pending', {_NOW}, {_NOW}, 1)",
]  # fmt: skip


async def test_migration_0029_keeps_the_invoices_and_what_names_them_and_round_trips(
    fresh_database: Database,  # noqa: F811 (the fixture imported above)
) -> None:
    database = fresh_database
    await upgrade(database, "0028")
    await _run(database, *_BUSINESSES, _invoice(1, 1, 1), _invoice(2, 2, 2), *_NAMING)

    await upgrade(database)
    assert await current_revision(database) == head_revision()
    tables = ("invoices", "collection_attempts")
    counts: dict[str, Any] = {t: await _count(database, t) for t in tables}
    assert counts == {"invoices": 2, "collection_attempts": 1}
    with pytest.raises(IntegrityError):
        await _run(database, _invoice(3, 1, 2))

    await downgrade(database, "0028")
    assert {t: await _count(database, t) for t in counts} == counts
    await _run(database, _invoice(3, 1, 2))  # before 0029, only the code held it
    await _run(database, "DELETE FROM invoices WHERE id = 3")
    await upgrade(database)
    assert {t: await _count(database, t) for t in counts} == counts
