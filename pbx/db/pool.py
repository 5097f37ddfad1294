"""A fixed number of asyncpg connections, lent one at a time.

asyncpg's own pool does more on every loan than the direct path needs: its release starts a
task (shielded, so a cancelled caller cannot strand the connection), re-arms a timer that
closes idle connections and runs the connection's reset; on the caller lookup's statement
that cost about 50 µs of CPU, as much as the statement's own exchange with PostgreSQL took
(measured on the path: 130 µs a statement through asyncpg's pool, 77 µs through this one).
Here a loan is a list pop and a return is a list append, or a hand-over to the first
caller waiting.

What it keeps of asyncpg's pool: a connection that was lost, or is handed back inside a
transaction (its task cancelled mid-COMMIT), is closed (PostgreSQL rolls back what it had
open) and its place opened again by the next loan; `expire_connections` closes every
connection as it comes back (after the database dropped one, the others are as old); the
callers waiting for a connection are served in turn; a connection whose statement was
cancelled (its caller hung up) is lent again, asyncpg finishing the cancellation before the
next statement starts (tested). What it leaves: connections are not recycled after a count
of queries or a time idle (these connections are always in use and their statement caches
are bounded), and no reset query runs (a connection is handed back with no session state:
single statements, or a transaction ended before the return).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[asyncpg.Connection]]
CLOSE_WAIT_S = 10.0  # how long `close` lets connections on loan come back before ending them


class PoolClosed(asyncpg.InterfaceError):
    """The pool was closed: no connection is lent any more."""


class ConnectionPool:
    def __init__(self, connect: Connect, size: int) -> None:
        if size < 1:
            raise ValueError("a pool holds at least one connection")
        self._connect, self._size = connect, size
        self._idle: list[asyncpg.Connection] = []
        # Callers waiting for a connection, first come first served; each is handed one, or
        # None when a connection was closed and there is room to open another.
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        # Every connection open, by id, with the generation it was opened in; plus the
        # connections being opened, counted in `_opening`.
        self._opened: dict[int, tuple[asyncpg.Connection, int]] = {}
        self._lent: set[int] = set()
        self._opening = 0
        self._generation = 0
        self._closed = False
        self._all_back: asyncio.Event | None = None

    @classmethod
    async def open(cls, connect: Connect, size: int) -> ConnectionPool:
        """A pool with all its connections open: one opened when a burst of calls needs it
        holds up the calls behind it."""
        pool = cls(connect, size)
        opened = await asyncio.gather(*(pool._new() for _ in range(size)), return_exceptions=True)
        failed = [error for error in opened if isinstance(error, BaseException)]
        if failed:
            for connection in opened:
                if isinstance(connection, asyncpg.Connection):
                    pool._discard(connection)
            raise failed[0]
        pool._idle.extend(opened)  # type: ignore[arg-type]
        return pool

    def get_size(self) -> int:
        """Connections open (lent or idle)."""
        return len(self._opened)

    def get_max_size(self) -> int:
        return self._size

    def get_idle_size(self) -> int:
        return len(self._idle)

    async def acquire(self) -> asyncpg.Connection:
        """A connection of this pool, to `release` when done with it."""
        connection = await self._take()
        self._lent.add(id(connection))
        return connection

    async def _take(self) -> asyncpg.Connection:
        """An idle connection, a new one while there is room, or the next one handed back."""
        while True:
            if self._closed:
                raise PoolClosed("the connection pool is closed")
            while self._idle:
                connection = self._idle.pop()
                if self._usable(connection):
                    return connection
                self._discard(connection)
            if len(self._opened) + self._opening < self._size:
                return await self._new()
            waiter: asyncio.Future[asyncpg.Connection | None]
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                # Handed a connection, or room for one, just as its caller gave up: it goes
                # to the next in line.
                passed = waiter.done() and not waiter.cancelled() and waiter.exception() is None
                if passed:
                    self._give_back(waiter.result())
                raise
            if handed is not None:
                return handed

    def release(self, connection: asyncpg.Connection) -> None:
        """Take a lent connection back: to the first caller waiting, or to the idle ones. A
        connection lost, left inside a transaction, expired or returned after `close` is
        closed, and a caller waiting is told to open another."""
        try:
            self._lent.remove(id(connection))
        except KeyError:
            raise asyncpg.InterfaceError("this connection is not on loan from this pool") from None
        self._give_back(connection)

    async def expire_connections(self) -> None:
        """Close every connection opened so far: the idle ones now, the lent ones when they
        come back (after the database dropped one, the others are as old)."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for connection in idle:
            self._discard(connection)

    async def close(self) -> None:
        """Lend no more; close the idle connections, and the lent ones as they come back
        (ended after CLOSE_WAIT_S if they do not)."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the connection pool was closed"))
        idle, self._idle = self._idle, []
        for connection in idle:
            self._opened.pop(id(connection), None)
        await asyncio.gather(*(_close(connection) for connection in idle))
        if not self._opened:
            return
        if self._all_back is None:
            self._all_back = asyncio.Event()
        try:
            await asyncio.wait_for(self._all_back.wait(), CLOSE_WAIT_S)
        except TimeoutError:
            log.warning("%d database connections lent at close: ended", len(self._opened))
            for connection, _ in list(self._opened.values()):
                self._discard(connection)

    def _usable(self, connection: asyncpg.Connection) -> bool:
        known = self._opened.get(id(connection))
        return known is not None and known[1] == self._generation and not connection.is_closed()

    async def _new(self) -> asyncpg.Connection:
        self._opening += 1
        try:
            connection = await self._connect()
        except BaseException:
            self._opening -= 1
            self._hand(None)  # its room is free again, for whoever waits
            raise
        self._opening -= 1
        self._opened[id(connection)] = (connection, self._generation)
        if self._closed:
            self._discard(connection)
            raise PoolClosed("the connection pool was closed")
        return connection

    def _discard(self, connection: asyncpg.Connection) -> None:
        self._opened.pop(id(connection), None)
        if not connection.is_closed():
            with contextlib.suppress(Exception):
                connection.terminate()  # PostgreSQL rolls back whatever it had open
        if self._all_back is not None and not self._opened:
            self._all_back.set()

    def _give_back(self, connection: asyncpg.Connection | None) -> None:
        """A connection (or, None, room for one) back to the first caller waiting, else to the
        idle ones; one that cannot be lent again is closed, and its room passed on."""
        if connection is not None and (
            self._closed or not self._usable(connection) or connection.is_in_transaction()
        ):
            self._discard(connection)
            connection = None
        if not self._hand(connection) and connection is not None:
            self._idle.append(connection)

    def _hand(self, connection: asyncpg.Connection | None) -> bool:
        """Give `connection` (or, None, room for one) to the first caller still waiting."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False


async def _close(connection: asyncpg.Connection) -> None:
    try:
        await connection.close(timeout=CLOSE_WAIT_S)
    except Exception:  # already gone, or not answering: ended either way
        connection.terminate()
