"""Reports at scale: a month's queue report by hour, read from the report intervals, with
N calls in the call log on PostgreSQL; and what keeping the intervals costs.

    ./dev bench reports [--calls 10000000] [--queues 10] [--agents 50] [--seeded] [--runs 5]

A fresh database is seeded in SQL (one INSERT ... SELECT over generate_series, a million
calls a statement): one business in Vilnius, its queues and agents, N inbound calls spread
evenly over March 2027 (the month the clocks go forward), of every outcome (60 % answered,
25 % abandoned, 5 % overflowed to voicemail, 3 % callbacks, 4 % closed, 3 % failed), waits
0 to 600 s skewed short, answered calls shared round the agents; and the agents' state
history for the month (one INSERT ... SELECT, ~160 spans an agent-day): every agent logs in
8 hours a day (one in ten overnight from 22:00, so the night the clocks go forward, 28 March,
is crossed), its shift 40 cycles of 12 minutes (available, ringing, on a call, some with a
caller on hold, wrap-up; 5 a day a pause of a reason instead), edges off the quarter hours.
Then:

- the call-end upsert, as `pbx/callflow/call_log.py` runs it in each call end's
  transaction (`pbx.reports.store.call_ended`), timed over 2,000 calls (one transaction
  each), p50 and p99;
- `ledgerline report rebuild` of the whole month (`pbx.reports.store.rebuild`: set-based,
  grouped by quarter hour, and the state spans split again into the state intervals), which
  also replaces what the timed call ends added;
- the month's queue report by hour, by day, and the agents report by hour
  (`pbx.reports.queues.queue_report`, `agents.agent_report`, as the API calls them), each
  `--runs` times: best and median wall time, and the rows read and returned.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import func, select

from bench.common import ADMIN_URL, fresh_database, machine, percentile
from pbx.db.database import Database
from pbx.db.models import (
    AgentStateSpan,
    Call,
    Tenant,
    report_agent_state_intervals,
    report_queue_intervals,
)
from pbx.reports.agents import AgentQuery, agent_report
from pbx.reports.periods import Interval, period
from pbx.reports.queues import QueueQuery, queue_report
from pbx.reports.store import call_ended, rebuild

BENCH_DATABASE = "ledgerline_bench_reports"
RAW_URL = f"{ADMIN_URL.rsplit('/', 1)[0]}/{BENCH_DATABASE}"
URL = RAW_URL.replace("postgresql://", "postgresql+asyncpg://")
ZONE = ZoneInfo("Europe/Vilnius")
FIRST, LAST = date(2027, 3, 1), date(2027, 3, 31)
CHUNK = 1_000_000
TIMED_ENDS = 2_000

# One statement per chunk: the month's seconds spread over the calls in order; r1 chooses
# the outcome, r2 the queue, r3 the wait (squared: most waits are short).
SEED = """
INSERT INTO calls (tenant_id, channel_id, direction, caller_number, caller_raw, dialed_number,
                   match, queue_id, agent_id, priority, arrived_at, queued_at, answered_at,
                   ended_at, outcome, wait_seconds, talk_seconds, recording_notice)
SELECT $1, 'bench-' || g, 'inbound', '+3706' || lpad((g % 10000000)::text, 7, '0'),
       '+3706' || lpad((g % 10000000)::text, 7, '0'), $2, 'none',
       CASE WHEN outcome IN ('closed', 'failed') THEN NULL
            ELSE $3::bigint + floor(r2 * $4::int)::bigint END,
       CASE WHEN outcome = 'answered' THEN $5::bigint + g % $6::int END, 0, arrived,
       CASE WHEN outcome IN ('closed', 'failed') THEN NULL ELSE arrived + interval '5 s' END,
       CASE WHEN outcome = 'answered' THEN arrived + (5 + wait) * interval '1 s' END,
       arrived + (5 + wait + CASE WHEN outcome = 'answered' THEN talk ELSE 0 END)
                 * interval '1 s',
       outcome,
       CASE WHEN outcome IN ('closed', 'failed') THEN NULL ELSE wait END,
       CASE WHEN outcome = 'answered' THEN talk END, 'none'
FROM (
    SELECT g, r2, talk, wait,
           $7::timestamptz + (g - 1) * ($8::float / $9) * interval '1 s' AS arrived,
           CASE WHEN r1 < 0.60 THEN 'answered' WHEN r1 < 0.85 THEN 'abandoned'
                WHEN r1 < 0.90 THEN 'voicemail' WHEN r1 < 0.93 THEN 'callback'
                WHEN r1 < 0.97 THEN 'closed' ELSE 'failed' END AS outcome
    FROM (
        SELECT g, random() AS r1, random() AS r2, (random() ^ 2 * 600)::int AS wait,
               30 + (g * 7919) % 400 AS talk
        FROM generate_series($10::bigint, $11::bigint) AS g
    ) AS drawn
) AS chosen
"""

# One statement: per agent and day a shift of 40 cycles of 720 s from its start (local time;
# the offsets are real seconds, so a shift crossing the spring change lasts 8 hours all the
# same). A cycle's draws come from its (agent, day, cycle) numbers: ringing 3-22 s, talk
# 60-479 s, wrap-up 10-89 s, the rest available before the ring; every third call has a hold
# of 20-79 s from a third of the way into it (over by the call's end at the latest); cycles
# 3, 11, 19, 27 and 35 are a pause instead.
SEED_SPANS = """
INSERT INTO agent_state_spans (tenant_id, agent_id, state, reason, call_id, started_at,
                               ended_at)
SELECT $1, agent, part.state, part.reason, NULL, shift + (k * 720 + part.low) * interval '1 s',
       shift + (k * 720 + part.high) * interval '1 s'
FROM (
    SELECT agent, k, shift, ring, talk, wrap, 720 - ring - talk - wrap AS waiting,
           (agent + day + k) % 3 = 0 AS held, 20 + (agent * 13 + day * 7 + k) % 60 AS hold,
           CASE WHEN k % 8 = 3 THEN (ARRAY['break', 'lunch', 'training', 'ring-no-answer',
                                           'after-call-work'])[1 + (agent + day + k / 8) % 5]
           END AS pause
    FROM (
        SELECT agent, day, k,
               ((($5::date + day) + CASE WHEN agent % 10 = 9 THEN time '22:00'
                                        ELSE time '08:00' END) AT TIME ZONE $4)
               + ((agent % 8) * 420 + 13) * interval '1 s' AS shift,
               3 + (agent * 7 + day * 11 + k * 13) % 20 AS ring,
               60 + (agent * 7919 + day * 104729 + k * 31337) % 420 AS talk,
               10 + (agent * 31 + day * 17 + k * 7) % 80 AS wrap
        FROM generate_series($2::bigint, $2::bigint + $3::int - 1) AS agent,
             generate_series(0, $6::int) AS day, generate_series(0, 39) AS k
    ) AS drawn
) AS cycle
CROSS JOIN LATERAL (VALUES
    ('paused', pause, 0, 720),
    ('available', '', 0, waiting),
    ('ringing', '', waiting, waiting + ring),
    ('on_call', '', waiting + ring, waiting + ring + talk),
    ('on_hold', '', waiting + ring + talk / 3, waiting + ring + least(talk / 3 + hold, talk)),
    ('wrap_up', '', waiting + ring + talk, 720)
) AS part(state, reason, low, high)
WHERE CASE WHEN pause IS NOT NULL THEN part.state = 'paused'
           ELSE part.state <> 'paused' AND (part.state <> 'on_hold' OR held) END
"""


async def seed(calls: int, queues: int, agents: int) -> float:
    started = time.perf_counter()
    await fresh_database(BENCH_DATABASE)
    raw = await asyncpg.connect(RAW_URL)
    now = datetime.now(UTC)
    try:
        tenant = await raw.fetchval(
            "INSERT INTO tenants (slug, name, default_region, currency, timezone, created_at,"
            " money_needs_verification, credit_limits)"
            " VALUES ('bench', 'Bench', 'LT', 'EUR', 'Europe/Vilnius', $1, false, '{}')"
            " RETURNING id", now,
        )  # fmt: skip
        first_queue = await raw.fetchval(
            "INSERT INTO queues (tenant_id, name, strategy, ring_timeout_seconds,"
            " retry_seconds, wrapup_seconds, overflow_target, required_skills, autopause,"
            " music_class, updated_at) SELECT $1, 'Queue ' || i, 'ringall', 15, 0, 0, '',"
            " '{}', true, 'ledgerline', $2 FROM generate_series(1, $3) AS i"
            " RETURNING id", tenant, now, queues,
        )  # fmt: skip
        first_agent = await raw.fetchval(
            "INSERT INTO users (tenant_id, username, display_name, role, skills,"
            " credit_limit_minor, active, created_at) SELECT $1, 'agent' || i,"
            " 'Agent ' || i, 'agent', '{}', 0, true, $2 FROM generate_series(1, $3) AS i"
            " RETURNING id", tenant, now, agents,
        )  # fmt: skip
        start = datetime.combine(FIRST, datetime.min.time(), ZONE)
        seconds = (datetime.combine(date(2027, 4, 1), datetime.min.time(), ZONE)
                   - start).total_seconds()  # fmt: skip
        for low in range(1, calls + 1, CHUNK):
            high = min(calls, low + CHUNK - 1)
            await raw.execute(SEED, tenant, "+37052000001", first_queue, queues, first_agent,
                              agents, start, seconds, calls, low, high)  # fmt: skip
            print(f"  seeded {high:,} calls ({time.perf_counter() - started:.0f} s)",
                  flush=True)  # fmt: skip
        spans = await raw.execute(SEED_SPANS, tenant, first_agent, agents, ZONE.key, FIRST,
                                  (LAST - FIRST).days)  # fmt: skip
        print(f"  seeded {int(spans.split()[-1]):,} agent state spans "
              f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
        await raw.execute("VACUUM ANALYZE")
    finally:
        await raw.close()
    return time.perf_counter() - started


async def timed_call_ends(database: Database, tenant: int) -> list[float]:
    """The call end's upsert for existing calls, one transaction each (`call_ended`)."""
    async with database.tenant_session(tenant) as session:
        rows = list(await session.scalars(select(Call).order_by(Call.id).limit(TIMED_ENDS)))
    times = []
    for row in rows:
        started = time.perf_counter()
        async with database.tenant_session(tenant) as session, session.begin():
            await call_ended(session, row)
        times.append(time.perf_counter() - started)
    return sorted(times)


async def timed(runs: int, work) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


async def measure(calls: int, queues: int, agents: int, seeded_before: bool, runs: int) -> None:
    seeded_s = 0.0 if seeded_before else await seed(calls, queues, agents)
    database = Database(URL)
    try:
        async with database.system_session() as session:
            tenant = int(await session.scalar(select(Tenant.id).where(Tenant.slug == "bench")))
            logged = await session.scalar(select(Call.id).order_by(Call.id.desc()).limit(1))
        ends = await timed_call_ends(database, tenant)
        started = time.perf_counter()
        summed = await rebuild(database, tenant, None)
        rebuild_s = time.perf_counter() - started
        async with database.engine.connect() as connection:
            interval_rows, spans, state_rows = [
                await connection.scalar(select(func.count()).select_from(table))
                for table in (report_queue_intervals, AgentStateSpan, report_agent_state_intervals)
            ]
        month_hours = period(ZONE, FIRST, LAST, Interval.HOUR)
        month_days = period(ZONE, FIRST, LAST, Interval.DAY)
        results = [
            ("queues by hour", *await timed(runs, lambda: queue_report(
                database, tenant, QueueQuery(month_hours, Interval.HOUR)))),
            ("queues by day", *await timed(runs, lambda: queue_report(
                database, tenant, QueueQuery(month_days, Interval.DAY)))),
            ("agents by hour", *await timed(runs, lambda: agent_report(
                database, tenant, AgentQuery(month_hours, Interval.HOUR)))),
        ]  # fmt: skip
    finally:
        await database.close()
    print(f"machine: {machine()}")
    print(f"PostgreSQL on 127.0.0.1 (same machine); {summed:,} calls in the month (last id "
          f"{logged}), {queues} queues, {agents} agents; seeded in {seeded_s:.0f} s; "
          f"{interval_rows:,} queue interval rows")  # fmt: skip
    print(f"agents' state history: {spans:,} spans, {state_rows:,} state interval rows")
    print(f"call-end upsert ({len(ends):,} calls, one transaction each): "
          f"p50 {percentile(ends, 0.5) * 1000:.2f} ms, p99 {percentile(ends, 0.99) * 1000:.2f} ms")
    print(f"rebuild of the month: {rebuild_s:.1f} s")
    print("| report (March 2027) | best s | median s | rows |")
    print("| --- | ---: | ---: | ---: |")
    for name, best, median, report in results:
        print(f"| {name} | {best:.3f} | {median:.3f} | {len(report.rows):,} |")  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--queues", type=int, default=10)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seeded", action="store_true",
                        help="reuse the database of the last run")  # fmt: skip
    args = parser.parse_args()
    asyncio.run(measure(args.calls, args.queues, args.agents, args.seeded, args.runs))


if __name__ == "__main__":
    main()
