"""How many of the billing system's batches write at once in one process.

A batch's writes keep a PostgreSQL backend busy for their whole length, and that backend runs
at the database's priority however low the process sending the batches runs. On two cores
(`bench/billing_sync.py`, 1,400,000 records from four clients, 50 caller lookups a second
answered by the same database), two batches writing at a time left the lookups a p99 of
23.5-28.3 ms with the sync in 45-58 s; one at a time, 13.4-18.1 ms and 53-68 s (the
process's own work and the database's no longer overlap; on a faster day 11.9-15.9 ms and
41-46 s). `billing.batch_writes_at_once` chooses; one by default: the callers first.

A batch waits for its turn inside its transaction, after its lines are read, so a waiting
batch holds the connection it would hold anyway while writing; it is answered once its
turn has come and its writes are done, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriteTurns:
    """At most `at_once` batches writing at a time; the others wait, first come first
    served (`asyncio.Semaphore`)."""

    def __init__(self, at_once: int) -> None:
        if at_once < 1:
            raise ValueError("at least one batch must be able to write")
        self._turns = asyncio.Semaphore(at_once)
        self.writing = 0  # batches in their turn now
        self.waiting = 0  # batches waiting for one

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Inside: this batch's turn to write."""
        self.waiting += 1
        try:
            await self._turns.acquire()
        finally:
            self.waiting -= 1
        self.writing += 1
        try:
            yield
        finally:
            self.writing -= 1
            self._turns.release()
