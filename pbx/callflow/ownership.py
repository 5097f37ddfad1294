"""One process at a time drives an Asterisk node's call flow (ARCHITECTURE.md: scale-out).

Asterisk gives a Stasis app's events to one WebSocket; two processes both answering calls
would double every action. Each process runs `Ownership`: it tries to take the node's lease,
runs the call flow while it holds it, renews it a few times per lease period, and stops the
call flow the moment a renewal fails (Redis lost, or another process took over after this
one stalled). A survivor takes the lease once it expires and carries on from the saved
state (waiting callers, agent states) in the database.

Without Redis there is one process and the lease is always held (`SoleLease`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pbx.callflow.app import CallFlow

log = logging.getLogger(__name__)

# Renew only if we still hold it; release only our own lease.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"  # noqa: E501
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"  # noqa: E501


class Lease(Protocol):
    async def acquire(self) -> bool: ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...


class SoleLease:
    async def acquire(self) -> bool:
        return True

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        pass


class RedisLease:
    def __init__(self, redis: Redis, node: str, ttl_s: float) -> None:
        self._redis = redis
        self.key = f"ll:ari-owner:{node}"
        self.owner = uuid.uuid4().hex
        self._ttl_ms = int(ttl_s * 1000)

    async def acquire(self) -> bool:
        try:
            return bool(await self._redis.set(self.key, self.owner, nx=True, px=self._ttl_ms))
        except (RedisError, OSError) as exc:
            log.warning("ARI lease: Redis unavailable (%s)", exc)
            return False

    async def renew(self) -> bool:
        try:
            return bool(await self._redis.eval(_RENEW, 1, self.key, self.owner, self._ttl_ms))
        except (RedisError, OSError) as exc:
            log.warning("ARI lease not renewed, Redis unavailable (%s)", exc)
            return False

    async def release(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.eval(_RELEASE, 1, self.key, self.owner)


class Ownership:
    """Runs `flow` exactly while this process holds `lease`."""

    def __init__(self, flow: CallFlow, lease: Lease, *, every_s: float) -> None:
        self.flow = flow
        self.lease = lease
        self.every_s = every_s  # a third of the lease period: two renewals may fail in a row
        self.owner = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if await self.lease.acquire():
            await self._take()
        self._task = asyncio.create_task(self._run(), name="ari-ownership")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.owner:
            await self._give_up()
            await self.lease.release()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            if self.owner and not await self.lease.renew():
                log.error("lost the ARI lease: stopping the call flow here")
                await self._give_up(save=False)
            elif not self.owner and await self.lease.acquire():
                await self._take()

    async def _take(self) -> None:
        log.info("took the ARI lease: this process runs the call flow")
        self.owner = True
        await self.flow.start()

    async def _give_up(self, *, save: bool = True) -> None:
        self.owner = False
        await self.flow.stop(save=save)
