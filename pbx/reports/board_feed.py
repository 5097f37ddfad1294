"""Pushes the wall board to the desks' WebSocket when its figures move: a call queued,
offered, answered or ended, an agent's state, a payment. It watches the event log through the
hub (`Hub.watch`: every event of a business whose desks are connected to this process, from
whichever process published it), and, while a supervisor's or admin's socket of that
business is connected here, reads the board again and publishes a `board.tile` per queue and
a `board.total` to the business's supervisors. Changes that come while the board is being
read are folded into one more reading after it: never more than one reading a business at a
time, and never a change left unshown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from pbx.db.database import Database
from pbx.desk.commands import Actor, QueueStats
from pbx.desk.errors import DeskError
from pbx.desk.local import Desk
from pbx.desk.results import QueueStatList
from pbx.events.hub import Hub
from pbx.events.model import Audience, DeskEvent
from pbx.reports.board import read_board

log = logging.getLogger(__name__)

MOVES_THE_BOARD = frozenset({
    "call.queued", "call.offered", "call.connected", "call.ended", "agent.state",
    "payment.result", "payment.status",
})  # fmt: skip


class BoardFeed:
    def __init__(
        self, hub: Hub, database: Database, desk: Desk, clock: Callable[[], datetime]
    ) -> None:
        self.hub, self.database, self.desk, self.clock = hub, database, desk, clock
        self._reading: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()

    def start(self) -> None:
        self.hub.watch(self.seen)

    async def stop(self) -> None:
        for task in list(self._reading.values()):
            task.cancel()
        await asyncio.gather(*self._reading.values(), return_exceptions=True)
        self._reading.clear()

    def reading(self, tenant_id: int) -> asyncio.Task[None] | None:
        """The business's reading under way (with any it folded in), if one is."""
        return self._reading.get(tenant_id)

    def seen(self, tenant_id: int, event: DeskEvent) -> None:
        """An event of the business's log (the hub's watcher: never blocks)."""
        if event.type in MOVES_THE_BOARD and self.hub.supervisors_watching(tenant_id):
            self.changed(tenant_id)

    def changed(self, tenant_id: int) -> None:
        if tenant_id in self._reading:
            self._again.add(tenant_id)
            return
        task = asyncio.get_running_loop().create_task(self._publish(tenant_id),
                                                      name=f"board-{tenant_id}")  # fmt: skip
        self._reading[tenant_id] = task

    async def _publish(self, tenant_id: int) -> None:
        try:
            while True:
                self._again.discard(tenant_id)
                try:
                    live = await self.desk.run(QueueStats(), Actor(0, tenant_id, True, "board"))
                    assert isinstance(live, QueueStatList)
                    board = await read_board(self.database, tenant_id, self.clock(), live)
                    audience = Audience(supervisors=True)
                    payloads = (*board.tiles, board.total)
                    await self.hub.publish_all([DeskEvent.of(tenant_id, audience, p)
                                                for p in payloads])  # fmt: skip
                except DeskError as exc:  # no Asterisk now: the next change tries again
                    log.info("board of tenant %s not read: %s", tenant_id, exc)
                except Exception:
                    log.exception("board of tenant %s not published", tenant_id)
                if tenant_id not in self._again:
                    return
        finally:
            self._reading.pop(tenant_id, None)
