"""The delivery worker every serving process runs: claims due deliveries, posts them, and
settles each with its outcome.

It polls the due index, quickly (`poll_s`) while it finds work and backing off to `idle_s`
when it does not, and `wake()` cuts a wait short. At most `concurrency` attempts are in
flight. A graceful stop takes no new claims and lets the attempts in flight finish for up to
`grace_s`; what is still unsettled then is cancelled and goes out again when its lease ends,
in this process or another: nothing is lost, and receivers dedupe by event id.

A subscription that settling disabled is handed, once committed, to `on_disabled` (the
composition root tells the business's admins on their desks); a failure there is logged and
costs no delivery anything."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing_bridge.webhooks_out import store
from billing_bridge.webhooks_out.log import AttemptView, DeliveryView, redeliver
from billing_bridge.webhooks_out.sender import Sender
from pbx.audit import Actor
from pbx.db.database import Database

log = logging.getLogger(__name__)
_BATCH = 200  # outcomes written in one transaction at most
# Told of the subscriptions a settling disabled, after it committed.
OnDisabled = Callable[[Sequence[store.Disabled]], Awaitable[None]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 64
    poll_s: float = 0.05  # between claims while there is work
    idle_s: float = 0.5  # the longest wait when there is none
    lease: timedelta = timedelta(seconds=60)  # well beyond the sender's timeout
    disable_after: timedelta = timedelta(days=3)
    grace_s: float = 12.0  # a stop waits this long for attempts in flight
    allow_private: bool = False  # receivers on loopback or private networks (and over http)


class DeliveryWorker:
    def __init__(self, database: Database, sender: Sender, envelope: store.Envelope,
                 settings: WorkerSettings = WorkerSettings(), *,
                 clock: Callable[[], datetime] = _utc_now,
                 rng: random.Random | None = None,
                 on_disabled: OnDisabled | None = None) -> None:  # fmt: skip
        self.database, self.sender, self.envelope = database, sender, envelope
        self.settings, self.clock = settings, clock
        self.on_disabled = on_disabled
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_requested = asyncio.Event()  # cuts a busy pause short; a wake does not
        # Outcomes waiting to be written, and whether a task is writing them now.
        self._unsettled: list[tuple[store.Settlement, asyncio.Future[None]]] = []
        self._settling = False

    def start(self) -> None:
        self._stopping = False
        self._stop_requested.clear()
        self._task = asyncio.create_task(self.run(), name="webhook-deliveries")

    def wake(self) -> None:
        """Look for due deliveries now (an event was just committed)."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._stop_requested.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._in_flight:
            try:
                async with asyncio.timeout(self.settings.grace_s):
                    await asyncio.gather(*self._in_flight, return_exceptions=True)
            except TimeoutError:  # their leases run out: sent again, by whoever serves next
                for task in self._in_flight:
                    task.cancel()
                await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self.sender.close()

    async def run_once(self) -> int:
        """Claim what is due now, deliver it and settle it all: how many were attempted."""
        claims = await self._claim(self.settings.concurrency)
        await asyncio.gather(*(self._deliver(claim) for claim in claims))
        return len(claims)

    async def redeliver(self, *, tenant_id: int, actor: Actor, subscription_id: int,
                        delivery_id: int) -> tuple[DeliveryView, list[AttemptView]]:  # fmt: skip
        """An admin's attempt of one delivery, now (see `log.redeliver`)."""
        disabled: list[store.Disabled] = []
        try:
            return await redeliver(self.database, self.sender, self.envelope,
                                   tenant_id=tenant_id, actor=actor,
                                   subscription_id=subscription_id, delivery_id=delivery_id,
                                   now=self.clock(), lease=self.settings.lease,
                                   disable_after=self.settings.disable_after, rng=self.rng,
                                   disabled=disabled)  # fmt: skip
        finally:
            await self._tell(disabled)

    async def run(self) -> None:
        idle = self.settings.poll_s
        while not self._stopping:
            free = self.settings.concurrency - len(self._in_flight)
            if free <= 0:  # a finished attempt wakes the loop
                await self._wait(self.settings.idle_s)
                continue
            try:
                claims = await self._claim(free)
            except Exception:  # the database away: try again after the longest wait
                log.exception("webhook deliveries: claim failed")
                await self._wait(self.settings.idle_s)
                continue
            for claim in claims:
                task = asyncio.create_task(self._deliver(claim))
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if claims:
                # At most one claim a poll while there is work, whatever frees meanwhile:
                # a claim is a batch, not a query for every slot that frees.
                idle = self.settings.poll_s
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_s):
                        await self._stop_requested.wait()
            else:
                await self._wait(idle)
                idle = min(idle * 2, self.settings.idle_s)

    async def _claim(self, limit: int) -> list[store.Claim]:
        return await store.claim_due(self.database, self.envelope, now=self.clock(),
                                     limit=limit, lease=self.settings.lease)  # fmt: skip

    async def _deliver(self, claim: store.Claim) -> None:
        attempted_at = self.clock()
        outcome = await self.sender.post(claim.url, claim.secret, claim.event_id, claim.body,
                                         int(attempted_at.timestamp()))  # fmt: skip
        settled = asyncio.get_running_loop().create_future()
        self._unsettled.append((store.Settlement(claim, outcome, attempted_at), settled))
        if not self._settling:
            await self._settle_unsettled()
        await settled

    async def _settle_unsettled(self) -> None:
        """Settle the outcomes waiting, a batch per transaction: while one batch is being
        written the next gathers, so under load a transaction carries many deliveries."""
        self._settling = True
        try:
            while self._unsettled:
                batch = self._unsettled[:_BATCH]
                del self._unsettled[:_BATCH]
                await self._settle_batch([done for done, _ in batch])
                for _, settled in batch:
                    if not settled.done():
                        settled.set_result(None)
        finally:
            self._settling = False

    async def _settle_batch(self, batch: list[store.Settlement]) -> None:
        disabled: list[store.Disabled] = []
        options = {"rng": self.rng, "disable_after": self.settings.disable_after,
                   "disabled": disabled}  # fmt: skip
        try:
            await store.settle_all(self.database, batch, **options)  # type: ignore[arg-type]
            await self._tell(disabled)
            return
        except Exception:  # one at a time, so one that cannot be written holds up no other
            if len(batch) == 1:
                log.exception("webhook delivery %d: could not record its outcome",
                              batch[0].claim.delivery_id)  # fmt: skip
                return  # unsettled: its lease runs out and it is attempted again
        for done in batch:
            await self._settle_batch([done])

    async def _tell(self, disabled: Sequence[store.Disabled]) -> None:
        if not disabled or self.on_disabled is None:
            return
        try:
            await self.on_disabled(disabled)
        except Exception:  # the desks unreachable: the emails are in the outbox all the same
            log.exception("webhook subscriptions disabled: desks not told")

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()
