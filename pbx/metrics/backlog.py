"""The recordings and webhook backlog, read for a scrape in one statement over indexed
columns and kept a few seconds, so a scrape every second costs the database nothing more."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import case, func, literal, null, select, union_all

from pbx.db.database import Database
from pbx.db.models import RECORDING_JOB_STEPS, RecordingJob, WebhookDelivery
from pbx.metrics.figures import Backlog

log = logging.getLogger(__name__)
# Steps a job still has ahead of it (the step index's range, not a scan for "not done").
WAITING_STEPS = tuple(step for step in RECORDING_JOB_STEPS if step not in ("done", "failed"))
KEEP_SECONDS = 5.0


def _statement() -> Any:
    """Per business: pending deliveries, those of them whose last attempt failed, and the
    oldest one; given-up deliveries; recording jobs with steps ahead and failed ones. The
    first SELECT types the union's columns."""
    deliveries, jobs = WebhookDelivery, RecordingJob
    retrying = func.sum(case((deliveries.attempts > 0, 1), else_=0))
    return union_all(
        select(deliveries.tenant_id, literal("webhooks_pending").label("kind"),
               func.count().label("n"), retrying.label("retrying"),
               func.min(deliveries.created_at).label("oldest"))
        .where(deliveries.status == "pending").group_by(deliveries.tenant_id),
        select(deliveries.tenant_id, literal("webhooks_failed"), func.count(), null(), null())
        .where(deliveries.status == "failed").group_by(deliveries.tenant_id),
        select(jobs.tenant_id, literal("recordings_waiting"), func.count(), null(), null())
        .where(jobs.step.in_(WAITING_STEPS)).group_by(jobs.tenant_id),
        select(jobs.tenant_id, literal("recordings_failed"), func.count(), null(), null())
        .where(jobs.step == "failed").group_by(jobs.tenant_id),
    )  # fmt: skip


STATEMENT = _statement()


async def read_backlog(database: Database) -> dict[int, Backlog]:
    """Every business with queued or failed work, across businesses (a system read)."""
    found: dict[int, Backlog] = {}
    async with database.system_session() as session:
        rows = (await session.execute(STATEMENT)).all()
    for tenant_id, kind, count, retrying, oldest in rows:
        backlog = found.get(tenant_id, Backlog())
        changes: dict[str, Any] = {kind: int(count)}
        if kind == "webhooks_pending":
            changes |= {"webhooks_retrying": int(retrying), "webhooks_oldest_pending": oldest}
        found[tenant_id] = replace(backlog, **changes)
    return found


class BacklogCache:
    """The backlog read at most once every `keep_s`, however many scrapes ask; a failed
    read leaves the backlog out of that scrape (logged), never the whole scrape."""

    def __init__(self, database: Database, *, keep_s: float = KEEP_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._database, self._keep_s, self._monotonic = database, keep_s, monotonic
        self._lock = asyncio.Lock()
        self._read_at = float("-inf")
        self.figures: dict[int, Backlog] | None = None

    async def refresh(self) -> None:
        async with self._lock:
            if self._monotonic() - self._read_at < self._keep_s:
                return
            try:
                self.figures = await read_backlog(self._database)
            except Exception as exc:  # the database away: the other metrics still answer
                log.warning("metrics: backlog not read: %s", type(exc).__name__)
                self.figures = None
            self._read_at = self._monotonic()
