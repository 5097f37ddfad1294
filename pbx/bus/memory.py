"""The embedded bus: one process, handlers called in order of subscription."""

from __future__ import annotations

import logging
from collections import defaultdict

from pbx.bus.port import RESYNC, Handler, Message

log = logging.getLogger(__name__)


class MemoryBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    async def publish(self, topic: str, message: Message) -> None:
        for handler in list(self._handlers[topic]):
            await _call(topic, handler, message)

    async def start(self) -> None:
        for topic, handlers in list(self._handlers.items()):
            for handler in handlers:
                await _call(topic, handler, RESYNC)

    async def stop(self) -> None:
        pass


async def _call(topic: str, handler: Handler, message: Message) -> None:
    try:
        await handler(message)
    except Exception:  # one bad subscriber must not stop the others
        log.exception("bus handler for %s failed", topic)
