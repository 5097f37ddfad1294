"""Writes the call flow's state to the database in the background, fenced by its owner's
lease, so a restarted process carries on with the same waiting callers and agent states.

Saving in the background keeps database writes off the path of every call event: a change
marks the state dirty and the saver writes it within `save_every` seconds (changes in that
window: one write). A crash in that window is settled by the next owner's resync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from pbx.callflow.fencing import Fence
from pbx.callflow.snapshots import SnapshotStore
from pbx.callflow.state import FlowState

log = logging.getLogger(__name__)


class StateSaver:
    def __init__(
        self, state: FlowState, snapshots: SnapshotStore, lock: asyncio.Lock, *,
        save_every: float, changed: Callable[[], None] = lambda: None,
    ) -> None:  # fmt: skip
        self.state, self.snapshots, self.lock = state, snapshots, lock
        self.save_every = save_every
        self._changed = changed  # told of every change first (desks hear of agent states)
        # Set by the ownership while this process owns the node (its lease's token): a stale
        # owner's snapshots are refused and its changes to Asterisk are never sent.
        self.fence = Fence()
        self._dirty = asyncio.Event()
        self._writing: asyncio.Future[None] | None = None
        # What the row holds (as we last wrote it, and under which token): in the
        # background, a change that left the state as it was is not written again.
        self._written: tuple[str, int | None] | None = None

    async def save(self) -> None:
        """The state changed: have it written within `save_every` seconds."""
        self._changed()
        self._dirty.set()

    async def flush(self) -> None:
        """Write the snapshot now (takes the lock), changed or not: a stale owner's is
        refused, and it learns so."""
        async with self.lock:
            document = self.state.to_json()
        await self._write(document, again=True)

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.save_every)  # changes in this window: one write
            self._dirty.clear()
            async with self.lock:
                document = self.state.to_json()
            # Shielded, and awaited by `settle`: a write abandoned halfway leaves its
            # transaction open (on SQLite its connection keeps the database locked).
            self._writing = asyncio.ensure_future(self._write(document))
            await asyncio.shield(self._writing)

    async def settle(self) -> None:
        """Wait for a snapshot being written when `run` was stopped."""
        if self._writing is not None:
            await self._writing

    async def check_fence(self) -> None:
        await self.fence.check()

    async def _write(self, document: str, *, again: bool = False) -> None:
        token = self.fence.token
        if self._written == (document, token) and not again:
            return
        try:
            written = await self.snapshots.save(document, token)
        except (SQLAlchemyError, OSError) as exc:
            log.error("call flow state not saved (will retry on the next change): %s", exc)
            self._dirty.set()
            return
        if not written:
            self.fence.lost("a newer owner saved the call flow's state: ours was refused")
            return
        self._written = document, token
