"""Overdue is counted in the business's own time zone everywhere: the screen-pop's panel and
the card payment's default use the same day as the caller lookup, not the server's UTC date."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select, update

from billing_bridge.business_days import BusinessDays, business_today
from pbx.db.database import Database
from pbx.db.models import Account, Tenant
from pbx.desk.ledger import LedgerMoney
from pbx.events.hub import Hub
from pbx.events.log import MemoryEventLog
from pbx.events.publisher import DeskPublisher
from tests.factories import make_customer, make_tenant

# 00:30 on 7 December in Jerusalem, still the 6th in UTC.
AFTER_LOCAL_MIDNIGHT = datetime(2026, 12, 6, 22, 30, tzinfo=UTC)
DUE = date(2026, 12, 6)  # overdue in Jerusalem from the 7th


async def _owing(database: Database, zone: str) -> tuple[int, int, int]:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"], zone)
    customer = await make_customer(database, tenant, "C-1", "Dana", ["+972502345678"], [
        {"ref": "A-1", "currency": "ILS", "balance_minor": 90_000,
         "invoices": [{"amount_minor": 45_050, "due_on": DUE}]},
    ])  # fmt: skip
    async with database.tenant_session(tenant) as session:
        account = await session.scalar(select(Account.id))
    assert account is not None
    return tenant, customer, account


async def test_today_is_the_business_s_day(database: Database) -> None:
    east = await make_tenant(database, "east", "IL", "ILS", ["+97237630100"], "Asia/Jerusalem")
    west = await make_tenant(database, "west", "US", "USD", ["+12025550100"], "America/New_York")

    assert await business_today(database, east, AFTER_LOCAL_MIDNIGHT) == date(2026, 12, 7)
    assert await business_today(database, west, AFTER_LOCAL_MIDNIGHT) == date(2026, 12, 6)


async def test_a_zone_changed_by_an_admin_is_read_again_after_its_time(database: Database) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"], "UTC")
    days = BusinessDays(database, lambda: AFTER_LOCAL_MIDNIGHT, ttl_s=0.0)
    assert await days.today(tenant) == date(2026, 12, 6)
    async with database.system_session() as session, session.begin():
        await session.execute(
            update(Tenant).where(Tenant.id == tenant).values(timezone="Asia/Jerusalem")
        )

    assert await days.today(tenant) == date(2026, 12, 7)


async def test_the_panel_counts_an_invoice_overdue_after_the_business_s_midnight(
    database: Database,
) -> None:
    tenant, customer, _ = await _owing(database, "Asia/Jerusalem")
    hub = Hub(MemoryEventLog(10), wait_s=0.1)
    try:
        publisher = DeskPublisher(hub, database, lambda: AFTER_LOCAL_MIDNIGHT)
        panel = await publisher._read_panel(tenant, customer)
    finally:
        await hub.close()

    assert panel is not None
    assert [(i["outstanding_minor"], i["days_overdue"]) for i in panel["overdue_invoices"]] == [
        (45_050, 1)
    ]


async def test_the_card_payment_defaults_to_what_is_overdue_in_the_business_s_day(
    database: Database,
) -> None:
    tenant, customer, account = await _owing(database, "Asia/Jerusalem")
    money = LedgerMoney(database, lambda: None, lambda: None,  # type: ignore[arg-type]
                        lambda: AFTER_LOCAL_MIDNIGHT)  # fmt: skip

    due = await money.amount_due(tenant, account, customer)

    assert (due.amount_minor, due.currency) == (45_050, "ILS")  # the invoice, not the balance
