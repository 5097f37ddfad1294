"""The direct path's connection pool lends each connection to one caller at a time, replaces
what was lost, and strands no connection and no caller, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from pbx.db.pool import ConnectionPool, PoolClosed
from tests.waiting import until


@pytest.fixture
def connect(postgresql_url: str) -> Callable[[], Awaitable[asyncpg.Connection]]:
    dsn = postgresql_url.replace("postgresql+asyncpg://", "postgresql://")
    return lambda: asyncpg.connect(dsn)


@pytest.fixture
async def pool(connect: Callable[[], Awaitable[asyncpg.Connection]]) -> AsyncIterator[
    ConnectionPool
]:
    pool = await ConnectionPool.open(connect, 2)
    yield pool
    await pool.close()


async def backend(connection: asyncpg.Connection) -> int:
    return await connection.fetchval("SELECT pg_backend_pid()")


async def test_every_connection_is_open_when_the_pool_is(pool: ConnectionPool) -> None:
    assert pool.get_size() == pool.get_max_size() == pool.get_idle_size() == 2


async def test_a_connection_is_lent_to_one_caller_at_a_time_and_comes_back(
    pool: ConnectionPool,
) -> None:
    first, second = await pool.acquire(), await pool.acquire()

    assert first is not second
    assert pool.get_idle_size() == 0
    pool.release(first)
    assert pool.get_idle_size() == 1
    assert await pool.acquire() is first
    pool.release(first)
    pool.release(second)


async def test_callers_waiting_for_a_connection_are_served_in_turn(pool: ConnectionPool) -> None:
    lent = [await pool.acquire(), await pool.acquire()]
    served: list[int] = []

    async def caller(number: int) -> None:
        connection = await pool.acquire()
        served.append(number)
        await backend(connection)
        pool.release(connection)

    callers = [asyncio.create_task(caller(number)) for number in range(5)]
    await until(lambda: len(pool._waiters) == 5, "all five callers waiting")
    for connection in lent:
        pool.release(connection)
    await asyncio.gather(*callers)

    assert served == [0, 1, 2, 3, 4]
    assert pool.get_idle_size() == 2


async def test_a_caller_that_gives_up_waiting_strands_no_connection(pool: ConnectionPool) -> None:
    lent = [await pool.acquire(), await pool.acquire()]
    quitter = asyncio.create_task(pool.acquire())
    patient = asyncio.create_task(pool.acquire())
    await until(lambda: len(pool._waiters) == 2, "both callers waiting")

    pool.release(lent[0])  # handed to the quitter, who hangs up before it runs again
    quitter.cancel()

    assert await asyncio.wait_for(patient, 10) is lent[0]  # passed on to the next in line
    with pytest.raises(asyncio.CancelledError):
        await quitter
    pool.release(lent[0])
    pool.release(lent[1])
    assert pool.get_idle_size() == 2


async def test_a_connection_the_database_dropped_is_replaced_on_the_next_loan(
    pool: ConnectionPool, connect: Callable[[], Awaitable[asyncpg.Connection]]
) -> None:
    connection = await pool.acquire()
    dropped = await backend(connection)
    outsider = await connect()
    try:
        await outsider.execute("SELECT pg_terminate_backend($1)", dropped)
    finally:
        await outsider.close()
    await until(connection.is_closed, "the connection seen closed")  # as a restart drops it
    pool.release(connection)

    assert pool.get_size() == 1  # closed, not lent again
    pids = set()
    for _ in range(3):
        held = [await pool.acquire(), await pool.acquire()]
        pids |= {await backend(one) for one in held}
        for one in held:
            pool.release(one)
    assert dropped not in pids and len(pids) == 2


async def test_a_caller_waiting_when_a_lost_connection_comes_back_opens_another(
    pool: ConnectionPool,
) -> None:
    lent = [await pool.acquire(), await pool.acquire()]
    waiting = asyncio.create_task(pool.acquire())
    await until(lambda: len(pool._waiters) == 1, "the caller waiting")

    lent[0].terminate()
    pool.release(lent[0])

    fresh = await asyncio.wait_for(waiting, 10)
    assert fresh is not lent[0] and await fresh.fetchval("SELECT 1") == 1
    pool.release(fresh)
    pool.release(lent[1])


async def test_a_connection_handed_back_inside_a_transaction_is_closed_and_rolls_back(
    pool: ConnectionPool,
) -> None:
    connection = await pool.acquire()
    await connection.execute("BEGIN")  # as a task cancelled in its COMMIT leaves it
    await connection.execute("CREATE TABLE pool_probe_uncommitted (n int)")
    pool.release(connection)

    assert connection.is_closed()
    again = await pool.acquire()
    try:
        exists = await again.fetchval("SELECT to_regclass('pool_probe_uncommitted') IS NOT NULL")
        assert exists is False
    finally:
        pool.release(again)


async def test_expired_connections_close_now_if_idle_and_when_they_come_back_if_lent(
    pool: ConnectionPool,
) -> None:
    lent = await pool.acquire()
    idle = await pool.acquire()
    old = {await backend(lent), await backend(idle)}
    pool.release(idle)

    await pool.expire_connections()

    assert idle.is_closed() and not lent.is_closed()
    pool.release(lent)
    assert lent.is_closed()
    fresh = [await pool.acquire(), await pool.acquire()]
    assert not old & {await backend(one) for one in fresh}
    for one in fresh:
        pool.release(one)


async def test_a_connection_cannot_come_back_twice(pool: ConnectionPool) -> None:
    connection = await pool.acquire()
    pool.release(connection)

    with pytest.raises(asyncpg.InterfaceError, match="not on loan"):
        pool.release(connection)
    assert pool.get_idle_size() == 2  # still one of each, not the same one twice


async def test_a_closed_pool_lends_nothing_and_closes_what_comes_back(
    connect: Callable[[], Awaitable[asyncpg.Connection]],
) -> None:
    pool = await ConnectionPool.open(connect, 1)
    lent = await pool.acquire()
    waiting = asyncio.create_task(pool.acquire())
    await until(lambda: len(pool._waiters) == 1, "the caller waiting")

    closing = asyncio.create_task(pool.close())
    with pytest.raises(PoolClosed):
        await asyncio.wait_for(waiting, 10)  # the waiting caller is told, not left waiting
    await until(lambda: pool._closed, "the pool closing")
    assert not closing.done()  # it waits for what is on loan
    assert await lent.fetchval("SELECT 1") == 1
    pool.release(lent)
    await asyncio.wait_for(closing, 10)

    assert lent.is_closed()
    with pytest.raises(PoolClosed):
        await pool.acquire()


async def test_a_closing_pool_ends_a_connection_not_handed_back_in_time(
    connect: Callable[[], Awaitable[asyncpg.Connection]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pbx.db.pool.CLOSE_WAIT_S", 0.2)
    pool = await ConnectionPool.open(connect, 2)
    forgotten = await pool.acquire()  # a bug's: never handed back

    await asyncio.wait_for(pool.close(), 10)

    assert forgotten.is_closed() and pool.get_size() == 0


async def test_a_pool_that_cannot_open_all_its_connections_leaves_none_open(
    connect: Callable[[], Awaitable[asyncpg.Connection]],
) -> None:
    opened: list[asyncpg.Connection] = []
    calls = 0

    async def second_fails() -> asyncpg.Connection:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("connection refused")
        connection = await connect()
        opened.append(connection)
        return connection

    with pytest.raises(OSError, match="refused"):
        await ConnectionPool.open(second_fails, 3)
    assert opened and all(connection.is_closed() for connection in opened)


async def test_callers_waiting_for_room_get_the_connect_error_not_a_hang(
    connect: Callable[[], Awaitable[asyncpg.Connection]],
) -> None:
    database_up = True

    async def flaky() -> asyncpg.Connection:
        if not database_up:
            raise OSError("connection refused")
        return await connect()

    pool = await ConnectionPool.open(flaky, 1)
    try:
        lent = await pool.acquire()
        waiting = [asyncio.create_task(pool.acquire()) for _ in range(2)]
        await until(lambda: len(pool._waiters) == 2, "two callers waiting")
        database_up = False
        lent.terminate()
        pool.release(lent)  # room for one: the first tries, fails, and the room passes on

        for caller in waiting:
            with pytest.raises(OSError, match="refused"):
                await asyncio.wait_for(caller, 10)
        database_up = True
        again = await pool.acquire()  # the room is still there once the database is back
        assert await again.fetchval("SELECT 1") == 1
        pool.release(again)
    finally:
        await pool.close()


async def test_a_connection_whose_statement_was_cancelled_is_lent_again_in_working_order(
    pool: ConnectionPool, connect: Callable[[], Awaitable[asyncpg.Connection]]
) -> None:
    connection = await pool.acquire()
    statement = asyncio.create_task(connection.fetchval("SELECT pg_sleep(30)"))
    watcher = await connect()
    sleeping = (
        "SELECT count(*) > 0 FROM pg_stat_activity"
        " WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'"
    )
    try:
        await until(lambda: watcher.fetchval(sleeping), "the statement running at the server")
        statement.cancel()  # a call hung up mid-statement
        with pytest.raises(asyncio.CancelledError):
            await statement
        pool.release(connection)

        for _ in range(3):  # every connection lent next runs a statement at once
            lent = [await pool.acquire(), await pool.acquire()]
            assert [await asyncio.wait_for(one.fetchval("SELECT 1"), 10) for one in lent] == [1, 1]
            for one in lent:
                pool.release(one)
        assert await watcher.fetchval(sleeping) is False  # cancelled there, not left running
    finally:
        await watcher.close()
