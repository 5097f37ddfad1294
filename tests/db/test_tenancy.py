"""No query can cross tenants: the session enforces it, whoever writes the query."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, insert, select, update

from pbx.db.database import Database
from pbx.db.models import Account, Customer, CustomerPhone, Tenant
from pbx.db.tenancy import CrossTenantAccess


async def test_a_tenant_session_sees_only_its_own_rows(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, _ = two_tenants
    async with database.tenant_session(first) as session:
        names = (await session.execute(select(Customer.name))).scalars().all()
        phones = await session.scalar(select(func.count()).select_from(CustomerPhone))
        shared_number = CustomerPhone.e164 == "+97235551234"
        joined = (
            (await session.execute(select(Customer.name).join(CustomerPhone).where(shared_number)))
            .scalars()
            .all()
        )
    assert names == ["Avi"]
    assert phones == 1
    assert joined == ["Avi"]


async def test_updates_and_deletes_stay_inside_the_tenant(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, second = two_tenants
    async with database.tenant_session(first) as session, session.begin():
        await session.execute(update(Account).values(balance_minor=0))
        await session.execute(delete(CustomerPhone))
    async with database.tenant_session(second) as session:
        assert await session.scalar(select(Account.balance_minor)) == 100
        assert await session.scalar(select(func.count()).select_from(CustomerPhone)) == 1


async def test_writing_a_row_of_another_tenant_is_refused(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, second = two_tenants
    async with database.tenant_session(first) as session:
        session.add(Customer(tenant_id=second, customer_ref="X", name="Intruder"))
        with pytest.raises(CrossTenantAccess):
            await session.flush()


async def test_new_rows_take_the_sessions_tenant(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, _ = two_tenants
    async with database.tenant_session(first) as session, session.begin():
        customer = Customer(customer_ref="C-2", name="Dana")
        session.add(customer)
        await session.flush()
        assert customer.tenant_id == first


async def test_a_session_without_a_tenant_cannot_read_tenant_rows(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    async with database._sessions() as session:
        with pytest.raises(CrossTenantAccess):
            await session.execute(select(Customer))
        assert len((await session.execute(select(Tenant))).scalars().all()) == 2


async def test_a_system_session_may_cross_tenants_on_purpose(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    async with database.system_session() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 2


async def _customer_ids(database: Database) -> dict[int, int]:
    async with database.system_session() as session:
        rows = await session.execute(select(Customer.tenant_id, Customer.id))
        return dict(rows.all())


async def test_a_bulk_update_by_primary_key_cannot_reach_another_tenant(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, second = two_tenants
    theirs = (await _customer_ids(database))[second]
    async with database.tenant_session(first) as session, session.begin():
        await session.execute(update(Customer), [{"id": theirs, "name": "Hijacked"}])
    async with database.tenant_session(second) as session:
        assert await session.scalar(select(Customer.name)) == "Ona"


async def test_a_bulk_insert_of_another_tenants_rows_is_refused(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, second = two_tenants
    async with database.tenant_session(first) as session:
        with pytest.raises(CrossTenantAccess):
            await session.execute(
                insert(Customer), [{"tenant_id": second, "customer_ref": "X", "name": "Intruder"}]
            )


async def test_a_bulk_insert_must_name_the_sessions_tenant(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, _ = two_tenants
    async with database.tenant_session(first) as session:
        with pytest.raises(CrossTenantAccess):
            await session.execute(insert(Customer), [{"customer_ref": "C-9", "name": "Dana"}])
        with pytest.raises(CrossTenantAccess):
            await session.execute(insert(Customer).values(customer_ref="C-9", name="Dana"))
    async with database.tenant_session(first) as session, session.begin():
        await session.execute(
            insert(Customer), [{"tenant_id": first, "customer_ref": "C-9", "name": "Dana"}]
        )
        await session.execute(
            insert(Customer), {"tenant_id": first, "customer_ref": "C-10", "name": "Noa"}
        )
    async with database.tenant_session(first) as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 3


async def test_core_statements_on_tenant_tables_are_refused_in_a_tenant_session(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, _ = two_tenants
    phones = CustomerPhone.__table__
    async with database.tenant_session(first) as session:
        for statement in (select(phones), delete(phones), update(phones).values(label="x")):
            with pytest.raises(CrossTenantAccess):
                await session.execute(statement)


async def test_the_same_query_in_two_tenants_sees_each_tenants_rows(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    # The statement is compiled once and cached: the tenant must stay a bound parameter.
    seen = []
    for tenant in (*two_tenants, *two_tenants):
        async with database.tenant_session(tenant) as session:
            seen.append((await session.execute(select(Customer.name))).scalars().all())
    assert seen == [["Avi"], ["Ona"], ["Avi"], ["Ona"]]


async def test_a_tenant_autocommit_is_scoped_like_a_tenant_session(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, second = two_tenants
    for tenant, name in ((first, "Avi"), (second, "Ona")):
        async with database.tenant_autocommit(tenant) as session:
            assert (await session.execute(select(Customer.name))).scalars().all() == [name]
