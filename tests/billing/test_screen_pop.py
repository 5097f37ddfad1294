"""The screen-pop's account panel: what an agent sees about the caller, and nothing else."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from billing_bridge.payments.ledger import post_entry
from billing_bridge.screen_pop import _PANEL, customer_panel
from pbx.db.database import Database
from pbx.db.direct import prepare
from pbx.db.models import Account, AccountEntry, BillingEvent, Call, Mandate, Payment, Recording
from tests.factories import make_customer, make_tenant

TODAY = date(2026, 3, 10)


async def seed(database: Database) -> tuple[int, int, int, int]:
    """A business with a customer who has two accounts, and a second customer."""
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    customer = await make_customer(database, tenant, "C-1", "דנה כהן", ["+972501234567"], [
        {"currency": "ILS", "balance_minor": 45_050, "status": "overdue", "invoices": [
            {"amount_minor": 30_000, "due_on": TODAY - timedelta(days=40), "status": "open"},
            {"amount_minor": 15_050, "due_on": TODAY - timedelta(days=10), "status": "open"},
            {"amount_minor": 9_900, "due_on": TODAY + timedelta(days=5), "status": "open"},
            {"amount_minor": 5_000, "outstanding_minor": 0, "status": "paid",
             "due_on": TODAY - timedelta(days=70)},
        ]},
        {"currency": "EUR", "balance_minor": 0, "status": "active", "vip": True},
    ])  # fmt: skip
    other = await make_customer(database, tenant, "C-2", "Avi Levi", ["+972509999999"], [
        {"currency": "ILS", "balance_minor": 100, "status": "overdue", "invoices": [
            {"amount_minor": 100, "due_on": TODAY - timedelta(days=3), "status": "open"}]},
    ])  # fmt: skip
    async with database.tenant_session(tenant) as session, session.begin():
        ils, _eur = await session.scalars(
            select(Account.id).where(Account.customer_id == customer).order_by(Account.id)
        )
        other_account = await session.scalar(select(Account.id).where(Account.customer_id == other))
        session.add(Mandate(customer_id=customer, account_id=ils, provider="gocardless",
                            scheme="bacs", status="active"))  # fmt: skip
        at = datetime(2026, 3, 1, 9, tzinfo=UTC)
        for n in range(7):  # more than the panel shows: the newest five
            session.add(Payment(account_id=ils, amount_minor=1_000 + n, currency="ILS",
                                method="card", provider="sandbox", idempotency_key=f"k{n}",
                                status="succeeded", created_at=at + timedelta(days=n)))  # fmt: skip
        session.add(Payment(account_id=other_account, amount_minor=7, currency="ILS",
                            method="card", provider="sandbox", idempotency_key="other",
                            status="succeeded", created_at=at))  # fmt: skip
        call = Call(channel_id="c1", caller_raw="0501234567", match="unique",
                    customer_id=customer, arrived_at=at, outcome="answered",
                    disposition="promise-to-pay", notes="יתקשר שוב")  # fmt: skip
        session.add(call)
        await session.flush()
        for status in ("stored", "pending"):  # only a stored one can be played
            session.add(Recording(call_id=call.id, asterisk_name=f"r-{status}", format="opus",
                                  status=status))  # fmt: skip
    return tenant, customer, other, ils


async def test_the_panel_shows_the_callers_accounts_overdue_invoices_mandates_payments_and_calls(
    database: Database,
) -> None:
    tenant, customer, _, ils = await seed(database)

    panel = await customer_panel(database, tenant, customer, TODAY)

    assert panel is not None
    assert panel["customer"]["name"] == "דנה כהן"
    assert [(a["currency"], a["balance_minor"], a["vip"]) for a in panel["accounts"]] == [
        ("ILS", 45_050, False), ("EUR", 0, True)]  # fmt: skip
    # Open, with something outstanding, past due: oldest first, with days overdue.
    assert [(i["outstanding_minor"], i["days_overdue"]) for i in panel["overdue_invoices"]] == [
        (30_000, 40), (15_050, 10)]  # fmt: skip
    assert [(m["scheme"], m["status"], m["account_id"]) for m in panel["mandates"]] == [
        ("bacs", "active", ils)]  # fmt: skip
    assert [p["amount_minor"] for p in panel["payments"]] == [1_006, 1_005, 1_004, 1_003, 1_002]
    assert panel["payments"][0]["at"].startswith("2026-03-07T09:00:00")
    assert [(c["disposition"], c["notes"]) for c in panel["recent_calls"]] == [
        ("promise-to-pay", "יתקשר שוב")]  # fmt: skip
    async with database.tenant_session(tenant) as session:
        stored = await session.scalar(select(Recording.id).where(Recording.status == "stored"))
    assert panel["recent_calls"][0]["recording_id"] == stored


async def test_a_customer_without_accounts_still_pops_with_empty_lists(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    customer = await make_customer(database, tenant, "C-9", "New Customer", ["+972501111111"])

    panel = await customer_panel(database, tenant, customer, TODAY)

    assert panel is not None and panel["customer"]["ref"] == "C-9"
    assert panel["accounts"] == panel["overdue_invoices"] == panel["payments"] == []


async def test_another_businesss_customer_is_not_found(database: Database) -> None:
    _, customer, _, _ = await seed(database)
    elsewhere = await make_tenant(database, "other", "IL", "ILS", ["+97237630199"])

    assert await customer_panel(database, elsewhere, customer, TODAY) is None


def test_the_panel_is_one_statement_prepared_once_for_postgresql() -> None:
    """Sent straight through asyncpg (`pbx/db/direct.py`): a part it refused (an expanding IN
    list) sent every pop through SQLAlchemy, at several times the CPU."""
    assert prepare(_PANEL, asyncpg_dialect()) is not None


async def test_the_panel_read_directly_is_the_panel_sqlalchemy_reads(
    postgres_database: Database,
) -> None:
    tenant, customer, _, ils = await seed(postgres_database)
    async with postgres_database.tenant_session(tenant) as session, session.begin():
        for seq, (kind, amount) in enumerate((("payment", -700), ("statement", 250)), 1):
            await post_entry(session, tenant, account_id=ils, kind=kind, amount_minor=amount,
                             currency="ILS")  # fmt: skip
            await session.flush()
            entry = await session.scalar(select(func.max(AccountEntry.id)))
            session.add(BillingEvent(tenant_id=tenant, seq=seq, public_id=f"evt_pop{seq}",
                                     type="payment.succeeded", version="2026-12-01",
                                     account_id=ils, entry_id=entry, data={}))  # fmt: skip
    through_sqlalchemy: list[str] = []

    def heard(*args: Any) -> None:
        through_sqlalchemy.append(args[2])

    parameters = {"customer_id": customer, "today": TODAY}
    event.listen(postgres_database.engine.sync_engine, "before_cursor_execute", heard)
    try:
        async with postgres_database.tenant_connection(tenant) as connection:
            direct = await connection.rows(_PANEL, parameters)
        panel = await customer_panel(postgres_database, tenant, customer, TODAY)
    finally:
        event.remove(postgres_database.engine.sync_engine, "before_cursor_execute", heard)
    async with postgres_database._sqlalchemy_connection(tenant) as connection:
        expected = await connection.rows(_PANEL, parameters)

    assert through_sqlalchemy == []
    assert [tuple(row) for row in direct] == [tuple(row) for row in expected]
    assert panel is not None
    # Only the payment is Ledgerline's own change pending in billing, not the statement.
    assert [a["pending_in_billing_minor"] for a in panel["accounts"]] == [-700, 0]
