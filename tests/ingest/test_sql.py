"""The ingest's shared SQL: rows copied in (COPY on PostgreSQL) refused as a statement would
be, another tenant's rows refused before anything is written, and refs looked up by a bound
array (PostgreSQL) or an IN list (SQLite) alike, whatever characters they hold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from billing_bridge.ingest.records import Business, read_customer
from billing_bridge.ingest.service import apply_records
from billing_bridge.ingest.sql import (
    any_of,
    cached_plans,
    copy_rows,
    plan_for_values,
    rows_among,
)
from billing_bridge.ingest.statistics import refresh_statistics, stale_tables
from pbx.audit import By
from pbx.db.database import Database
from pbx.db.models import Customer
from pbx.db.tenancy import CrossTenantAccess
from tests.factories import make_customer, make_tenant
from tests.waiting import until

ACTOR = By("key:erp")
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


async def test_a_transaction_that_asked_for_no_custom_plans_writes_without_switching_modes(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ingest's transactions leave the plan mode as PostgreSQL has it: a copy inside one
    sends no statement to switch to cached plans and back (two round trips a chunk)."""
    database = postgres_database
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    sent: list[str] = []

    def recorded(method: Any) -> Any:
        async def send(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            sent.append(query)
            return await method(self, query, *args, **kwargs)

        return send

    for name in ("fetchval", "execute"):  # how `cached_plans` switches
        monkeypatch.setattr(asyncpg.Connection, name, recorded(getattr(asyncpg.Connection, name)))
    async with database.tenant_session(tenant_id) as session, session.begin():
        await copy_rows(session, Customer, tenant_id, COLUMNS, [_row(tenant_id, "C-1")])
        switched = list(sent)
        await plan_for_values(session)  # asked for: then a copy switches, and back
        await copy_rows(session, Customer, tenant_id, COLUMNS, [_row(tenant_id, "C-2")])

    assert switched == []
    assert [q for q in sent if "plan_cache_mode" in q and "set_config" in q] == [
        "SELECT current_setting('plan_cache_mode'), set_config('plan_cache_mode', 'auto', true)",
        "SELECT set_config('plan_cache_mode', $1, true)",
    ]
    async with database.tenant_session(tenant_id) as session:
        assert set(await session.scalars(select(Customer.customer_ref))) == {"C-1", "C-2"}


# Each read by reference the ingest makes (`rows_among`): table, key, columns read, two refs.
_READS_BY_REF = [
    ("customers", "customer_ref", "customer_ref, id, source_version", "'{C1,C2}'"),
    ("accounts", "account_ref", "account_ref, id, source_version, customer_id, currency",
     "'{A1,A2}'"),
    ("invoices", "invoice_ref", "invoice_ref, id, source_version", "'{I1,I2}'"),
    ("customer_phones", "customer_id", "customer_id, e164, id", "'{1,2}'"),
]  # fmt: skip
_ROWS = 20_000  # a business's first sync well under way; below a few thousand rows the
# generic plan filters the refs row by row, a cost bounded by that small table


async def test_with_fresh_statistics_a_read_by_reference_uses_the_index_for_its_refs(
    postgres_database: Database,
) -> None:
    """The ingest's reads run under PostgreSQL's plan cache when the tables' statistics are
    fresh: after a few runs a statement may get a generic plan, made without the refs. On a
    table of some size the refs must then be the index's condition, never a filter each of
    the business's rows is compared with (with an index on tenant_id alone, that was the
    plan: hundreds of ms a chunk)."""
    database = postgres_database
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    async with database.engine.connect() as connection:
        for statement in (
            "INSERT INTO customers (tenant_id, customer_ref, name, created_at, updated_at)"
            " SELECT :t, 'C' || g, 'Customer ' || g, now(), now() FROM generate_series(1, :n) g",
            "INSERT INTO customer_phones (tenant_id, customer_id, e164, label)"
            " SELECT :t, id, '+9725' || lpad(id::text, 8, '0'), '' FROM customers",
            "INSERT INTO accounts (tenant_id, customer_id, account_ref, currency, balance_minor,"
            " status, vip, created_at, updated_at) SELECT :t, id, 'A' || id, 'ILS', 0, 'active',"
            " false, now(), now() FROM customers",
            "INSERT INTO invoices (tenant_id, account_id, invoice_ref, currency, amount_minor,"
            " outstanding_minor, issued_on, due_on, status) SELECT :t, id, 'I' || id, 'ILS',"
            " 100, 100, '2026-11-01', '2026-12-01', 'open' FROM accounts",
        ):
            await connection.execute(text(statement), {"t": tenant_id, "n": _ROWS})
        await connection.commit()
        await connection.execute(text("ANALYZE customers, customer_phones, accounts, invoices"))
        await connection.commit()
        for table, key, columns, values in _READS_BY_REF:
            await connection.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            await connection.execute(text(
                f"PREPARE by_ref(bigint, {_array_type(key)}) AS SELECT {columns} FROM {table}"
                f" WHERE tenant_id = $1 AND {key} = ANY($2)"
            ))  # fmt: skip
            plan = "\n".join((await connection.execute(
                text(f"EXPLAIN EXECUTE by_ref({tenant_id}, {values})"))).scalars())  # fmt: skip
            await connection.execute(text("DEALLOCATE by_ref"))
            await connection.rollback()
            condition = next((line for line in plan.splitlines() if "Index Cond" in line), "")
            bare = condition.replace("(", "").replace(")", "").replace("::text", "")
            assert f"{key} = ANY" in bare, f"{table}: {plan}"


async def test_a_batch_whose_statistics_are_stale_plans_its_reads_for_their_values(
    postgres_database: Database,
) -> None:
    """When the statistics could not be refreshed (an ANALYZE that cannot have its lock
    within a second), the batch's reads are planned for their values, without scanning
    whole tables, and the batch is written all the same."""
    database = postgres_database
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    async with database.engine.connect() as writer:  # enough change to want an ANALYZE
        await writer.execute(text(
            "INSERT INTO customers (tenant_id, customer_ref, name, created_at, updated_at)"
            " SELECT :t, 'C' || g, 'Customer ' || g, now(), now() FROM generate_series(1, 2000) g"
        ), {"t": tenant_id})  # fmt: skip
        await writer.commit()
    # A backend reports its changes up to a second after it goes idle: wait for the count.
    await until(lambda: _stale(database, "customers"), "customers' changes to be counted",
                within=30)  # fmt: skip
    async with database.engine.connect() as holder:
        await holder.execute(text("LOCK TABLE customers IN SHARE UPDATE EXCLUSIVE MODE"))
        assert await refresh_statistics(database) is False
        await holder.rollback()
    assert await refresh_statistics(database) is True  # the lock gone: analyzed

    settings = text("SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan')")
    business = Business(tenant_id, "IL", "ILS")
    for fresh, expected in ((False, ("force_custom_plan", "off")), (True, ("auto", "on"))):
        async with database.tenant_session(tenant_id) as session, session.begin():
            record = read_customer({"ref": f"C-{fresh}", "name": "Dana", "version": 1,
                                    "phones": ["+972502345678"]}, business)  # fmt: skip
            (result,) = await apply_records(session, business, [record], ACTOR,
                                            fresh_statistics=fresh)  # fmt: skip
            assert result.refused is None
            assert tuple((await session.execute(settings)).one()) == expected


async def _stale(database: Database, table: str) -> bool:
    """Whether PostgreSQL has counted enough of the table's changes for `refresh_statistics`
    to want an ANALYZE."""
    async with database.engine.connect() as connection:
        return table in await stale_tables(connection)


def _array_type(key: str) -> str:
    return "bigint[]" if key.endswith("_id") else "text[]"
