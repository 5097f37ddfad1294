"""Recurring collection: one run over N active mandates (one due invoice each) on PostgreSQL
with the sandbox provider; wall time, invoices per second and peak memory at several N.

    .venv/bin/python -m bench.collection [--mandates 1000000] [--sizes 100000,300000]

A fresh database is seeded in SQL (generate_series): one business per size, each with N
customers, accounts, open invoices due five days ago and active SEPA mandates. Each size is
then collected by a process of its own, so its peak memory (VmHWM) is its own. The sandbox
takes the mandates as another process's (active), as a real provider's would be, and
remembers only its last `REMEMBER` collections: what grows with N is then the run's own.
Memory is flat when the growth (peak RSS less RSS before the run) is the same at every N.
A second run on the same day follows: it must charge nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, date, datetime

import asyncpg

from bench.common import ADMIN_URL, ROOT, fresh_database, machine
from billing_bridge.collection.job import BATCH, CONCURRENCY, run_collection
from billing_bridge.payments.sandbox import SandboxProvider
from pbx.db.database import Database

BENCH_DATABASE = "ledgerline_bench_collection"
BASE = ADMIN_URL.rsplit("/", 1)[0]
RAW_URL = f"{BASE}/{BENCH_DATABASE}"
URL = RAW_URL.replace("postgresql://", "postgresql+asyncpg://")
TODAY = date(2027, 3, 1)
REMEMBER = 20_000  # collections the sandbox keeps (more than a batch's worth in flight)
# Ids of size N's rows start here, so each business's rows are a contiguous range.
STRIDE = 10_000_000


async def seed(sizes: list[int]) -> None:
    await fresh_database(BENCH_DATABASE)
    raw = await asyncpg.connect(RAW_URL)
    now = datetime.now(UTC)
    try:
        for number, size in enumerate(sizes, start=1):
            slug, base = f"bench{size}", number * STRIDE
            tenant = await raw.fetchval(
                "INSERT INTO tenants (slug, name, default_region, currency, timezone, created_at,"
                " money_needs_verification, credit_limits)"
                " VALUES ($1, $1, 'DE', 'EUR', 'UTC', $2, false, '{}') RETURNING id",
                slug,
                now,
            )
            series = f"FROM generate_series(1, {size}) AS i"
            await raw.execute(
                "INSERT INTO customers (id, tenant_id, customer_ref, name, created_at, updated_at)"
                f" SELECT {base} + i, $1, 'C' || i, 'Payer ' || i, $2, $2 {series}",
                tenant,
                now,
            )
            await raw.execute(
                "INSERT INTO accounts (id, tenant_id, customer_id, account_ref, currency,"
                " balance_minor, status, vip, created_at, updated_at)"
                f" SELECT {base} + i, $1, {base} + i, 'A' || i, 'EUR', 1000 + i % 9000,"
                f" 'active', false, $2, $2 {series}",
                tenant,
                now,
            )
            await raw.execute(
                "INSERT INTO invoices (id, tenant_id, account_id, invoice_ref, currency,"
                " amount_minor, outstanding_minor, issued_on, due_on, status)"
                f" SELECT {base} + i, $1, {base} + i, 'I' || i, 'EUR', 1000 + i % 9000,"
                f" 1000 + i % 9000, $2::date - 30, $2::date - 5, 'open' {series}",
                tenant,
                TODAY,
            )
            # The sandbox names a mandate after its idempotency key (see sandbox._ref).
            await raw.execute(
                "INSERT INTO mandates (id, tenant_id, customer_id, account_id, provider,"
                " provider_ref, scheme, status, created_at, updated_at)"
                f" SELECT {base} + i, $1, {base} + i, {base} + i, 'sandbox',"
                " 'sbx_md_' || left(encode(sha256(convert_to("
                f"'sbx_md:bench:{slug}:' || i, 'UTF8')), 'hex'), 24),"
                f" 'sepa_core', 'active', $2, $2 {series}",
                tenant,
                now,
            )
        for table in ("customers", "accounts", "invoices", "mandates"):
            await raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
        await raw.execute("VACUUM ANALYZE")
    finally:
        await raw.close()


def memory_kib() -> dict[str, int]:
    status = {}
    with open("/proc/self/status") as lines:
        for line in lines:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                status[key] = int(value.split()[0])
    return status


async def run_one(size: int, batch: int, concurrency: int) -> dict[str, float]:
    """In its own process: time the runs."""
    slug = f"bench{size}"
    provider = SandboxProvider(webhook_secret="bench", remember=REMEMBER)
    before = memory_kib()
    database = Database(URL)
    try:
        started = time.perf_counter()
        report = await run_collection(
            database, provider, today=TODAY, batch=batch, concurrency=concurrency, tenant=slug
        )
        seconds = time.perf_counter() - started
        peak = memory_kib()
        started = time.perf_counter()
        again = await run_collection(
            database, provider, today=TODAY, batch=batch, concurrency=concurrency, tenant=slug
        )
        rerun_seconds = time.perf_counter() - started
    finally:
        await database.close()
    tally, second = report.tenants[slug], again.tenants[slug]
    return {
        "size": size, "seconds": seconds, "per_second": size / seconds,
        "collected": tally.collected.count, "rerun_seconds": rerun_seconds,
        "rerun_collected": second.collected.count, "rerun_in_flight": second.in_flight,
        "rss_before_mib": before["VmRSS"] / 1024,
        "rss_after_mib": peak["VmRSS"] / 1024, "peak_mib": peak["VmHWM"] / 1024,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mandates", type=int, default=1_000_000, help="the largest size")
    parser.add_argument("--sizes", default="100000,300000", help="smaller sizes, comma-separated")
    parser.add_argument("--batch", type=int, default=BATCH["postgresql"])
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--run-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-seed", action="store_true", help="reuse the seeded database")
    args = parser.parse_args()
    if args.run_one:
        result = asyncio.run(run_one(args.run_one, args.batch, args.concurrency))
        print(json.dumps(result))
        return
    sizes = sorted({int(s) for s in args.sizes.split(",") if s} | {args.mandates})
    print(f"machine: {machine()}")
    print(f"PostgreSQL on 127.0.0.1 (same machine), batch {args.batch}, "
          f"{args.concurrency} provider calls in flight, sandbox provider in process")  # fmt: skip
    if not args.no_seed:
        started = time.perf_counter()
        asyncio.run(seed(sizes))
        seconds = time.perf_counter() - started
        print(f"seeded {sum(sizes):,} mandates and invoices in {seconds:.0f} s")
    print("| mandates | run s | invoices/s | re-run s | RSS before MiB | peak RSS MiB | "
          "growth (peak - before) MiB | KiB per invoice |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in sizes:
        out = subprocess.run(
            [sys.executable, "-m", "bench.collection", "--run-one", str(size),
             "--batch", str(args.batch), "--concurrency", str(args.concurrency)],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        r = json.loads(out.strip().splitlines()[-1])
        assert r["collected"] == size and r["rerun_collected"] == 0, r
        growth = r["peak_mib"] - r["rss_before_mib"]
        print(
            f"| {size:,} | {r['seconds']:.1f} | {r['per_second']:,.0f} | "
            f"{r['rerun_seconds']:.1f} | {r['rss_before_mib']:.0f} | {r['peak_mib']:.0f} | "
            f"{growth:.0f} | {growth * 1024 / size:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
