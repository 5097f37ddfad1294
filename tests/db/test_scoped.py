"""Prebuilt hot-path statements stay inside one tenant by construction."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, literal, select, update

from pbx.db.database import Database
from pbx.db.models import Account, Customer
from pbx.db.scoped import Scoped, ScopedUnion, ScopedValues, ScopedWith
from pbx.db.tenancy import CrossTenantAccess

NAMES = Scoped(select(Customer.name).order_by(Customer.name), Customer)
BALANCES = Scoped(
    select(Customer.name, Account.balance_minor).join(Account, Account.customer_id == Customer.id),
    Customer,
    Account,
)
ZERO = Scoped(update(Account).values(balance_minor=0), Account)
ADD = Scoped(insert(Customer), Customer)


def test_a_statement_reaching_a_tenant_table_it_does_not_scope_cannot_be_built() -> None:
    with pytest.raises(CrossTenantAccess, match="accounts"):
        Scoped(select(Customer.name).join(Account, Account.customer_id == Customer.id), Customer)


async def test_selects_and_joins_see_only_the_connections_tenant(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, second = two_tenants
    async with database.tenant_connection(first) as connection:
        assert [row.name for row in await connection.rows(NAMES)] == ["Avi"]
    async with database.tenant_connection(second) as connection:
        assert [tuple(row) for row in await connection.rows(BALANCES)] == [("Ona", 100)]


async def test_updates_stay_inside_the_tenant(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, second = two_tenants
    async with database.tenant_connection(first) as connection:
        await connection.execute(ZERO)
    async with database.tenant_connection(second) as connection:
        assert [tuple(row) for row in await connection.rows(BALANCES)] == [("Ona", 100)]


async def test_inserted_rows_belong_to_the_connections_tenant_whatever_the_caller_says(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, second = two_tenants
    async with database.tenant_connection(first) as connection:
        await connection.execute(ADD, {"customer_ref": "C-2", "name": "Dana"})
        with pytest.raises(CrossTenantAccess):
            await connection.execute(ADD, {"customer_ref": "C-3", "name": "X", "tenant_id": second})
    async with database.tenant_connection(second) as connection:
        assert [row.name for row in await connection.rows(NAMES)] == ["Ona"]
    async with database.tenant_connection(first) as connection:
        assert [row.name for row in await connection.rows(NAMES)] == ["Avi", "Dana"]


async def test_a_parameter_cannot_widen_the_scope(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, second = two_tenants
    by_name = Scoped(select(Customer.id).where(Customer.name == bindparam("name")), Customer)
    async with database.tenant_connection(first) as connection:
        with pytest.raises(CrossTenantAccess):
            await connection.execute(by_name, {"name": "Ona", "scope_tenant_id": second})


async def test_a_union_of_scoped_selects_sees_only_the_connections_tenant_in_every_branch(
    database: Database, two_tenants: tuple[int, int]
) -> None:
    first, _ = two_tenants
    people = Scoped(select(literal("person").label("part"), Customer.name.label("v")), Customer)
    money = Scoped(select(literal("ref").label("part"), Account.account_ref.label("v")), Account)
    both = ScopedUnion(people, money, order_by=("part", "v"))

    async with database.tenant_connection(first) as connection:
        assert [tuple(row) for row in await connection.rows(both)] == [
            ("person", "Avi"),
            ("ref", "A-1"),
        ]


def test_a_union_takes_only_selects() -> None:
    with pytest.raises(TypeError):
        ScopedUnion(NAMES, ZERO, order_by=())


async def test_a_change_read_with_values_sees_only_the_connections_tenant(
    postgres_database: Database, postgres_two_tenants: tuple[int, int]
) -> None:
    """`ScopedWith`: the changed rows and the values read for each, every part scoped."""
    first, second = postgres_two_tenants
    holder = ScopedValues(
        Scoped(select(Customer.name).where(Customer.id == bindparam("who")), Customer)
    )
    zeroed = ScopedWith(
        Scoped(update(Account).values(balance_minor=0).returning(Account.id, Account.customer_id),
               Account),
        holder, {"who": "customer_id"},
    )  # fmt: skip

    async with postgres_database.tenant_connection(first) as connection:
        assert [row[2] for row in await connection.rows(zeroed)] == ["Avi"]
    async with postgres_database.tenant_connection(second) as connection:
        assert [tuple(row) for row in await connection.rows(BALANCES)] == [("Ona", 100)]
        ona = (await connection.rows(Scoped(select(Customer.id), Customer)))[0].id

    # A row of the business pointing at another business's customer: no name read.
    pointing = ScopedWith(
        Scoped(update(Account).values(balance_minor=1)
               .returning(Account.id, literal(ona).label("somebody")), Account),
        holder, {"who": "somebody"},
    )  # fmt: skip
    async with postgres_database.tenant_connection(first) as connection:
        assert [row[2] for row in await connection.rows(pointing)] == [None]


def test_a_change_read_with_values_is_an_update_or_a_delete() -> None:
    with pytest.raises(TypeError):
        ScopedWith(NAMES, ScopedValues(NAMES), {})
