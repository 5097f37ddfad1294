"""What the rest of Ledgerline needs from a bus: publish a JSON message on a topic, and have
handlers called for every message on the topics they subscribed to.

Delivery is at most once and live only: a process that was not listening misses messages.
Every handler is therefore also called with `RESYNC` after the subscription is (re)made,
and must then re-read what it caches (configuration, for instance) from the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[None]]

RESYNC: Message = {"type": "resync"}


class Bus(Protocol):
    def subscribe(self, topic: str, handler: Handler) -> None: ...

    async def publish(self, topic: str, message: Message) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
