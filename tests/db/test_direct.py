"""Hot-path statements sent straight to PostgreSQL give what SQLAlchemy would have given."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import bindparam, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from pbx.db.database import Database
from pbx.db.direct import DirectConnection, prepare
from pbx.db.models import Account, AgentStateSpan, Call, Customer, User
from pbx.db.scoped import Scoped
from tests.factories import make_customer, make_tenant

WHO = Scoped(
    select(Customer.id, Customer.name, Customer.created_at, Account.balance_minor)
    .join(Account, Account.customer_id == Customer.id)
    .where(Customer.name == bindparam("name"))
    .limit(5),
    Customer,
    Account,
)
SKILLS = Scoped(select(User.display_name, User.skills), User)
SOME = Scoped(select(Customer.name).where(Customer.id.in_(bindparam("ids", expanding=True))),
              Customer)  # fmt: skip
RENAME = Scoped(update(User).where(User.username == bindparam("username"))
                .values(display_name=bindparam("new_name")), User)  # fmt: skip
ZERO = Scoped(update(Account).values(balance_minor=0), Account)  # `updated_at` is onupdate
BAD = Scoped(update(Account).where(Account.id == bindparam("row"))
             .values(balance_minor=bindparam("minor")), Account)  # fmt: skip


@pytest.fixture
async def tenant(postgres_database: Database) -> int:
    tenant = await make_tenant(postgres_database, "ofek", "IL", "ILS", ["+97235550100"])
    await make_customer(postgres_database, tenant, "C-1", "דנה כהן", ["+972502345678"],
                        accounts=[{"currency": "ILS", "balance_minor": 4_500}])  # fmt: skip
    return tenant


def test_what_sqlalchemy_must_run_is_left_to_it(postgres_database: Database) -> None:
    dialect = postgres_database.engine.dialect
    assert prepare(WHO, dialect) is not None and prepare(RENAME, dialect) is not None
    assert prepare(SOME, dialect) is None  # an expanding IN list
    assert prepare(ZERO, dialect) is None  # a Python-side `onupdate`
    assert prepare(Scoped(insert(Customer), Customer), dialect) is None  # defaults to fill


def test_each_statement_keeps_its_own_compiled_form() -> None:
    """Statements built per call log come and go; one must never get another's SQL (a cache
    by id() did, once the first was collected and its id handed on)."""
    dialect = asyncpg_dialect()
    for n in range(50):
        column = ("outcome", "disposition")[n % 2]
        scoped = Scoped(update(Call).where(Call.id == bindparam("row"))
                        .values({column: bindparam("value")}), Call)  # fmt: skip
        prepared = prepare(scoped, dialect)
        assert prepared is not None and f"SET {column}=" in prepared.sql


async def test_rows_come_back_as_through_sqlalchemy_with_aware_utc_times(
    postgres_database: Database, tenant: int
) -> None:
    async with postgres_database.tenant_connection(tenant) as connection:
        assert isinstance(connection, DirectConnection)
        direct = await connection.rows(WHO, {"name": "דנה כהן"})
    async with postgres_database._sqlalchemy_connection(tenant) as connection:
        through_sqlalchemy = await connection.rows(WHO, {"name": "דנה כהן"})

    assert [tuple(row) for row in direct] == [tuple(row) for row in through_sqlalchemy]
    (row,) = direct
    assert row.name == "דנה כהן" and row.balance_minor == 4_500
    assert row.created_at.tzinfo is UTC  # the column type's own result processing


async def test_json_columns_and_updates_round_trip(
    postgres_database: Database, tenant: int
) -> None:
    async with postgres_database.tenant_session(tenant) as session, session.begin():
        session.add(User(tenant_id=tenant, username="avi", display_name="Avi", role="agent",
                         endpoint="PJSIP/1001", skills={"hebrew": 5}))  # fmt: skip
    async with postgres_database.tenant_connection(tenant) as connection:
        assert [tuple(row) for row in await connection.rows(SKILLS)] == [("Avi", {"hebrew": 5})]
        await connection.execute(RENAME, {"username": "avi", "new_name": "אבי"})
        assert [tuple(row) for row in await connection.rows(SKILLS)] == [("אבי", {"hebrew": 5})]


async def test_statements_it_cannot_run_go_through_sqlalchemy_on_the_same_terms(
    postgres_database: Database, tenant: int
) -> None:
    other = await make_tenant(postgres_database, "saule", "LT", "EUR", ["+37052550100"])
    theirs = await make_customer(postgres_database, other, "C-1", "Ona", [], accounts=[])
    async with postgres_database.tenant_connection(tenant) as connection:
        ours = (await connection.rows(WHO, {"name": "דנה כהן"}))[0].id
        found = await connection.rows(SOME, {"ids": [ours, theirs]})
        await connection.execute(ZERO)
    assert [row.name for row in found] == ["דנה כהן"]  # still one tenant's rows only
    async with postgres_database.tenant_session(other) as session:
        assert await session.scalar(select(Account.balance_minor)) is None  # none of theirs
    async with postgres_database.tenant_connection(tenant) as connection:
        assert (await connection.rows(WHO, {"name": "דנה כהן"}))[0].balance_minor == 0


async def test_a_database_error_comes_out_as_sqlalchemys(
    postgres_database: Database, tenant: int
) -> None:
    async with postgres_database.tenant_connection(tenant) as connection:
        with pytest.raises(DBAPIError):
            await connection.execute(BAD, {"row": 1, "minor": "not a number"})
        # the connection is still good afterwards
        assert len(await connection.rows(WHO, {"name": "דנה כהן"})) == 1


SPAN = Scoped(
    insert(AgentStateSpan).inline().values({
        name: bindparam(name)
        for name in ("tenant_id", "agent_id", "state", "reason", "started_at")
    }),
    AgentStateSpan,
)  # fmt: skip
SPANS = Scoped(select(AgentStateSpan.reason).order_by(AgentStateSpan.reason), AgentStateSpan)


async def test_a_statement_for_many_rows_writes_them_all_or_none_in_a_transaction(
    postgres_database: Database, tenant: int
) -> None:
    async with postgres_database.tenant_session(tenant) as session, session.begin():
        user = User(tenant_id=tenant, username="avi", display_name="Avi", role="agent")
        session.add(user)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"agent_id": user.id, "state": "paused", "reason": reason, "started_at": at}
            for reason in ("lunch", "training")]  # fmt: skip
    assert prepare(SPAN, postgres_database.engine.dialect) is not None
    async with postgres_database.tenant_transaction(tenant) as connection:
        await connection.execute_many(SPAN, rows)

    too_long = {**rows[0], "reason": "x" * 65}  # the column holds 64
    with pytest.raises(DataError):  # as SQLAlchemy reports it: a value, not the database
        async with postgres_database.tenant_transaction(tenant) as connection:
            await connection.execute_many(SPAN, [{**rows[0], "reason": "meeting"}, too_long])
    unknown_agent = {**rows[0], "agent_id": 10**12}
    with pytest.raises(IntegrityError):
        async with postgres_database.tenant_transaction(tenant) as connection:
            await connection.execute_many(SPAN, [{**rows[0], "reason": "meeting"}, unknown_agent])

    async with postgres_database.tenant_connection(tenant) as connection:
        assert [row.reason for row in await connection.rows(SPANS)] == ["lunch", "training"]


async def test_naive_times_are_refused_as_sqlalchemy_refuses_them(
    postgres_database: Database, tenant: int
) -> None:
    stamp = Scoped(update(Call).where(Call.id == bindparam("row"))
                   .values(offered_at=bindparam("at", type_=Call.offered_at.type)),
                   Call)  # fmt: skip
    assert prepare(stamp, postgres_database.engine.dialect) is not None
    async with postgres_database.tenant_connection(tenant) as connection:
        with pytest.raises(StatementError, match="naive datetime"):
            await connection.execute(stamp, {"row": 1, "at": datetime(2026, 1, 1)})
        await connection.execute(stamp, {"row": 1, "at": datetime(2026, 1, 1, tzinfo=UTC)})


async def test_a_missing_parameter_is_refused_not_sent_as_null(
    postgres_database: Database, tenant: int
) -> None:
    async with postgres_database.tenant_connection(tenant) as connection:
        with pytest.raises(StatementError, match="required for bind parameter 'name'"):
            await connection.rows(WHO, {})


async def test_a_parameter_used_twice_is_sent_once(
    postgres_database: Database, tenant: int
) -> None:
    either = Scoped(select(Customer.name).where(or_(Customer.name == bindparam("text"),
                                                    Customer.customer_ref == bindparam("text"))),
                    Customer)  # fmt: skip
    async with postgres_database.tenant_connection(tenant) as connection:
        assert [row.name for row in await connection.rows(either, {"text": "C-1"})] == ["דנה כהן"]


async def test_its_writes_commit_without_waiting_for_the_disk_and_sqlalchemys_as_the_server_says(
    postgres_database: Database,
) -> None:
    assert postgres_database._direct is not None
    direct = await postgres_database._direct.pool()
    connection = await direct.acquire()
    try:
        assert await connection.fetchval("SHOW synchronous_commit") == "off"
    finally:
        direct.release(connection)
    async with postgres_database.engine.connect() as connection:  # the server's own setting
        setting = "SELECT setting = reset_val FROM pg_settings WHERE name = 'synchronous_commit'"
        assert (await connection.exec_driver_sql(setting)).scalar() is True


async def test_direct_transactions_have_connections_of_their_own_that_commit_as_the_server_says(
    postgres_database: Database, tenant: int
) -> None:
    assert postgres_database._direct is not None
    direct = await postgres_database._direct.pool()
    held = [await direct.acquire() for _ in range(direct.get_max_size())]
    try:
        # every single-statement connection busy: a call's end still gets its transaction,
        # and while ends wait on their locks the arriving calls' statements do not wait on them
        async def end() -> bool:
            async with postgres_database.tenant_transaction(tenant) as connection:
                assert connection.tenant_id == tenant
                setting = "SELECT setting = reset_val FROM pg_settings WHERE name = $1"
                return await connection._connection.fetchval(setting, "synchronous_commit")

        assert await asyncio.wait_for(end(), 30) is True  # not the single statements' "off"
    finally:
        for connection in held:
            direct.release(connection)


async def test_every_connection_is_open_before_the_first_statement_needs_one(
    postgres_database: Database,
) -> None:
    assert postgres_database._direct is not None
    direct = await postgres_database._direct.pool()

    # a burst of calls then never waits for a connect and its statements' first prepare
    assert direct.get_size() == direct.get_max_size() == direct.get_idle_size()


async def test_a_burst_of_first_statements_opens_one_pool_not_one_each(
    postgres_database: Database,
) -> None:
    assert postgres_database._direct is not None
    pools = await asyncio.gather(*(postgres_database._direct.pool() for _ in range(5)))
    assert len({id(pool) for pool in pools}) == 1


async def test_after_the_database_drops_its_connections_the_next_statement_gets_a_new_one(
    postgres_database: Database, tenant: int
) -> None:
    async with postgres_database.tenant_connection(tenant) as connection:
        assert len(await connection.rows(WHO, {"name": "דנה כהן"})) == 1
    outsider = await asyncpg.connect(postgres_database.url.replace("+asyncpg", ""))
    try:  # every connection of the pool, as a restart or a failover would
        await outsider.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await outsider.close()
    for _ in range(2):  # one fails at most, and says its connection was lost
        try:
            async with postgres_database.tenant_connection(tenant) as connection:
                found = await connection.rows(WHO, {"name": "דנה כהן"})
            break
        except DBAPIError as exc:
            assert exc.connection_invalidated
    assert len(found) == 1
    await postgres_database.engine.dispose()  # the ORM's pool lost its connection too


def test_a_statements_constants_are_bound_once_and_its_named_parameters_each_time() -> None:
    """The values bound into a statement (a literal, a LIMIT) go out as compiled; a named
    parameter with a value of its own takes the caller's when given, and one without must
    be given."""
    statement = Scoped(
        select(Customer.id, literal(7).label("seven"))
        .where(Customer.name == bindparam("name"), Customer.customer_ref != bindparam("not_ref",
                                                                                      value="X"))
        .limit(3),
        Customer,
    )  # fmt: skip
    prepared = prepare(statement, asyncpg_dialect())
    assert prepared is not None
    given = {name for _, name, *_ in prepared.given}
    assert given == {"name", "not_ref", "scope_tenant_id"}

    arguments = prepared.arguments({"name": "Ona", "scope_tenant_id": 1})
    assert sorted(map(str, arguments)) == sorted(["7", "Ona", "X", "1", "3"])
    assert "Y" in prepared.arguments({"name": "Ona", "scope_tenant_id": 1, "not_ref": "Y"})
    with pytest.raises(KeyError, match="name"):
        prepared.arguments({"scope_tenant_id": 1})
