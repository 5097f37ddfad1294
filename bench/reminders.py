"""Reminders: planning the day for one business of N accounts, a tenth of them overdue, on
PostgreSQL; wall time of the plan, of a second plan the same day (which must add nothing),
and the process's peak memory.

    .venv/bin/python -m bench.reminders [--accounts 1000000] [--overdue-share 10] [--seeded]

A fresh database is seeded in SQL (generate_series): one business in Vilnius with N
customers, accounts and one open invoice each; the overdue ones fell due 1 to 30 days ago
(spread evenly), the others are due in the future. The schedule is day 1 email, day 5 SMS,
day 10 worklist. The plan is `billing_bridge.reminders.planner.plan`, as `serve` runs it: one
INSERT ... SELECT per step, no account read into Python, so memory does not grow with N.
Sending is not measured here (it is the provider's and the gateway's time per message).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from datetime import UTC, date, datetime

import asyncpg

from bench.common import ADMIN_URL, fresh_database, machine
from billing_bridge.reminders import planner
from pbx.db.database import Database

BENCH_DATABASE = "ledgerline_bench_reminders"
RAW_URL = f"{ADMIN_URL.rsplit('/', 1)[0]}/{BENCH_DATABASE}"
URL = RAW_URL.replace("postgresql://", "postgresql+asyncpg://")
TODAY = date(2027, 3, 24)
NOW = datetime(2027, 3, 24, 9, 0, tzinfo=UTC)
STEPS = '[{"day": 1, "channel": "email"}, {"day": 5, "channel": "sms"}, ' \
        '{"day": 10, "channel": "worklist"}]'  # fmt: skip


async def seed(accounts: int, overdue_share: int) -> int:
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
        series = f"FROM generate_series(1, {accounts}) AS i"
        await raw.execute(
            "INSERT INTO customers (id, tenant_id, customer_ref, name, email, created_at,"
            f" updated_at) SELECT i, $1, 'C' || i, 'Payer ' || i, 'p' || i || '@example.com',"
            f" $2, $2 {series}", tenant, now,
        )  # fmt: skip
        await raw.execute(
            "INSERT INTO accounts (id, tenant_id, customer_id, account_ref, currency,"
            " balance_minor, status, vip, created_at, updated_at)"
            f" SELECT i, $1, i, 'A' || i, 'EUR', 1000 + i % 9000, 'active', false, $2, $2"
            f" {series}", tenant, now,
        )  # fmt: skip
        # Every `100 / overdue_share`-th account is overdue, 1 to 30 days; the rest not yet due.
        every = max(1, 100 // overdue_share)
        await raw.execute(
            "INSERT INTO invoices (id, tenant_id, account_id, invoice_ref, currency,"
            " amount_minor, outstanding_minor, issued_on, due_on, status)"
            f" SELECT i, $1, i, 'I' || i, 'EUR', 1000 + i % 9000, 1000 + i % 9000,"
            f" $2::date - 60, CASE WHEN i % {every} = 0 THEN $2::date - 1 - (i / {every}) % 30"
            f" ELSE $2::date + 10 END, 'open' {series}", tenant, TODAY,
        )  # fmt: skip
        await raw.execute(
            "INSERT INTO reminder_settings (tenant_id, steps, templates, quiet_from,"
            " quiet_until, holidays, updated_at)"
            " VALUES ($1, $2::json, '{}'::json, '21:00', '08:00', '[]'::json, $3)",
            tenant, STEPS, now,
        )  # fmt: skip
        await raw.execute("VACUUM ANALYZE")
        return int(await raw.fetchval(
            "SELECT count(*) FROM invoices WHERE due_on < $1", TODAY))  # fmt: skip
    finally:
        await raw.close()


async def reuse() -> int:
    """The database seeded by an earlier run, its reminders removed."""
    raw = await asyncpg.connect(RAW_URL)
    try:
        await raw.execute("DELETE FROM reminders")
        await raw.execute("VACUUM ANALYZE reminders")
        return int(await raw.fetchval("SELECT count(*) FROM invoices WHERE due_on < $1", TODAY))
    finally:
        await raw.close()


async def measure(accounts: int, overdue_share: int, seeded_before: bool) -> None:
    started = time.perf_counter()
    overdue = await (reuse() if seeded_before else seed(accounts, overdue_share))
    seeded = time.perf_counter() - started
    database = Database(URL)
    try:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        first = await planner.plan(database, NOW)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        again = await planner.plan(database, NOW)
        again_s = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        await database.close()
    print(f"machine: {machine()}")
    print(f"PostgreSQL on 127.0.0.1 (same machine); seeded in {seeded:.0f} s")
    print("| accounts | overdue | planned | plan s | again s (planned) | peak RSS MiB "
          "(before) |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {accounts:,} | {overdue:,} | {first.planned:,} | {first_s:.1f} | "
          f"{again_s:.1f} ({again.planned}) | {peak:.0f} ({rss_before:.0f}) |")


def arguments(description: str) -> argparse.Namespace:
    """The business's size (this bench's and bench/collections')."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--overdue-share", type=int, default=10, help="percent overdue")
    parser.add_argument("--seeded", action="store_true",
                        help="reuse the database of the last run (its reminders removed)")
    return parser.parse_args()


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    asyncio.run(measure(args.accounts, args.overdue_share, args.seeded))


if __name__ == "__main__":
    main()
