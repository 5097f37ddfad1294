"""The queue and agents reports read the intervals the call ends summed; every figure equals
what the raw call log says, on a day the clocks go back, at two service-level and
short-abandon thresholds; a rebuild from the call log gives the same intervals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import report_agent_intervals, report_queue_intervals
from pbx.reports.agents import AgentQuery, agent_report
from pbx.reports.periods import Interval, period
from pbx.reports.queues import QueueQuery, queue_report
from pbx.reports.store import rebuild
from tests.factories import make_tenant
from tests.reports.calls import DIDS, expected_queue_rows, log_calls, raw_calls, staff, utc

VILNIUS = ZoneInfo("Europe/Vilnius")
DST_DAY = date(2026, 10, 25)  # 04:00 EEST becomes 03:00 EET


async def _business(database: Database, slug: str = "vilnius") -> tuple[int, object]:
    tenant = await make_tenant(database, slug, "LT", "EUR", [], timezone="Europe/Vilnius")
    return tenant, await staff(database, tenant)


async def test_every_queue_figure_by_hour_equals_the_raw_call_log_on_a_dst_day(
    database: Database,
) -> None:
    tenant, business = await _business(database)
    # From 22:00 local the evening before to 02:00 local the day after: the report's day
    # has 25 hours, and calls outside it must not count.
    await log_calls(database, business, utc(2026, 10, 24, 19), hours=32, count=260)  # type: ignore[arg-type]
    calls = await raw_calls(database, tenant)
    span = period(VILNIUS, DST_DAY, DST_DAY, Interval.HOUR)
    in_day = [c for c in calls if span.start <= c.arrived_at < span.end]

    for sl, short in ((20, 5), (30, 10)):
        query = QueueQuery(span, Interval.HOUR, service_level_seconds=sl,
                           short_abandon_seconds=short)  # fmt: skip
        report = await queue_report(database, tenant, query)

        got = {(r.interval_start.isoformat(), r.queue_id): _figures(r) for r in report.rows}  # type: ignore[union-attr]
        assert got == expected_queue_rows(in_day, VILNIUS, sl, short)
    hours = {r.interval_start.isoformat() for r in report.rows}  # type: ignore[union-attr]
    assert len(hours) == 25  # every hour had calls, the repeated 03:00 twice
    by_queue = defaultdict(int)
    for row in report.rows:
        by_queue[row.queue_id] += row.offered
    assert {t.queue_id: t.offered for t in report.totals} == dict(by_queue)


async def test_a_dialled_number_and_a_queue_narrow_the_report(database: Database) -> None:
    tenant, business = await _business(database)
    await log_calls(database, business, utc(2026, 10, 24, 22), hours=24, count=120, seed=3)  # type: ignore[arg-type]
    calls = await raw_calls(database, tenant)
    queue = business.queues[0]  # type: ignore[attr-defined]
    span = period(VILNIUS, DST_DAY, DST_DAY, Interval.DAY)
    in_day = [c for c in calls if span.start <= c.arrived_at < span.end
              and c.dialed_number == DIDS[0]]  # fmt: skip
    chosen = [c for c in in_day if c.queue_id == queue]
    sent_on = [c for c in in_day if c.overflow_from_queue_id == queue]
    assert sent_on  # some calls left this queue for the other

    report = await queue_report(database, tenant, QueueQuery(
        span, Interval.DAY, queues=(queue,), dids=(DIDS[0],)))  # fmt: skip

    assert [(r.queue_id, r.calls, r.offered, r.answered, r.overflowed_queue)
            for r in report.rows] == [(
        queue, len(chosen), len(chosen) + len(sent_on),
        sum(1 for c in chosen if c.outcome == "answered"), len(sent_on))]  # fmt: skip


async def test_the_agents_report_equals_the_raw_call_log(database: Database) -> None:
    tenant, business = await _business(database)
    await log_calls(database, business, utc(2026, 10, 24, 22), hours=26, count=150, seed=5)  # type: ignore[arg-type]
    calls = await raw_calls(database, tenant)
    span = period(VILNIUS, DST_DAY, DST_DAY, Interval.DAY)
    handled = [c for c in calls if span.start <= c.arrived_at < span.end
               and c.agent_id is not None and c.answered_at is not None]  # fmt: skip

    report = await agent_report(database, tenant, AgentQuery(span, Interval.DAY))

    expected = {}
    for agent in {c.agent_id for c in handled}:
        mine = [c for c in handled if c.agent_id == agent]
        inbound = [c for c in mine if c.direction == "inbound"]
        expected[agent] = (len(mine), len(inbound), len(mine) - len(inbound),
                           sum(c.talk_seconds or 0 for c in mine),
                           max(c.talk_seconds or 0 for c in mine),
                           round(sum(c.wait_seconds or 0 for c in inbound) / len(inbound), 1)
                           if inbound else None)  # fmt: skip
    assert {t.agent_id: (t.handled, t.inbound, t.outbound, t.talk_seconds,
                         t.longest_talk_seconds, t.average_answer_wait_seconds)
            for t in report.totals} == expected  # fmt: skip
    assert all(t.agent_name and t.agent_name.startswith("Agentė") for t in report.totals)


async def test_a_rebuild_from_the_call_log_gives_what_the_call_ends_added(
    database: Database,
) -> None:
    tenant, business = await _business(database)
    _, other_business = await _business(database, "kaunas")
    await log_calls(database, business, utc(2026, 10, 24, 20), hours=30, count=200, seed=11)  # type: ignore[arg-type]
    await log_calls(database, other_business, utc(2026, 10, 24, 20), hours=30, count=40, seed=12)  # type: ignore[arg-type]
    incremental = await _intervals(database)

    summed = await rebuild(database, tenant, None)
    assert await _intervals(database) == incremental
    assert summed == len(await raw_calls(database, tenant))

    # A range only: its quarter hours replaced, the rest and the other business untouched.
    async with database.engine.begin() as connection:
        await connection.execute(report_queue_intervals.update().values(calls=999))
    await rebuild(database, tenant, period(VILNIUS, DST_DAY, DST_DAY, Interval.DAY))
    after = await _intervals(database)
    span = period(VILNIUS, DST_DAY, DST_DAY, Interval.DAY)
    lo, hi = span.buckets
    for key, row in after["queues"].items():
        if key[0] == tenant and lo <= key[1] < hi:
            assert row == incremental["queues"][key]
        else:
            assert row["calls"] == 999


async def _intervals(database: Database) -> dict[str, dict[tuple, dict]]:  # type: ignore[type-arg]
    found = {}
    async with database.engine.connect() as connection:
        for name, table in (("queues", report_queue_intervals),
                            ("agents", report_agent_intervals)):  # fmt: skip
            rows = (await connection.execute(select(table))).mappings()
            keys = [c.name for c in table.primary_key]
            found[name] = {tuple(r[k] for k in keys): dict(r) for r in rows}
    return found


def _figures(row: object) -> dict[str, object]:
    figures = asdict(row)  # type: ignore[call-overload]
    for name in ("interval_start", "queue_id", "queue_name"):
        figures.pop(name)
    return figures
