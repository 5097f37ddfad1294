"""The ingest's shared SQL: rows copied in (COPY on PostgreSQL) refused as a statement would
be, another tenant's rows refused before anything is written, and refs looked up by a bound
array (PostgreSQL) or an IN list (SQLite) alike, whatever characters they hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from billing_bridge.ingest.sql import (
    any_of,
    cached_plans,
    copy_rows,
    plan_for_values,
    rows_among,
)
from pbx.db.database import Database
from pbx.db.models import Customer
from pbx.db.tenancy import CrossTenantAccess
from tests.factories import make_customer, make_tenant

COLUMNS = ("tenant_id", "customer_ref", "name", "created_at", "updated_at")


def _row(tenant_id: int, ref: str) -> tuple:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    return (tenant_id, ref, f"Customer {ref}", now, now)


async def test_a_copied_row_whose_ref_is_taken_is_refused_as_a_duplicate(
    database: Database,
) -> None:
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    await make_customer(database, tenant_id, "C-1", "Dana", [])

    with pytest.raises(IntegrityError):
        async with database.tenant_session(tenant_id) as session, session.begin():
            await copy_rows(session, Customer, tenant_id, COLUMNS,
                            [_row(tenant_id, "C-2"), _row(tenant_id, "C-1")])  # fmt: skip

    async with database.tenant_session(tenant_id) as session:
        refs = set(await session.scalars(select(Customer.customer_ref)))
    assert refs == {"C-1"}  # nothing of the refused copy stays


async def test_rows_of_another_tenant_are_refused_before_any_is_written(
    database: Database,
) -> None:
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    other = await make_tenant(database, "other", "IL", "ILS", ["+97237630199"])

    with pytest.raises(CrossTenantAccess):
        async with database.tenant_session(tenant_id) as session, session.begin():
            await copy_rows(session, Customer, tenant_id, COLUMNS,
                            [_row(tenant_id, "C-1"), _row(other, "C-2")])  # fmt: skip

    async with database.system_session() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 0


async def test_refs_are_found_by_any_of_as_written_and_only_the_tenants_own(
    database: Database,
) -> None:
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    other = await make_tenant(database, "other", "IL", "ILS", ["+97237630199"])
    refs = ["C-O'Brien", "C-\\x27", "C-%", "C-_", 'C-"{,}"', "C-1"]
    for ref in refs:
        await make_customer(database, tenant_id, ref, "Dana", [])
    await make_customer(database, other, "C-1", "Not ours", [])

    async with database.tenant_session(tenant_id) as session, session.begin():
        await plan_for_values(session)
        found = dict((await session.execute(
            select(Customer.customer_ref, Customer.name)
            .where(any_of(session, Customer.customer_ref, [*refs, "C-missing"]))
        )).all())  # fmt: skip

    assert found == dict.fromkeys(refs, "Dana")


async def test_rows_among_reads_the_sessions_business_only_before_and_after_its_first_statement(
    database: Database,
) -> None:
    """On asyncpg, once the transaction has begun, `rows_among` sends its own SELECT on the
    session's connection; before, it is SQLAlchemy's: both find the refs as written, and
    neither another business's row of the same ref."""
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    other = await make_tenant(database, "other", "IL", "ILS", ["+97237630199"])
    refs = ["C-O'Brien", "C-\\x27", "C-%", 'C-"{,}"', "C-1"]
    for ref in refs:
        await make_customer(database, tenant_id, ref, "Dana", [])
    await make_customer(database, other, "C-1", "Not ours", [])
    wanted = [*refs, "C-missing"]

    async with database.tenant_session(tenant_id) as session, session.begin():
        first = await rows_among(session, (Customer.customer_ref, Customer.name),
                                 Customer.customer_ref, wanted)  # fmt: skip
        await plan_for_values(session)
        async with session.begin_nested():
            then = await rows_among(session, (Customer.customer_ref, Customer.name),
                                    Customer.customer_ref, wanted)  # fmt: skip

    assert dict(first) == dict(then) == dict.fromkeys(refs, "Dana")  # type: ignore[arg-type]


async def test_writes_run_with_cached_plans_and_the_transaction_gets_its_mode_back(
    postgres_database: Database,
) -> None:
    """Under `plan_for_values` every statement is planned for its values, the foreign keys'
    per-row checks included (a plan a row): a copy runs with PostgreSQL's plan cache, and
    after it, or after a copy refused inside a savepoint, the batch's mode is back."""
    database = postgres_database
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    await make_customer(database, tenant_id, "C-1", "Dana", [])
    mode = text("SELECT current_setting('plan_cache_mode')")

    async with database.tenant_session(tenant_id) as session, session.begin():
        await plan_for_values(session)
        async with cached_plans(session):
            assert await session.scalar(mode) == "auto"
        assert await session.scalar(mode) == "force_custom_plan"
        await copy_rows(session, Customer, tenant_id, COLUMNS, [_row(tenant_id, "C-2")])
        assert await session.scalar(mode) == "force_custom_plan"
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await copy_rows(session, Customer, tenant_id, COLUMNS,
                                [_row(tenant_id, "C-3"), _row(tenant_id, "C-1")])  # fmt: skip
        assert await session.scalar(mode) == "force_custom_plan"

    async with database.tenant_session(tenant_id) as session:
        refs = set(await session.scalars(select(Customer.customer_ref)))
    assert refs == {"C-1", "C-2"}
