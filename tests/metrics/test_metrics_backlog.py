"""The scrape's backlog: recordings waiting and failed, webhook deliveries pending (with the
oldest one's age) and given up, per business, read in one statement and kept a few seconds."""

from __future__ import annotations

from sqlalchemy import update

from pbx.db.database import Database
from pbx.db.models import RecordingJob, WebhookDelivery
from pbx.metrics.backlog import BacklogCache, read_backlog
from pbx.metrics.figures import Backlog
from recordings.jobs import RecordingJobs
from tests.recordings.support import NOW, make_call, make_centre, make_recording
from tests.webhooks_out.conftest import make_business


async def test_each_business_s_backlog_is_counted_apart(database: Database) -> None:
    centre, other = await make_centre(database), await make_centre(database, "saule")
    jobs = RecordingJobs(database)
    for tenant, count in ((centre, 2), (other, 1)):
        for _ in range(count):
            call = await make_call(database, tenant)
            await jobs.enqueue(tenant, await make_recording(database, tenant, call), now=NOW)
    async with database.system_session() as session, session.begin():
        await session.execute(update(RecordingJob).where(RecordingJob.tenant_id == other)
                              .values(step="failed"))  # fmt: skip
    business = await make_business(database, "ofek-hooks")
    await business.subscribe("http://127.0.0.1:9/hook")
    await business.emit("credit.granted", business.accounts[0], n=1)
    await business.emit("credit.granted", business.accounts[0], n=2)
    async with database.system_session() as session, session.begin():
        first = min(d.id for d in await business.deliveries())
        await session.execute(update(WebhookDelivery).values(created_at=NOW, attempts=2))
        await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == first)
                              .values(status="failed"))  # fmt: skip

    found = await read_backlog(database)

    assert found[centre] == Backlog(recordings_waiting=2)
    assert found[other] == Backlog(recordings_failed=1)
    assert found[business.tenant_id] == Backlog(
        webhooks_pending=1, webhooks_retrying=1, webhooks_oldest_pending=NOW,
        webhooks_failed=1)


async def test_the_backlog_is_read_again_only_after_it_has_been_kept_its_seconds(
    database: Database,
) -> None:
    now = [100.0]
    cache = BacklogCache(database, keep_s=5.0, monotonic=lambda: now[0])
    await cache.refresh()
    assert cache.figures == {}
    tenant = await make_centre(database)
    call = await make_call(database, tenant)
    await RecordingJobs(database).enqueue(tenant, await make_recording(database, tenant, call),
                                          now=NOW)  # fmt: skip
    now[0] += 4.9
    await cache.refresh()
    assert cache.figures == {}  # a scrape within the seconds kept costs no query
    now[0] += 0.2
    await cache.refresh()
    assert cache.figures == {tenant: Backlog(recordings_waiting=1)}
