"""One process at a time drives an Asterisk node's call flow (ARCHITECTURE.md: scale-out).

Asterisk gives a Stasis app's events to one WebSocket; two processes both answering calls
would double every action. Each process runs `Ownership`: it tries to take the node's lease,
runs the call flow while it holds it, renews it a few times per lease period, and stops the
call flow the moment a renewal fails (Redis lost, or another process took over after this
one stalled). A survivor takes the lease once it expires and carries on from the saved
state (waiting callers, agent states) in the database.

Fencing: every acquisition draws the next number of the node's token counter (Redis INCR,
in the same script that takes the lease) and keeps it with the lease. The call flow writes
its snapshot only if no newer token has written one (the condition is in the statement
itself), and checks it still holds its lease before every change it asks of Asterisk: an
owner that stalled past its lease (a long pause, a frozen VM) and wakes after a survivor
took over is refused both, and steps down instead of acting on stale state.

A graceful stop (SIGTERM) stops reading Asterisk's events, lets each call's work in flight
finish for up to `drain_s`, saves the state under its token and releases the lease, so the
survivor takes over at once instead of waiting out the lease.

Without Redis there is one process and the lease is always held (`SoleLease`, no token).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pbx.callflow.fencing import Fence, StaleOwner
from pbx.callflow.saver import StateSaver

log = logging.getLogger(__name__)

# Take a free lease with the next fencing token (never below `floor`, the newest token the
# database has seen: a Redis that lost its counter must not hand out old numbers again);
# the lease's value is "token owner". Renew only if we still hold it; release only our own.
_ACQUIRE = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
local token = redis.call('incr', KEYS[2])
if token <= tonumber(ARGV[3]) then
  token = tonumber(ARGV[3]) + 1
  redis.call('set', KEYS[2], token)
end
redis.call('set', KEYS[1], token .. ' ' .. ARGV[1], 'PX', ARGV[2])
return token
"""
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"  # noqa: E501
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"  # noqa: E501
# Still ours? How long it has left (ms), without extending it; -2 if it is not ours.
_HELD = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pttl', KEYS[1]) else return -2 end"  # noqa: E501


def lease_key(node: str) -> str:
    return f"ll:ari-owner:{node}"


def token_key(node: str) -> str:
    return f"ll:ari-token:{node}"


def process_name() -> str:
    """Who holds a lease, as operators read it in /healthz: host, process id, and a random
    part that tells a restarted process with a reused id from its predecessor."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Holder:
    """Who holds a node's lease, read from Redis."""

    owner: str
    token: int


class Lease(Protocol):
    owner: str
    token: int | None  # the fencing token of the current acquisition; None: not fenced

    async def acquire(self, floor: int = 0) -> bool: ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...

    async def confirm(self) -> bool:
        """Whether it is still ours, asking Redis; extends nothing (renewing is the
        ownership's job, so a process whose renewals stalled cannot keep it this way)."""
        ...

    def valid(self) -> bool:
        """Held for certain without asking Redis (renewed within the lease period)."""
        ...


class SoleLease:
    """One process, no Redis: always held, nothing to fence against."""

    owner = "this process"
    token: int | None = None

    async def acquire(self, floor: int = 0) -> bool:
        return True

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        pass

    async def confirm(self) -> bool:
        return True

    def valid(self) -> bool:
        return True


class RedisLease:
    def __init__(self, redis: Redis, node: str, ttl_s: float, owner: str | None = None) -> None:
        self._redis = redis
        self.key, self._counter = lease_key(node), token_key(node)
        self.owner = owner or process_name()
        self.token: int | None = None
        self._ttl_ms = int(ttl_s * 1000)
        self._valid_until = 0.0  # monotonic: held for certain until then

    @property
    def _value(self) -> str:
        return f"{self.token} {self.owner}"

    async def acquire(self, floor: int = 0) -> bool:
        asked = time.monotonic()
        try:
            token = int(await self._redis.eval(  # type: ignore[misc]
                _ACQUIRE, 2, self.key, self._counter, self.owner, self._ttl_ms, floor
            ))  # fmt: skip
        except (RedisError, OSError) as exc:
            log.warning("ARI lease: Redis unavailable (%s)", exc)
            return False
        if not token:
            return False
        self.token, self._valid_until = token, asked + self._ttl_ms / 1000
        return True

    async def renew(self) -> bool:
        if self.token is None:
            return False
        asked = time.monotonic()  # the lease runs from when we asked, not when Redis answered
        try:
            renewed = await self._redis.eval(_RENEW, 1, self.key, self._value, self._ttl_ms)  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            log.warning("ARI lease not renewed, Redis unavailable (%s)", exc)
            return False
        if renewed:
            self._valid_until = asked + self._ttl_ms / 1000
        return bool(renewed)

    async def release(self) -> None:
        self._valid_until = 0.0
        if self.token is None:
            return
        with contextlib.suppress(RedisError, OSError):
            await self._redis.eval(_RELEASE, 1, self.key, self._value)  # type: ignore[misc]

    async def confirm(self) -> bool:
        if self.token is None:
            return False
        asked = time.monotonic()
        try:
            left_ms = int(await self._redis.eval(_HELD, 1, self.key, self._value))  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            log.warning("ARI lease not confirmed, Redis unavailable (%s)", exc)
            return False
        if left_ms <= 0:  # not ours (-2), or about to go
            return False
        self._valid_until = max(self._valid_until, asked + left_ms / 1000)
        return True

    def valid(self) -> bool:
        return self.token is not None and time.monotonic() < self._valid_until


async def lease_holders(redis: Redis, nodes: Sequence[str]) -> dict[str, Holder | None]:
    """Who holds each node's lease now (None: nobody; a survivor takes it within
    `lease_seconds`). Raises RedisError/OSError if Redis cannot be read."""
    values = await redis.mget([lease_key(node) for node in nodes])
    holders: dict[str, Holder | None] = {}
    for node, value in zip(nodes, values, strict=True):
        text = value.decode() if isinstance(value, bytes) else value
        token, _, owner = (text or "").partition(" ")
        holders[node] = Holder(owner, int(token)) if token.isdigit() and owner else None
    return holders


class LeaseFence(Fence):
    """The call flow's fence while it runs under `lease`: the token it writes with, and a
    check before acting that costs nothing while the lease was renewed within its period
    and asks Redis whether it is still ours only when it was not (after a stall). A failed
    check calls `on_stale` (the ownership steps down) and raises `StaleOwner`."""

    def __init__(self, lease: Lease, on_stale: Callable[[], None]) -> None:
        self._lease, self._on_stale = lease, on_stale
        self.token = lease.token

    async def check(self) -> None:
        if self._lease.token == self.token and (
            self._lease.valid() or await self._lease.confirm()
        ):
            return
        self.lost("its ARI lease was taken over")
        raise StaleOwner(f"token {self.token}: the ARI lease was taken over")

    def lost(self, what: str) -> None:
        log.error("ARI lease token %s is stale (%s)", self.token, what)
        self._on_stale()


class Runnable(Protocol):
    """What the ownership starts and stops: the call flow."""

    @property
    def ready(self) -> bool:
        """Connected to Asterisk and in sync."""
        ...

    async def start(self) -> None: ...

    async def stop(self, *, save: bool = True, drain_s: float = 0.0) -> None: ...


class Ownership:
    """Runs `flow` exactly while this process holds `lease`; `saver` writes its state,
    fenced by the lease's token."""

    def __init__(
        self, flow: Runnable, saver: StateSaver, lease: Lease, *, url: str, every_s: float,
        drain_s: float = 0.0,
    ) -> None:  # fmt: skip
        self.flow, self.saver, self.url = flow, saver, url  # url: the node's ARI, for /healthz
        self.lease = lease
        self.every_s = every_s  # a third of the lease period: two renewals may fail in a row
        self.drain_s = drain_s  # a graceful stop lets work in flight finish for this long
        self.owner = False
        self._task: asyncio.Task[None] | None = None
        self._changing = asyncio.Lock()  # taking over and stepping down, one at a time
        self._stopping = False
        self._stepping_down: asyncio.Task[None] | None = None

    @property
    def node(self) -> str:
        return self.saver.snapshots.node

    async def start(self) -> None:
        await self._try_take()
        self._task = asyncio.create_task(self._run(), name="ari-ownership")

    async def stop(self) -> None:
        """A graceful stop: calls' work in flight finishes (up to `drain_s`, while the lease
        is still renewed), the state is saved under our token, and the lease is released so
        a survivor takes over at once."""
        self._stopping = True
        async with self._changing:
            if self.owner:
                log.info("stopping: letting calls' work in flight finish (up to %.1f s), then"
                         " handing over the ARI lease", self.drain_s)  # fmt: skip
                try:
                    await self.flow.stop(save=True, drain_s=self.drain_s)
                finally:
                    self.owner = False
                    await self.lease.release()
        task, self._task = self._task, None
        for running in (task, self._stepping_down):
            if running is not None and not running.done():
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running

    async def status(self, redis: Redis | None, nodes: Sequence[str]) -> dict[str, Any]:
        """This process's role for /healthz: the owner of its node's call flow (healthy when
        connected to Asterisk and in sync) or a standby (healthy as it is: it serves desks
        and the API, and takes over if the owner dies), and who holds each node's lease."""
        role = "owner" if self.owner else "standby"
        status: dict[str, Any] = {
            "ok": self.flow.ready if self.owner else True, "role": role, "node": self.node,
            "connected": self.flow.ready, "url": self.url, "process": self.lease.owner,
        }  # fmt: skip
        if redis is None:
            status["owners"] = {self.node: {"process": self.lease.owner, "token": None}}
            return status
        try:
            holders = await lease_holders(redis, list(dict.fromkeys([self.node, *nodes])))
        except (RedisError, OSError) as exc:
            status["owners_error"] = type(exc).__name__
            return status
        status["owners"] = {
            node: {"process": holder.owner, "token": holder.token} if holder else None
            for node, holder in holders.items()
        }
        return status

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            if self.owner:
                if not await self.lease.renew() and not self._stopping:
                    log.error("lost the ARI lease: stopping the call flow here")
                    await self._give_up()
            elif not self._stopping:
                await self._try_take()

    async def _try_take(self) -> None:
        async with self._changing:
            if self.owner or self._stopping:
                return
            floor = await self.saver.snapshots.newest_token()
            if not await self.lease.acquire(floor):
                return
            log.info("took the ARI lease for %s (token %s): this process runs the call flow",
                     self.node, self.lease.token)  # fmt: skip
            self.owner = True
            self.saver.fence = LeaseFence(self.lease, self._stale)
            try:
                await self._start_flow()
            except Exception:  # the database away: hand the lease back, try again later
                log.exception("the call flow did not start: handing the ARI lease back")
                self.owner = False
                await self.flow.stop(save=False)
                await self.lease.release()

    async def _start_flow(self) -> None:
        """Start the call flow, renewing the lease meanwhile: a start slower than the lease
        (a loaded machine, a slow database) must not lose what it was started for."""
        start = asyncio.ensure_future(self.flow.start())
        try:
            while not start.done():
                await asyncio.wait({start}, timeout=self.every_s)
                if not start.done():
                    await self.lease.renew()  # a failure is seen by the next renewal
            start.result()
        finally:
            if not start.done():
                start.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await start

    def _stale(self) -> None:
        """The flow found its token outdated: step down, from a task of our own (the flow's
        task that found it cannot wait for the flow to stop)."""
        if self._stepping_down is None or self._stepping_down.done():
            log.error("another process owns %s now: this stale owner steps down", self.node)
            self._stepping_down = asyncio.create_task(self._give_up(), name="ari-step-down")

    async def _give_up(self) -> None:
        """Lost the lease: stop at once, without saving (the new owner's state is newer)."""
        async with self._changing:
            if not self.owner:
                return
            self.owner = False
            await self.flow.stop(save=False)
