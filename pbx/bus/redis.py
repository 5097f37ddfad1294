"""The bus across processes: Redis pub/sub, one connection per process for listening.

When Redis goes away the listener retries with back-off and, once subscribed again, calls
every handler with RESYNC (messages published meanwhile are lost by pub/sub's design).
Publishing while Redis is down raises: the caller's change is already in the database, and
the other processes pick it up at their RESYNC.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pbx.bus.port import RESYNC, Handler, Message

log = logging.getLogger(__name__)
PREFIX = "ll:bus:"


class RedisBus:
    def __init__(
        self, redis: Redis, *, retry_initial: float = 0.2, retry_max: float = 10.0
    ) -> None:
        self._redis = redis
        # Pub/sub channels are server-wide, keys are per database: two deployments sharing a
        # Redis server in different databases must not run each other's desk commands or
        # config reloads. The database is in the channel's name.
        database = redis.connection_pool.connection_kwargs.get("db", 0)
        self._prefix = f"{PREFIX}{database}:"
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._retry_initial, self._retry_max = retry_initial, retry_max
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def channel(self, topic: str) -> str:
        """The Redis channel a topic travels on."""
        return self._prefix + topic

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    async def publish(self, topic: str, message: Message) -> None:
        await self._redis.publish(self.channel(topic), json.dumps(message, separators=(",", ":")))

    async def start(self) -> None:
        """Listen for the topics subscribed so far (none: this process only publishes)."""
        if self._task is None and self._handlers:
            self._task = asyncio.create_task(self._listen(), name="redis-bus")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        delay = self._retry_initial
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(*(self.channel(topic) for topic in self._handlers))
                    self.subscribed.set()
                    delay = self._retry_initial
                    await self._deliver_all(RESYNC)
                    async for raw in pubsub.listen():
                        await self._deliver(raw)
                raise ConnectionError("subscription ended")
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("bus: Redis unavailable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(self._retry_max, delay * 2)

    async def _deliver(self, raw: dict) -> None:
        topic = raw.get("channel", b"")
        topic = topic.decode() if isinstance(topic, bytes) else str(topic)
        try:
            message = json.loads(raw.get("data") or b"")
        except (TypeError, ValueError):
            log.warning("bus: undecodable message on %s skipped", topic)
            return
        if not isinstance(message, dict):
            log.warning("bus: non-object message on %s skipped", topic)
            return
        await self._call(topic.removeprefix(self._prefix), message)

    async def _deliver_all(self, message: Message) -> None:
        for topic in list(self._handlers):
            await self._call(topic, message)

    async def _call(self, topic: str, message: Message) -> None:
        for handler in list(self._handlers.get(topic, ())):
            try:
                await handler(message)
            except Exception:
                log.exception("bus handler for %s failed", topic)
