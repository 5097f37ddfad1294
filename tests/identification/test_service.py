"""Caller identification against a real database (each test runs on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest
from sqlalchemy import update

from billing_bridge.identification.cache import MemoryCache, NoCache
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.model import Match, NoMatchReason
from billing_bridge.identification.service import CallerIdentification
from pbx.db.database import Database
from pbx.db.models import Account
from tests.factories import make_customer, make_tenant

TEL_AVIV_DID = "+97235550100"
VILNIUS_DID = "+37052550100"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def service(database: Database, cache=None, **options) -> CallerIdentification:
    return CallerIdentification(
        CustomerDirectory(database),
        cache or NoCache(),
        fallback_region="IL",
        **({"clock": lambda: NOW} | options),
    )


@pytest.fixture
async def tenants(database: Database) -> dict[str, int]:
    return {
        "il": await make_tenant(database, "ofek", "IL", "ILS", [TEL_AVIV_DID], "Asia/Jerusalem"),
        "lt": await make_tenant(database, "saule", "LT", "EUR", [VILNIUS_DID], "Europe/Vilnius"),
    }


async def test_a_known_caller_is_identified_with_balance_and_overdue_amount(
    database: Database, tenants: dict[str, int]
) -> None:
    await make_customer(
        database,
        tenants["il"],
        "C-100",
        "שרה כהן",
        ["+972502345678"],
        accounts=[
            {
                "ref": "ACC-1",
                "currency": "ILS",
                "balance_minor": 45_050,
                "status": "overdue",
                "invoices": [
                    {"amount_minor": 30_000, "due_on": date(2026, 10, 1)},
                    {"amount_minor": 15_050, "due_on": date(2026, 12, 1)},  # not yet due
                    {"amount_minor": 9_999, "due_on": date(2026, 9, 1), "status": "paid"},
                ],
            },
            {"ref": "ACC-2", "currency": "ILS", "balance_minor": 1_000, "status": "active"},
        ],
    )
    result = await service(database).identify("050-234-5678", "03-555-0100")
    assert result.match is Match.UNIQUE
    customer = result.customer
    assert customer is not None
    assert customer.name == "שרה כהן"
    assert customer.balance_minor == 46_050
    assert customer.headline_currency == "ILS"
    assert customer.overdue == {"ILS": 30_000}
    assert customer.account_status == "overdue"
    assert result.priority == 5
    assert [a.overdue_invoices for a in customer.accounts] == [1, 0]


async def test_an_invoice_due_yesterday_in_the_business_time_zone_is_overdue(
    database: Database, tenants: dict[str, int]
) -> None:
    # 2026-11-23 01:30 in Jerusalem is still 2026-11-22 in UTC.
    late_evening_utc = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    await make_customer(
        database, tenants["il"], "C-1", "Noa", ["+972502345678"],
        accounts=[{"currency": "ILS", "balance_minor": 500,
                   "invoices": [{"amount_minor": 500, "due_on": date(2026, 11, 22)}]}],
    )  # fmt: skip
    identify = service(database, clock=lambda: late_evening_utc).identify
    result = await identify("+972502345678", TEL_AVIV_DID)
    assert result.customer is not None
    assert result.customer.overdue == {"ILS": 500}


async def test_a_number_shared_by_a_household_is_ambiguous_with_its_candidates(
    database: Database, tenants: dict[str, int]
) -> None:
    home = "+97235551234"
    await make_customer(database, tenants["il"], "C-1", "Avi Levi", [home, "+972502345678"])
    await make_customer(database, tenants["il"], "C-2", "Dana Levi", [home])
    result = await service(database).identify("03-555-1234", TEL_AVIV_DID)
    assert result.match is Match.AMBIGUOUS
    assert [c.name for c in result.candidates] == ["Avi Levi", "Dana Levi"]
    assert result.customer is None


async def test_candidates_are_capped(database: Database, tenants: dict[str, int]) -> None:
    for n in range(5):
        await make_customer(database, tenants["il"], f"C-{n}", f"Tenant {n}", ["+97235551234"])
    result = await service(database, max_candidates=3).identify("+97235551234", TEL_AVIV_DID)
    assert len(result.candidates) == 3


async def test_an_unknown_number_is_no_match(database: Database, tenants: dict[str, int]) -> None:
    result = await service(database).identify("+972502345678", TEL_AVIV_DID)
    assert result.match is Match.NONE
    assert result.reason is NoMatchReason.NOT_FOUND
    assert result.caller_e164 == "+972502345678"


@pytest.mark.parametrize(
    ("caller", "presentation", "reason"),
    [
        ("anonymous", None, NoMatchReason.WITHHELD),
        ("unknown", None, NoMatchReason.MISSING),
        ("", None, NoMatchReason.MISSING),
        ("+972502345678", 67, NoMatchReason.WITHHELD),
        ("not-a-number", None, NoMatchReason.INVALID),
    ],
)
async def test_callers_without_a_usable_number_are_no_match_with_the_reason(
    database: Database, tenants: dict[str, int], caller: str, presentation, reason
) -> None:
    await make_customer(database, tenants["il"], "C-1", "Avi", ["+972502345678"])
    result = await service(database).identify(caller, TEL_AVIV_DID, presentation)
    assert (result.match, result.reason) == (Match.NONE, reason)


async def test_a_call_to_a_number_no_business_owns_is_unknown_did(
    database: Database, tenants: dict[str, int]
) -> None:
    for dialed in ("+15550000000", "unknown", "", None):
        result = await service(database).identify("+972502345678", dialed)
        assert result.reason is NoMatchReason.UNKNOWN_DID


async def test_the_did_is_found_however_the_trunk_writes_it(
    database: Database, tenants: dict[str, int]
) -> None:
    await make_customer(database, tenants["lt"], "L-1", "Žygimantas Šimkūnas", ["+37061234567"])
    for dialed in ("+37052550100", "37052550100", "0037052550100"):
        result = await service(database).identify("8 612 34567", dialed)
        assert result.customer is not None, dialed
        assert result.customer.name == "Žygimantas Šimkūnas"


async def test_the_default_tenant_serves_calls_without_a_did(
    database: Database, tenants: dict[str, int]
) -> None:
    await make_customer(database, tenants["lt"], "L-1", "Ona", ["+37061234567"])
    result = await service(database, default_tenant="saule").identify("861234567", "unknown")
    assert result.match is Match.UNIQUE


async def test_a_callers_number_in_another_tenant_is_not_found(
    database: Database, tenants: dict[str, int]
) -> None:
    await make_customer(database, tenants["lt"], "L-1", "Ona", ["+972502345678"])
    result = await service(database).identify("+972502345678", TEL_AVIV_DID)
    assert result.match is Match.NONE


async def test_the_cache_serves_repeat_calls_until_the_customer_changes(
    database: Database, tenants: dict[str, int]
) -> None:
    await make_customer(
        database, tenants["il"], "C-1", "Avi", ["+972502345678"],
        accounts=[{"ref": "A-1", "currency": "ILS", "balance_minor": 100}],
    )  # fmt: skip
    identification = service(database, cache=MemoryCache(ttl_seconds=300))
    first = await identification.identify("+972502345678", TEL_AVIV_DID)
    async with database.tenant_session(tenants["il"]) as session, session.begin():
        await session.execute(update(Account).values(balance_minor=900))
    stale = await identification.identify("+972502345678", TEL_AVIV_DID)
    assert stale == first  # served from cache: the change went behind its back
    await identification.forget_numbers(tenants["il"], ["+972502345678"])
    fresh = await identification.identify("+972502345678", TEL_AVIV_DID)
    assert fresh.customer is not None
    assert fresh.customer.balance_minor == 900


async def test_a_lookup_survives_the_database_dropping_its_connections(
    postgres_database: Database,
) -> None:
    database = postgres_database
    tenant = await make_tenant(database, "ofek", "IL", "ILS", [TEL_AVIV_DID])
    await make_customer(database, tenant, "C-1", "Avi", ["+972502345678"])
    identification = service(database)
    assert (await identification.identify("+972502345678", TEL_AVIV_DID)).match is Match.UNIQUE
    # From outside the pool, as a restart or a failover would.
    outsider = await asyncpg.connect(database.url.replace("postgresql+asyncpg", "postgresql"))
    try:
        dropped = await outsider.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await outsider.close()
    assert dropped >= 1
    assert (await identification.identify("+972502345678", TEL_AVIV_DID)).match is Match.UNIQUE
    # The lookup reads through its own pool: the ORM's still holds a dropped connection,
    # which the fixture's clean-up would fail on once (as any first use after a restart).
    await database.engine.dispose()


async def test_only_a_service_with_a_cache_hands_out_a_result_again(database: Database) -> None:
    # What the caller-lookup handler keeps per result (its encoded variables) is kept only
    # when the result can come back: with no cache, each lookup's result is new.
    assert service(database).keeps_results is False
    assert service(database, MemoryCache(60)).keeps_results is True
