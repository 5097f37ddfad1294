"""The customer import's balance column is the billing system stating a balance: applied as
`billing_bridge.balances.state_balance` applies one (what is still pending in billing added, a
`statement` entry for the difference, the stated balance and its time kept), so an imported
account's entries add up to its balance, and a file stating what is already there writes
nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from billing_bridge.customer_import_changes import ImportReport
from billing_bridge.customer_import_store import import_customers
from billing_bridge.events import emit
from billing_bridge.payments.ledger import post_account_entry
from pbx.db.database import Database
from pbx.db.models import Account, AccountEntry, BillingEvent
from tests.factories import make_tenant

HEADER = "customer_ref,name,phones,email,account_ref,currency,balance,status"


@pytest.fixture
async def tenant(database: Database) -> int:
    return await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"], "Asia/Jerusalem")


async def run(database: Database, tmp_path: Path, *rows: str) -> ImportReport:
    path = tmp_path / "customers.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return await import_customers(database, "ofek", path, actor="cli:root")


async def account(database: Database, tenant: int, ref: str = "A-1") -> Account:
    async with database.tenant_session(tenant) as session:
        return await session.scalar(select(Account).where(Account.account_ref == ref))


async def entries(database: Database, tenant: int, ref: str = "A-1") -> list[AccountEntry]:
    async with database.tenant_session(tenant) as session:
        rows = await session.scalars(
            select(AccountEntry).join(Account, Account.id == AccountEntry.account_id)
            .where(Account.account_ref == ref).order_by(AccountEntry.id))  # fmt: skip
        return list(rows)


async def pay(database: Database, tenant: int, account_id: int, amount_minor: int) -> str:
    """A payment Ledgerline took: an entry, pending in billing until its event is
    acknowledged."""
    async with database.tenant_session(tenant) as session, session.begin():
        entry = await post_account_entry(session, tenant, account_id=account_id, kind="payment",
                                         amount_minor=-amount_minor, currency="ILS")  # fmt: skip
        return emit(session, tenant, "payment.succeeded", {"amount_minor": amount_minor},
                    account_id=account_id, entry_id=entry.id)  # fmt: skip


async def test_a_new_account_s_balance_is_its_first_statement_entry(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,120.50,active",
              "C-1,Sarah,,,A-2,ILS,0,active")  # fmt: skip

    imported = await account(database, tenant)
    [entry] = await entries(database, tenant)
    assert (entry.kind, entry.amount_minor, entry.balance_after_minor) == (
        "statement", 12050, 12050)  # fmt: skip
    assert imported.balance_minor == imported.reported_balance_minor == 12050
    assert imported.reported_at is not None
    assert await entries(database, tenant, "A-2") == []  # nothing moved: no entry


async def test_a_changed_balance_writes_one_statement_entry_for_the_difference(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,120.50,active")
    first = (await account(database, tenant)).reported_at

    report = await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,100,overdue")

    assert report.accounts_updated == 1
    changed = await account(database, tenant)
    statement = (await entries(database, tenant))[-1]
    assert (statement.kind, statement.amount_minor, statement.balance_after_minor) == (
        "statement", -2050, 10000)  # fmt: skip
    assert len(await entries(database, tenant)) == 2
    assert (changed.balance_minor, changed.reported_balance_minor, changed.status) == (
        10000, 10000, "overdue")  # fmt: skip
    assert changed.reported_at is not None and first is not None and changed.reported_at >= first


async def test_the_same_balance_again_writes_nothing(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,120.50,active")
    before = await account(database, tenant)

    report = await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,120.50,active")

    assert (report.accounts_updated, report.accounts_unchanged) == (0, 1)
    assert len(await entries(database, tenant)) == 1
    after = await account(database, tenant)
    assert (after.balance_minor, after.reported_at) == (before.balance_minor, before.reported_at)


async def test_a_payment_pending_in_billing_stays_counted_until_acknowledged(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,500,active")
    account_id = (await account(database, tenant)).id
    event_id = await pay(database, tenant, account_id, 20000)

    # The billing system has not seen the payment: the file states the old balance.
    report = await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,500,active")
    assert report.accounts_unchanged == 1
    assert (await account(database, tenant)).balance_minor == 30000

    # It states a new balance (an invoice added 50.00): the payment is still taken off.
    await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,550,active")
    stated = await account(database, tenant)
    assert (stated.balance_minor, stated.reported_balance_minor) == (35000, 55000)
    assert (await entries(database, tenant))[-1].amount_minor == 5000

    # Once acknowledged, a statement that includes the payment is taken as it is.
    async with database.tenant_session(tenant) as session, session.begin():
        row = await session.scalar(select(BillingEvent).where(BillingEvent.public_id == event_id))
        row.acknowledged_at = func.now()
    await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,350,active")
    assert (await account(database, tenant)).balance_minor == 35000


async def test_an_imported_account_s_entries_add_up_to_its_balance(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,100,active")
    account_id = (await account(database, tenant)).id
    for stated, paid in (("250", 3000), ("80.25", 0), ("0", 1250), ("1000", 0)):
        await run(database, tmp_path, f"C-1,Sarah,,,A-1,ILS,{stated},active")
        if paid:
            await pay(database, tenant, account_id, paid)

    moves = await entries(database, tenant)
    balance = (await account(database, tenant)).balance_minor
    assert sum(e.amount_minor for e in moves) == balance == 100000 - 3000 - 1250
    running = 0
    for entry in moves:
        running += entry.amount_minor
        assert entry.balance_after_minor == running


async def test_a_chunk_of_changed_balances_costs_the_same_statements_whatever_its_size(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    """Set-based: one lock, one pending read, one update and one insert of entries for a
    chunk, not a round trip per account."""

    async def statements_for(count: int, balance: str) -> tuple[int, int]:
        rows = [f"C-{n},Name {n},,,A-{n},ILS,{balance},active" for n in range(count)]
        seen: list[str] = []

        def counted(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
            seen.append(statement)

        engine = database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", counted)
        try:
            report = await run(database, tmp_path, *rows)
        finally:
            event.remove(engine, "before_cursor_execute", counted)
        writes = sum(1 for s in seen if s.lstrip().upper().startswith(("INSERT", "UPDATE")))
        return report.accounts_updated, writes

    await run(database, tmp_path, *(f"C-{n},Name {n},,,A-{n},ILS,1,active" for n in range(40)))
    few = await statements_for(4, "2")
    many = await statements_for(40, "3")
    assert (few[0], many[0]) == (4, 40)
    assert few[1] == many[1]
    async with database.tenant_session(tenant) as session:
        total = await session.scalar(select(func.count()).select_from(AccountEntry))
    assert total == 40 + 4 + 40  # each account's first balance, then each change once


async def test_a_currency_does_not_change_while_a_payment_is_pending_in_billing(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    """Stated at zero, but a payment not yet acknowledged is part of the balance: changing
    the currency would add it to a balance in another currency."""
    await run(database, tmp_path, "C-1,Sarah,,,A-1,ILS,0,active")
    await pay(database, tenant, (await account(database, tenant)).id, 1050)

    report = await run(database, tmp_path, "C-1,Sarah,,,A-1,EUR,0,active")

    [problem] = report.problems
    assert "has a balance of -10.50 ILS; its currency cannot change to EUR" in problem.reason
    kept = await account(database, tenant)
    assert (kept.currency, kept.balance_minor) == ("ILS", -1050)
