"""Collections: the day's reminders and the worklist for one business of N accounts, a tenth
of them overdue, on PostgreSQL; wall time and the process's peak memory after each step.

    .venv/bin/python -m bench.collections [--accounts 1000000] [--overdue-share 10] [--seeded]

The business is seeded as `bench.reminders` seeds it (one business in Vilnius, N customers,
accounts and one open invoice each, the overdue ones 1 to 30 days overdue; reminders on day
1 email, day 5 SMS, day 10 worklist). Steps: plan the day's reminders
(`billing_bridge.reminders.planner.plan`), build the worklist
(`billing_bridge.worklist.store.build`: one grouped scan of the overdue accounts streamed in
batches of 2,000, scored and upserted), and build it again (every entry refreshed, none
added). Goal: at most 30 s for the reminders and the first build together at a million
accounts, memory flat.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, select

from bench.common import machine
from bench.reminders import NOW, URL, arguments, reuse, seed
from billing_bridge.reminders import planner
from billing_bridge.worklist import store
from pbx.db.database import Database
from pbx.db.models import Tenant, WorklistEntry


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _timed(step: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float]:
    started = time.perf_counter()
    result = await step()
    return result, time.perf_counter() - started, _peak_mib()


async def measure(accounts: int, overdue_share: int, seeded_before: bool) -> None:
    started = time.perf_counter()
    overdue = await (reuse() if seeded_before else seed(accounts, overdue_share))
    seeded = time.perf_counter() - started
    database = Database(URL)
    try:
        async with database.system_session() as session, session.begin():
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == "bench"))
            await session.execute(delete(WorklistEntry))  # an earlier run's (--seeded)
        assert tenant_id is not None
        before = _peak_mib()
        plan, plan_s, plan_rss = await _timed(lambda: planner.plan(database, NOW))
        built, build_s, build_rss = await _timed(lambda: store.build(database, tenant_id, NOW))
        again, again_s, again_rss = await _timed(lambda: store.build(database, tenant_id, NOW))
    finally:
        await database.close()
    print(f"machine: {machine()}")
    print(f"PostgreSQL on 127.0.0.1 (same machine); {accounts:,} accounts, {overdue:,} overdue;"
          f" seeded in {seeded:.0f} s; peak RSS before the steps {before:.0f} MiB")  # fmt: skip
    print("| step | rows | s | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| the day's reminders | {plan.planned:,} planned | {plan_s:.1f} | {plan_rss:.0f} |")
    print(f"| the worklist | {built.listed:,} listed | {build_s:.1f} | {build_rss:.0f} |")
    print(f"| the worklist again | {again.listed:,} refreshed, {again.removed} removed | "
          f"{again_s:.1f} | {again_rss:.0f} |")  # fmt: skip
    print(f"| reminders + worklist | | {plan_s + build_s:.1f} | |")


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    asyncio.run(measure(args.accounts, args.overdue_share, args.seeded))


if __name__ == "__main__":
    main()
