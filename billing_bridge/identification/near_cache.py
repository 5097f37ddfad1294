"""An in-process tier in front of the shared Redis cache: a caller looked up recently is
answered without a round trip to Redis (that round trip was most of a cached lookup's cost).

Kept correct across processes by invalidation over Redis pub/sub: `RedisCache.forget`
deletes the shared entries and publishes their numbers in the same transaction, and every
process's listener drops them from its own tier. Pub/sub reaches only a listener that is
connected, so the local tier serves only while subscribed: when the subscription is lost
(an error, or silence past a ping) the tier is cleared and every lookup reads Redis until
the listener has subscribed again, and cleared once more then (what was published between
the loss and its discovery is gone). A local copy also expires no later than the Redis
entry it was copied from, so nothing is served longer than the cache's TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from billing_bridge.identification.cache import Entries, Key, RedisCache
from billing_bridge.identification.model import Identification

log = logging.getLogger(__name__)


class NearCache:
    """`IdentificationCache`: an in-process LRU (bounded, expiring) before `RedisCache`.

    `listener` is the Redis client the subscription uses (one without a read timeout: a
    quiet channel is not a failure). The listener starts with the first lookup."""

    def __init__(
        self,
        shared: RedisCache,
        listener: Redis,
        ttl_seconds: float,
        max_entries: int = 20_000,
        *,
        clock: Callable[[], float] = time.monotonic,
        ping_after_seconds: float = 15.0,
        retry_initial: float = 0.2,
        retry_max: float = 10.0,
    ) -> None:
        self._shared = shared
        self._listener = listener
        self._local = Entries(ttl_seconds, max_entries, clock)
        self._ttl, self._clock = ttl_seconds, clock
        self._ping_after = ping_after_seconds
        self._retry_initial, self._retry_max = retry_initial, retry_max
        # Bumped by every drop: a read that began before one is not kept locally.
        self._generation = 0
        # Lookups that missed both tiers, with the generation then: their results, read from
        # the database and put, are kept here too unless something was dropped meanwhile.
        self._missed: dict[Key, int] = {}
        self._max_missed = max_entries
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()  # set while the local tier may serve
        self.lost = asyncio.Event()  # set while the subscription is down (after a first try)

    def __len__(self) -> int:
        return len(self._local)

    async def get(self, tenant_id: int, e164: str) -> Identification | None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="identification-cache")
        live = self.subscribed.is_set()
        if live and (hit := self._local.get((tenant_id, e164))) is not None:
            return hit
        generation = self._generation
        result, seconds_left = await self._shared.get_with_ttl(tenant_id, e164)
        if result is None:
            if len(self._missed) >= self._max_missed:  # lookups that never put: forget them
                self._missed.clear()
            self._missed[(tenant_id, e164)] = generation
        elif live and generation == self._generation:
            self._local.put((tenant_id, e164), result, seconds_left)
        return result

    async def put(self, tenant_id: int, e164: str, result: Identification) -> None:
        written = self._clock()  # the Redis entry expires a TTL from about now
        await self._shared.put(tenant_id, e164, result)
        # Only a result read after the miss, with nothing dropped since: a lookup that read
        # the database before an invalidation must not outlive it in this tier.
        generation = self._missed.pop((tenant_id, e164), None)
        if generation == self._generation and self.subscribed.is_set():
            self._local.put((tenant_id, e164), result, self._ttl - (self._clock() - written))

    async def forget(self, tenant_id: int, numbers: Iterable[str]) -> None:
        numbers = list(numbers)
        self._drop(tenant_id, numbers)
        await self._shared.forget(tenant_id, numbers)  # and publishes them to every process

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _drop(self, tenant_id: int, numbers: Iterable[str]) -> None:
        self._generation += 1
        for number in numbers:
            self._local.drop((tenant_id, number))

    def _clear(self) -> None:
        self._generation += 1
        self._local.clear()

    async def _listen(self) -> None:
        delay = self._retry_initial
        while True:
            try:
                async with self._listener.pubsub() as pubsub:
                    await pubsub.subscribe(self._shared.channel)
                    await self._receive(pubsub)
            except (RedisError, OSError) as exc:
                if self.subscribed.is_set():  # it worked until now: try again soon
                    delay = self._retry_initial
                log.warning(
                    "identification cache: invalidations unavailable (%s), reading Redis on "
                    "every lookup; subscribing again in %.1f s", exc, delay,
                )  # fmt: skip
            finally:  # whatever ended the subscription (a bug, a cancel): stop serving
                self.subscribed.clear()
                self._clear()
                self.lost.set()
            await asyncio.sleep(delay)
            delay = min(self._retry_max, delay * 2)

    async def _receive(self, pubsub: PubSub) -> None:
        """Until the connection fails. After a quiet spell a ping; a second quiet spell
        without even its pong is a lost connection (a peer gone silently sends no error)."""
        quiet = 0
        while True:
            message = await pubsub.get_message(timeout=self._ping_after)
            if message is None:
                quiet += 1
                if quiet > 1:
                    raise ConnectionError("no reply to a ping on the invalidation channel")
                await pubsub.ping()
                continue
            quiet = 0
            if message["type"] == "subscribe":
                self._clear()  # whatever was published while not subscribed is lost
                self.lost.clear()
                self.subscribed.set()
            elif message["type"] == "message":
                self._forget_published(message["data"])

    def _forget_published(self, data: bytes | str) -> None:
        try:
            published = json.loads(data)
            tenant_id, numbers = int(published["tenant_id"]), list(published["numbers"])
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("identification cache: unreadable invalidation, clearing: %r", exc)
            self._clear()
            return
        self._drop(tenant_id, numbers)
