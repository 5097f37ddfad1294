"""Call lanes: the work on one call runs a piece at a time, in the order it was asked for;
the work on different calls runs side by side.

A call's events and actions must not interleave (a hangup settled halfway through bridging
the agent would strand a channel), but nothing orders one call against another: the ACD's
decisions are synchronous, so each is taken and applied between two awaits. One lock for
every call made each call wait out the others' round trips to Asterisk and the database.

`settle()` is a graceful stop's drain: it waits for the work in flight, bounded in time.
`exclusive()` is for resynchronising after a reconnect: it lets running work finish, holds
new work back, and makes its holder count as holding every lane. `room()` is the poster's
back-pressure: it waits while `limit` pieces of posted work are pending, so an overloaded
process stops reading Asterisk's events (and says so) instead of piling up tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Lanes:
    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._room = asyncio.Event()
        self._room.set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}  # holders and waiters per lane: idle lanes are dropped
        self._holders: dict[str, asyncio.Task[Any]] = {}
        self._drained = asyncio.Event()
        self._drained.set()
        self._open = asyncio.Event()  # cleared while `exclusive` runs
        self._open.set()
        self._exclusive: asyncio.Task[Any] | None = None
        self._posted: set[asyncio.Task[None]] = set()

    def holding(self, call_id: str) -> bool:
        """Whether the running task is in this call's lane (or holds them all)."""
        task = asyncio.current_task()
        return task is not None and (self._exclusive is task or self._holders.get(call_id) is task)

    @contextlib.asynccontextmanager
    async def call(self, call_id: str) -> AsyncIterator[None]:
        """Run the block in this call's lane; re-entrant for the task already in it. Never
        enter a second call's lane from inside one (post to it instead): two calls each
        waiting for the other's lane would wait forever."""
        if self.holding(call_id):
            yield
            return
        await self._open.wait()
        lock = self._locks.setdefault(call_id, asyncio.Lock())
        self._users[call_id] = self._users.get(call_id, 0) + 1
        self._drained.clear()
        try:
            async with lock:
                self._holders[call_id] = asyncio.current_task()  # type: ignore[assignment]
                try:
                    yield
                finally:
                    del self._holders[call_id]
        finally:
            self._users[call_id] -= 1
            if not self._users[call_id]:
                del self._users[call_id], self._locks[call_id]
            if not self._users:  # no lane in use or waited for
                self._drained.set()

    def post(self, call_id: str, work: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        """Run `work` in the call's lane, after everything posted to it before."""

        async def in_lane() -> None:
            async with self.call(call_id):
                await work()

        task = asyncio.get_running_loop().create_task(in_lane(), name=f"{name}-{call_id}")
        self._posted.add(task)
        task.add_done_callback(self._finished)
        if len(self._posted) >= self.limit:
            self._room.clear()

    async def room(self) -> None:
        """Until fewer than `limit` pieces of posted work are pending."""
        await self._room.wait()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._posted.discard(task)
        if len(self._posted) < self.limit:
            self._room.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """No lane runs while the block does: work in progress finishes first."""
        self._open.clear()
        try:
            await self._drained.wait()
            self._exclusive = asyncio.current_task()
            yield
        finally:
            self._exclusive = None
            self._open.set()

    async def settle(self, within: float) -> bool:
        """Until every piece of posted work (and work in a lane) has finished, for at most
        `within` seconds (a graceful stop's drain); False if some was still running."""
        try:
            async with asyncio.timeout(within):
                while self._posted or not self._drained.is_set():
                    if self._posted:
                        await asyncio.wait(list(self._posted))
                    else:
                        await self._drained.wait()
        except TimeoutError:
            return False
        return True

    async def cancel(self) -> None:
        """Stop posted work (the flow is stopping)."""
        tasks, self._posted = list(self._posted), set()
        self._room.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
