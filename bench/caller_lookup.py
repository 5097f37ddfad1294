"""FastAGI caller-lookup throughput and latency against 1,000,000 customers in PostgreSQL.

    ./dev bench caller_lookup [--customers N] [--seconds S] [--concurrency 1,16,64]
                              [--rounds 2] [--modes redis,none,floor]
                              [--redis-url redis://127.0.0.1:6379/14] [--pool-size 20]

`ledgerline serve` runs in its own process (as in production); this process plays Asterisk:
each session connects, sends the AGI environment exactly as Asterisk 22 does, answers every
command `200 result=1` and ends when Ledgerline closes the connection. Latency is from
connect to the last reply. Measured twice: with the Redis cache (warmed with the day's
callers, so they are answered from the in-process tier in front of Redis) and without any
cache (every session reads PostgreSQL), each against the floor
(bench/noop_fastagi.py: the same AGI commands, no lookup) measured in the same run, just
before and just after it at the same concurrency; the table of ratios says whether issue
16's goals are met (with the cache >= 90% of the floor's sessions/s and p99 <= 1.25× the
floor's; without a cache >= 75% of its sessions/s). A third server, "logic"
(bench/lookup_logic.py), runs the lookup without a cache whose database answers from
memory: between the floor and "none", it splits the lookup's cost into our own Python and
the database's round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import redis

from bench.common import free_port, machine, percentile, start_ledgerline, stop
from pbx.cli import run_loop
from pbx.db.database import Database
from pbx.db.migrate import upgrade

ADMIN_URL = os.environ.get(
    "LEDGERLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_DATABASE = "ledgerline_bench"
REDIS_URL = "redis://127.0.0.1:6379/14"
DID = "+97237630100"
VARIABLES_PER_SESSION = 10  # LL_MATCH … LL_REASON, LL_POP_TOKEN


def caller_number(index: int) -> str:
    return f"+97253{index:07d}"  # 053 mobiles: every 7-digit suffix is a valid number


# --- seeding ---------------------------------------------------------------------------------


async def ensure_seeded(customers: int) -> str:
    """The bench database with exactly `customers` customers; reused between runs."""
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        exists = await admin.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", BENCH_DATABASE
        )
        if not exists:
            await admin.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    finally:
        await admin.close()
    base = ADMIN_URL.rsplit("/", 1)[0]
    database = Database(
        f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{BENCH_DATABASE}"
    )
    await upgrade(database)
    await database.close()
    connection = await asyncpg.connect(f"{base}/{BENCH_DATABASE}")
    try:
        have = await connection.fetchval("SELECT count(*) FROM customers")
        if have != customers:
            started = time.perf_counter()
            await _seed(connection, customers)
            print(f"seeded {customers:,} customers in {time.perf_counter() - started:.0f} s")
    finally:
        await connection.close()
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{BENCH_DATABASE}"


async def _seed(connection: asyncpg.Connection, count: int) -> None:
    now = datetime.now(UTC)
    today = date.today()
    tables = "audit_log, invoices, accounts, customer_phones, customers, inbound_numbers, tenants"
    await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    await connection.execute(
        "INSERT INTO tenants (id, slug, name, default_region, currency, timezone, created_at)"
        " VALUES (1, 'bench', 'Bench Energy', 'IL', 'ILS', 'Asia/Jerusalem', $1)",
        now,
    )
    await connection.execute(
        "INSERT INTO inbound_numbers (id, tenant_id, e164, label) VALUES (1, 1, $1, 'main')", DID
    )
    ids = range(1, count + 1)
    await connection.copy_records_to_table(
        "customers",
        columns=["id", "tenant_id", "customer_ref", "name", "created_at", "updated_at"],
        records=((i, 1, f"C{i}", f"Customer {i}", now, now) for i in ids),
    )
    # One number in a hundred is shared with the next customer: a household.
    phones = [(i, 1, i, caller_number(i), "") for i in ids]
    phones += [(count + i, 1, i + 1, caller_number(i), "") for i in range(100, count, 100)]
    await connection.copy_records_to_table(
        "customer_phones", columns=["id", "tenant_id", "customer_id", "e164", "label"],
        records=phones,
    )  # fmt: skip
    await connection.copy_records_to_table(
        "accounts",
        columns=["id", "tenant_id", "customer_id", "account_ref", "currency", "balance_minor",
                 "status", "vip", "created_at", "updated_at"],
        records=((i, 1, i, f"A{i}", "ILS", (i * 7919) % 500_000,
                  "overdue" if i % 5 == 0 else "active", i % 100 == 7, now, now) for i in ids),
    )  # fmt: skip
    await connection.copy_records_to_table(
        "invoices",
        columns=["id", "tenant_id", "account_id", "invoice_ref", "currency", "amount_minor",
                 "outstanding_minor", "issued_on", "due_on", "status"],
        records=((i, 1, i, f"I{i}", "ILS", 10_000, 10_000, today - timedelta(days=60),
                  today - timedelta(days=30), "open") for i in range(5, count + 1, 5)),
    )  # fmt: skip
    for table in ("tenants", "inbound_numbers", "customers", "customer_phones", "accounts",
                  "invoices"):  # fmt: skip
        await connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {table}))"
        )
    await connection.execute("ANALYZE")


# --- the Asterisk side -----------------------------------------------------------------------


def environment(port: int, caller: str, session: int) -> bytes:
    lines = [
        "agi_network: yes",
        "agi_network_script: caller-lookup",
        f"agi_request: agi://127.0.0.1:{port}/caller-lookup",
        f"agi_channel: PJSIP/trunk-{session:08x}",
        "agi_language: en",
        "agi_type: PJSIP",
        f"agi_uniqueid: 1795352775.{session}",
        "agi_version: 22.10.1",
        f"agi_callerid: {caller}",
        "agi_calleridname: unknown",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        f"agi_dnid: {DID}",
        "agi_rdnis: unknown",
        "agi_context: from-pstn",
        f"agi_extension: {DID}",
        "agi_priority: 2",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        "agi_threadid: 139856941553344",
    ]
    return ("\n".join(lines) + "\n\n").encode()


class _AsteriskSide(asyncio.Protocol):
    """One FastAGI session as Asterisk plays it, as a bare protocol: the load generator shares
    the machine with the server, so every microsecond it spends is taken from the server."""

    def __init__(self, environment: bytes, done: asyncio.Future[int]) -> None:
        self._environment = environment
        self._done = done
        self._pending = b""
        self.commands = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        transport.write(self._environment)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            if not line.startswith(b"SET VARIABLE "):
                self._fail(f"unexpected command {line!r}")
                return
            self.commands += 1
            self._transport.write(b"200 result=1\n")  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_result(self.commands)

    def _fail(self, reason: str) -> None:
        if not self._done.done():
            self._done.set_exception(RuntimeError(reason))
        self._transport.close()


async def one_session(port: int, caller: str, session: int) -> float:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    done: asyncio.Future[int] = loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: _AsteriskSide(environment(port, caller, session), done), "127.0.0.1", port
    )
    try:
        commands = await asyncio.wait_for(done, timeout=10)
    finally:
        transport.close()
    if commands != VARIABLES_PER_SESSION:
        raise RuntimeError(f"session ended after {commands} commands")
    return time.perf_counter() - started


@dataclass
class Cell:
    mode: str
    concurrency: int
    sessions: int
    errors: int
    seconds: float
    latencies: list[float]
    server_cpu_s: float = float("nan")  # the server process's user + system CPU in the cell

    def row(self) -> str:
        ordered = sorted(self.latencies)
        cpu_ms = self.server_cpu_s / max(self.sessions, 1) * 1000
        return (
            f"| {self.mode} | {self.concurrency} | {self.sessions / self.seconds:,.0f} | "
            f"{percentile(ordered, 0.50) * 1000:.2f} | {percentile(ordered, 0.99) * 1000:.2f} | "
            f"{cpu_ms:.3f} | {self.errors} |"
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


QUIET_SHARE = 0.05  # of a core, in each of QUIET_SECONDS seconds in a row: the server is idle
QUIET_SECONDS = 3
QUIET_WAIT_S = 900.0


async def until_quiet(pid: int, name: str) -> None:
    """Wait until the server is idle: `serve` starts jobs of its own (every business's
    collections worklist is built at start, here from a million customers' accounts) whose
    CPU would otherwise be charged to the sessions of the cells they overlap."""
    started, quiet = time.perf_counter(), 0
    while quiet < QUIET_SECONDS:
        if time.perf_counter() - started > QUIET_WAIT_S:
            print(f"{name}: still busy after {QUIET_WAIT_S:.0f} s; measuring anyway")
            return
        before = cpu_seconds(pid)
        await asyncio.sleep(1.0)
        used = cpu_seconds(pid) - before
        quiet = 0 if used > QUIET_SHARE else quiet + 1  # NaN (no /proc) counts as quiet
    print(f"{name}: idle after {time.perf_counter() - started:.0f} s", flush=True)


async def measure(
    port: int, mode: str, concurrency: int, seconds: float, callers: list[str]
) -> Cell:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            try:
                latencies.append(await one_session(port, random.choice(callers), next(counter)))
            except (OSError, RuntimeError):
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Cell(mode, concurrency, len(latencies), errors, time.perf_counter() - started, latencies)


@dataclass(frozen=True)
class Mode:
    key: str  # redis | none | logic | floor
    label: str
    environ: dict[str, str]
    callers: list[str]
    server_module: str = "pbx.cli"


@dataclass
class Block:
    """One round at one concurrency: the floor, each mode, the floor again (so drift shows)."""

    round: int
    concurrency: int
    floor_before: Cell | None
    cells: dict[str, Cell]
    floor_after: Cell | None

    def floor_rate(self) -> float:
        floors = [c for c in (self.floor_before, self.floor_after) if c is not None]
        return sum(c.sessions for c in floors) / sum(c.seconds for c in floors)

    def floor_cpu_per_session(self) -> float:
        floors = [c for c in (self.floor_before, self.floor_after) if c is not None]
        return sum(c.server_cpu_s for c in floors) / sum(c.sessions for c in floors)

    def share_of_floor(self, cell: Cell) -> float:
        """`cell`'s sessions/s over the floor's."""
        return cell.sessions / cell.seconds / self.floor_rate()

    def cpu_against_floor(self, cell: Cell) -> float:
        """`cell`'s server CPU a session over the floor's."""
        return cell.server_cpu_s / cell.sessions / self.floor_cpu_per_session()

    def floor_p99(self) -> float:
        floors = [c for c in (self.floor_before, self.floor_after) if c is not None]
        return percentile(sorted(x for c in floors for x in c.latencies), 0.99)


CACHE_SHARE, CACHE_P99, NO_CACHE_SHARE = 0.90, 1.25, 0.75  # issue 16's goals, against the floor


def ratios_row(block: Block) -> str:
    floor_rate, floor_p99 = block.floor_rate(), block.floor_p99()
    drift = ""
    if block.floor_before and block.floor_after:
        before = block.floor_before.sessions / block.floor_before.seconds
        after = block.floor_after.sessions / block.floor_after.seconds
        drift = f"{before:,.0f} → {after:,.0f}"
    cells = [f"| {block.concurrency} | {block.round} | {floor_rate:,.0f} ({drift}) |"]
    redis_cell = block.cells.get("redis")
    if redis_cell is not None:
        share = block.share_of_floor(redis_cell)
        p99 = percentile(sorted(redis_cell.latencies), 0.99) / floor_p99
        met = share >= CACHE_SHARE and p99 <= CACHE_P99
        cpu = block.cpu_against_floor(redis_cell)
        cells.append(f" {share:.0%} | {p99:.2f}× | {'met' if met else 'NOT met'} | {cpu:.2f}× |")
    else:
        cells.append(" - | - | - | - |")
    none_cell = block.cells.get("none")
    if none_cell is not None:
        share = block.share_of_floor(none_cell)
        cells.append(f" {share:.0%} | {'met' if share >= NO_CACHE_SHARE else 'NOT met'} |")
    else:
        cells.append(" - | - |")
    logic_cell = block.cells.get("logic")
    if logic_cell is not None:
        share = block.share_of_floor(logic_cell)
        cpu = block.cpu_against_floor(logic_cell)
        cells.append(f" {share:.0%} | {cpu:.2f}× |")
    else:
        cells.append(" - | - |")
    none_cpu = "-" if none_cell is None else f"{block.cpu_against_floor(none_cell):.2f}×"
    cells.append(f" {none_cpu} |")
    return "".join(cells)


async def run_all(
    modes: list[Mode], concurrencies: list[int], seconds: float, rounds: int, hot: list[str]
) -> list[Block]:
    """Every server runs at once (an idle one costs nothing); the cells are interleaved so that
    each mode is measured between two floor cells at the same concurrency, round after round."""
    ports = {mode.key: free_port() for mode in modes}
    servers = {}
    try:
        for mode in modes:
            servers[mode.key] = start_ledgerline(mode.environ, ports[mode.key], mode.server_module)
        if "redis" in ports:
            # The day's callers have called once already: their lookups are cached.
            for start in range(0, len(hot), 64):
                chunk = hot[start : start + 64]
                await asyncio.gather(
                    *(one_session(ports["redis"], c, i) for i, c in enumerate(chunk))
                )
        for key, server in servers.items():
            await until_quiet(server.pid, key)
        by_key = {mode.key: mode for mode in modes}
        lookups = [mode for mode in modes if mode.key != "floor"]

        async def cell(mode: Mode, concurrency: int, round_number: int) -> Cell:
            port = ports[mode.key]
            await measure(port, mode.label, concurrency, min(2.0, seconds), mode.callers)
            cpu_before = cpu_seconds(servers[mode.key].pid)
            measured = await measure(port, mode.label, concurrency, seconds, mode.callers)
            measured.server_cpu_s = cpu_seconds(servers[mode.key].pid) - cpu_before
            print(f"| {round_number} " + measured.row(), flush=True)
            return measured

        blocks = []
        for round_number in range(1, rounds + 1):
            order = lookups if round_number % 2 else lookups[::-1]
            for concurrency in concurrencies:
                floor = by_key.get("floor")
                before = await cell(floor, concurrency, round_number) if floor else None
                cells = {m.key: await cell(m, concurrency, round_number) for m in order}
                after = await cell(floor, concurrency, round_number) if floor else None
                blocks.append(Block(round_number, concurrency, before, cells, after))
        return blocks
    finally:
        for server in servers.values():
            stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--rounds", type=int, default=2, help="each cell measured this often")
    parser.add_argument("--hot-callers", type=int, default=5_000)
    parser.add_argument(
        "--modes", default="redis,none,logic,floor",
        help="redis, none (no cache), logic (no cache, no database), floor (no lookup)",
    )
    parser.add_argument(
        "--redis-url", default=REDIS_URL, help="the Redis database the cache uses (flushed first)"
    )
    parser.add_argument(
        "--pool-size", type=int, default=20, help="each server's database pool (and direct pool)"
    )
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    url = run_loop(ensure_seeded(args.customers))
    redis.Redis.from_url(args.redis_url).flushdb()
    rng = random.Random(7)
    hot = [caller_number(rng.randrange(args.customers)) for _ in range(args.hot_callers)]
    anyone = [caller_number(rng.randrange(args.customers)) for _ in range(200_000)]
    postgres = subprocess.run(
        ["psql", ADMIN_URL, "-Atc", "SHOW server_version"], capture_output=True, text=True
    ).stdout.strip()
    print(f"\nmachine: {machine()}; PostgreSQL {postgres}; {args.customers:,} customers")
    print(
        f"each cell: {args.seconds:.0f} s after a 2 s warm-up; Ledgerline: one process; "
        f"{args.rounds} round(s), at each concurrency the floor before and after the others\n"
    )
    print(
        "| round | cache | clients | sessions/s | p50 ms | p99 ms | server CPU ms/session "
        "| errors |"
    )
    print("|---|---|---|---|---|---|---|---|")
    common = {"LEDGERLINE_DATABASE_URL": url, "LEDGERLINE_DATABASE_POOL_SIZE": str(args.pool_size)}
    available = {
        "redis": Mode(
            "redis", f"Redis + in-process ({args.hot_callers:,} callers, warmed)",
            common | {"LEDGERLINE_REDIS_URL": args.redis_url}, hot,
        ),
        "none": Mode(
            "none", "none (random of all customers)",
            common | {"LEDGERLINE_IDENTIFICATION_CACHE_TTL_SECONDS": "0"}, anyone,
        ),
        "logic": Mode(
            "logic", "none, its database answering from memory", common, anyone,
            "bench.lookup_logic",
        ),
        "floor": Mode(
            "floor", "floor: same AGI commands, no lookup", {}, hot, "bench.noop_fastagi"
        ),
    }  # fmt: skip
    modes = [available[key] for key in args.modes.split(",")]
    blocks = run_loop(run_all(modes, concurrencies, args.seconds, args.rounds, hot))
    if not any(mode.key == "floor" for mode in modes):
        return
    print(
        f"\nagainst the floor (mean of the floor cells before and after, same round):"
        f" goal with the cache >= {CACHE_SHARE:.0%} of its sessions/s and p99 <= "
        f"{CACHE_P99}× its p99; without a cache >= {NO_CACHE_SHARE:.0%}\n"
    )
    print(
        "| clients | round | floor sessions/s (before → after) | Redis % of floor "
        "| Redis p99 × floor | cache goal | Redis CPU/session × floor | none % of floor "
        "| no-cache goal | logic % of floor | logic CPU/session × floor "
        "| none CPU/session × floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for block in sorted(blocks, key=lambda b: (b.concurrency, b.round)):
        print(ratios_row(block))


if __name__ == "__main__":
    main()
