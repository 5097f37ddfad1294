"""A billing system's sync through the batch API, and Ledgerline's events back to it.

    ./dev bench billing_sync [--customers N] [--invoices N] [--clients C] [--batch-lines L]
                             [--lookups-per-second R] [--events N] [--rate R]
                             [--down-seconds S] [--skip-webhooks] [--lookups-served-by own|same]
                             [--batch-nice N]

Part A: a fresh PostgreSQL database with one business and an API key (billing:write);
`ledgerline serve` in its own process (PostgreSQL, Redis; the lookups below go to a second
one on the same database unless `--lookups-served-by same`; the process the batches go to
then runs at CPU priority `--batch-nice` during part A, 10 by default, as a deployment would
run it). C HTTP clients push NDJSON batches of L lines to `POST /api/v1/billing/batch`
from a process of their own (the billing system): first every customer (one phone each)
with its account, then the invoices spread over the accounts; meanwhile this process plays
Asterisk at a steady rate of FastAGI caller lookups of customers already ingested (connect
to last reply, as `bench.caller_lookup`). Records/s per phase, the total, lookup p50/p99
and errors, and where the CPU went (the server process, PostgreSQL's processes, this one
and the billing system's; in seconds and in µs a record). With BILLING_SYNC_TRACE=FILE each
lookup is also written to FILE as "start_s latency_ms" (seconds from the first), to see when
the slow ones come.

Part B: a local receiver in its own process, subscribed to every event type. This process
emits events as the services do (`billing_bridge.events.emit`, a few per transaction) at a
steady rate against the same database, noting each event's commit time; the server's
delivery worker (polling: the emits are another process's commits) posts them. First the
latency from commit to receipt with the receiver up; then the receiver is stopped for
`--down-seconds` while events keep coming, started again, and the bench waits until every
event has arrived: delivered against expected, duplicates, lost, order violations per
account (an event received before an earlier one of its account) and the time to drain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import queue
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis
from aiohttp import web
from sqlalchemy import func, select

from bench.caller_lookup import DID, caller_number, cpu_seconds, one_session
from bench.common import (
    ADMIN_URL,
    free_port,
    fresh_database,
    machine,
    percentile,
    start_ledgerline,
    stop,
    wait_for_port,
)
from billing_bridge.events import emit
from billing_bridge.webhooks_out import subscriptions
from pbx.admin.api_keys import NewKey, create_key
from pbx.audit import By
from pbx.cli import run_loop
from pbx.db.database import Database
from pbx.db.models import Account, WebhookDelivery

DATABASE = "ledgerline_bench_billing"
TENANT = 1
ACTOR = By("bench:billing_sync")


# --- seeding ---------------------------------------------------------------------------------


async def seed() -> tuple[str, str]:
    """A fresh database with the business and its inbound number; its URL and an API key."""
    url = await fresh_database(DATABASE)
    connection = await asyncpg.connect(f"{ADMIN_URL.rsplit('/', 1)[0]}/{DATABASE}")
    try:
        await connection.execute(
            "INSERT INTO tenants (id, slug, name, default_region, currency, timezone, created_at)"
            " VALUES ($1, 'bench', 'Bench Energy', 'IL', 'ILS', 'Asia/Jerusalem', $2)",
            TENANT, datetime.now(UTC),
        )  # fmt: skip
        await connection.execute(
            "INSERT INTO inbound_numbers (tenant_id, e164, label) VALUES ($1, $2, 'main')",
            TENANT, DID,
        )  # fmt: skip
    finally:
        await connection.close()
    database = Database(url)
    try:
        async with database.tenant_session(TENANT) as session, session.begin():
            _, secret = await create_key(
                session, tenant_id=TENANT, actor=ACTOR, now=datetime.now(UTC),
                key=NewKey("billing-sync", frozenset({"billing:write", "billing:read"})),
            )  # fmt: skip
    finally:
        await database.close()
    return url, secret


# --- the lines a billing system sends --------------------------------------------------------


def customer_batch(first: int, last: int) -> bytes:
    """Customers `first`..`last - 1`, each with one phone and its account."""
    lines = []
    for i in range(first, last):
        lines.append(f'{{"type":"customer","ref":"C{i}","name":"Customer {i}",'
                     f'"phones":["{caller_number(i)}"],"version":1}}')  # fmt: skip
        status = "overdue" if i % 5 == 0 else "active"
        lines.append(f'{{"type":"account","ref":"A{i}","customer":"C{i}",'
                     f'"status":"{status}","version":1}}')  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def invoice_batch(first: int, last: int, customers: int) -> bytes:
    """Invoices `first`..`last - 1`, spread over the accounts round-robin."""
    lines = [
        f'{{"type":"invoice","ref":"I{n}","account":"A{n % customers}","amount":{1000 + n % 90000},'
        f'"issued":"2026-10-01","due":"2026-10-31","line_summary":"Broadband, October",'
        f'"version":1}}'
        for n in range(first, last)
    ]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


# --- part A: ingest under caller lookups -----------------------------------------------------


@dataclass
class Phase:
    name: str
    records: int = 0
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # failed requests, by status
    server_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    bench_cpu_s: float = 0.0

    def row(self) -> str:
        failed = self.counts.get("failed", 0)
        errors = ", ".join(f"{k} x{v}" for k, v in sorted(self.errors.items())) or "0"
        return (
            f"| {self.name} | {self.records:,} | {self.seconds:.1f} | "
            f"{self.records / self.seconds:,.0f} | {failed} | {errors} | "
            f"{self.server_cpu_s:.1f} | {self.postgres_cpu_s:.1f} | {self.bench_cpu_s:.1f} | "
            f"{per_record(self.server_cpu_s, self.records)} | "
            f"{per_record(self.postgres_cpu_s, self.records)} |"
        )


def per_record(cpu_s: float, records: int) -> str:
    """CPU µs a record: steadier than the seconds while others use the machine."""
    return f"{cpu_s / records * 1e6:.0f}" if records else "-"


def lower_priority(pid: int, nice: int) -> None:
    """Run process `pid` (each of its threads) at CPU priority `nice`, as a deployment runs
    the processes the billing system's batches reach (systemd `Nice=`, `nice -n`): while
    both are busy, the cores go to the processes that answer calls first."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


def restore_priority(pid: int) -> None:
    try:
        lower_priority(pid, 0)
    except PermissionError:  # raising a priority needs CAP_SYS_NICE
        print("(the batches' process stays at its lower priority for part B)")


def postgres_cpu_seconds() -> float:
    """User + system CPU of every PostgreSQL process on this machine (Linux /proc)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text.split(" ", 2)[1] or text.split(" ", 2)[1] == "(postgres)":
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def push(url: str, key: str, batches: Iterator[tuple[int, bytes]], clients: int,
               answered: Callable[[tuple[Any, ...]], None]) -> None:  # fmt: skip
    """`clients` clients, each posting the next batch as soon as its last is answered; each
    answer told to `answered`: ("done", tag, counts, results) or ("failed", status)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    timeout = aiohttp.ClientTimeout(total=600)

    async def client(http: aiohttp.ClientSession) -> None:
        for tag, body in batches:
            async with http.post(url, data=body, headers=headers, timeout=timeout) as response:
                if response.status != 200:
                    await response.read()
                    answered(("failed", str(response.status)))
                    continue
                answer = await response.json()
            answered(("done", tag, answer["counts"], len(answer["results"])))

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))


def billing_system(args: argparse.Namespace, url: str, key: str, out: Any, go: Any) -> None:
    """In its own process, the billing system: ("ready",) once started, then on `go` each
    phase's batches pushed (`push`), its answers sent on `out` as they come, then ("phase",
    CPU seconds of this process in it) after each phase and None at the end.

    Not in the process that plays Asterisk: reading a batch's answer (5,000 results) holds
    an event loop some 10 ms, and a caller lookup measured on that loop waited for it."""
    per_batch_customers = max(1, args.batch_lines // 2)
    sources = [
        ((first, customer_batch(first, min(first + per_batch_customers, args.customers)))
         for first in range(0, args.customers, per_batch_customers)),
        ((first, invoice_batch(first, min(first + args.batch_lines, args.invoices),
                               args.customers))
         for first in range(0, args.invoices, args.batch_lines)),
    ]  # fmt: skip
    out.put(("ready",))
    go.wait()
    for batches in sources:
        started = time.process_time()
        run_loop(push(url, key, batches, args.clients, out.put))
        out.put(("phase", time.process_time() - started))
    out.put(None)


def told_by(pusher: Any, answers: Any) -> tuple[Any, ...] | None:
    """The billing system's next message (`billing_system`); raises if it died without."""
    while True:
        try:
            return answers.get(timeout=5)  # type: ignore[no-any-return]
        except queue.Empty:
            if not pusher.is_alive():
                raise RuntimeError("the billing system's process ended early") from None


@dataclass
class Lookups:
    latencies: list[float] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)  # each session's start, monotonic s
    errors: int = 0

    def cells(self) -> str:
        ordered = sorted(self.latencies)
        return (
            f"{len(ordered):,} | {percentile(ordered, 0.5) * 1000:.1f} | "
            f"{percentile(ordered, 0.99) * 1000:.1f} | {ordered[-1] * 1000 if ordered else 0:.0f}"
            f" | {self.errors}"
        )


async def lookups_until(port: int, rate: float, finished: asyncio.Event,
                        caller: Callable[[], str | None], lookups: Lookups) -> None:  # fmt: skip
    """One session every 1/rate s (open loop) until `finished`, of a caller `caller` names."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def one(number: str, index: int) -> None:
        try:
            began = time.perf_counter()
            lookups.latencies.append(await one_session(port, number, index))
            lookups.starts.append(began)
        except (OSError, RuntimeError, TimeoutError):
            lookups.errors += 1

    start, index = loop.time(), 0
    while not finished.is_set():
        index += 1
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        number = caller()
        if number is not None:
            task = asyncio.create_task(one(number, index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


async def ingest(args: argparse.Namespace, http_port: int, agi_port: int, key: str,
                 server_pid: int) -> tuple[list[Phase], Lookups, float]:  # fmt: skip
    url = f"http://127.0.0.1:{http_port}/api/v1/billing/batch"
    per_batch_customers = max(1, args.batch_lines // 2)
    ingested: list[range] = []  # customers whose batch has been answered
    rng = random.Random(7)

    def caller() -> str | None:
        if not ingested:
            return None
        chosen = rng.choice(ingested)
        return caller_number(rng.randrange(chosen.start, chosen.stop))

    customer_ranges = {
        first: range(first, min(first + per_batch_customers, args.customers))
        for first in range(0, args.customers, per_batch_customers)
    }
    phases = [
        Phase("customers + accounts (1 phone each)"),
        Phase(f"invoices ({args.invoices / args.customers:g} per account)"),
    ]
    finished, lookups = asyncio.Event(), Lookups()
    generator = asyncio.create_task(
        lookups_until(agi_port, args.lookups_per_second, finished, caller, lookups)
    )
    context = multiprocessing.get_context("spawn")
    answers, go = context.Queue(), context.Event()
    pusher = context.Process(target=billing_system, args=(args, url, key, answers, go))
    loop = asyncio.get_running_loop()
    pusher.start()
    try:
        await loop.run_in_executor(None, told_by, pusher, answers)  # ("ready",): started
        started = time.perf_counter()
        go.set()
        for number, phase in enumerate(phases):
            marks = (cpu_seconds(server_pid), postgres_cpu_seconds(), time.process_time())
            phase_started = time.perf_counter()
            while (told := await loop.run_in_executor(None, told_by, pusher, answers)) is not None:
                if told[0] == "phase":
                    phase.bench_cpu_s = told[1]  # the billing system's, with this one's below
                    break
                if told[0] == "failed":
                    phase.errors[told[1]] += 1
                    continue
                _, tag, counts, results = told
                phase.counts.update(counts)
                phase.records += results
                if number == 0:
                    ingested.append(customer_ranges[tag])
            phase.seconds = time.perf_counter() - phase_started
            phase.server_cpu_s = cpu_seconds(server_pid) - marks[0]
            phase.postgres_cpu_s = postgres_cpu_seconds() - marks[1]
            phase.bench_cpu_s += time.process_time() - marks[2]
            print(phase.row(), flush=True)
        total = time.perf_counter() - started
    finally:
        pusher.join(60)
        if pusher.is_alive():
            pusher.terminate()
    finished.set()
    await generator
    return phases, lookups, total


# --- part B: events to a receiver ------------------------------------------------------------


def receive(port: int, ready: Any, finish: Any, out: Any) -> None:
    """In its own process: answer 200 to every delivery and note each one's event id, arrival
    (wall clock, comparable with the emitter's), account and sequence; sent on every 0.2 s,
    then None once it has stopped."""
    received: list[tuple[str, float, str, int]] = []

    async def take(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        received.append((body["id"], time.time(), body["data"]["object"]["account"],
                         body["sequence"]))  # fmt: skip
        return web.Response(status=200)

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hooks", take)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
        ready.set()
        while not finish.is_set():
            await asyncio.sleep(0.2)
            if received:
                out.put(received[:])
                received.clear()
        await runner.cleanup()
        out.put(received[:])

    run_loop(serve())
    out.put(None)


class Receiver:
    """The receiver process; `stop()` takes it off its port, `start()` puts it back (a new
    process on the same port). `received` is everything it got, as of the last `poll()`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[str, float, str, int]] = []
        self.ids: set[str] = set()
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None

    def start(self) -> None:
        ready = self._context.Event()
        self._finish, self._out = self._context.Event(), self._context.Queue()
        self._process = self._context.Process(
            target=receive, args=(self.port, ready, self._finish, self._out)
        )
        self._process.start()
        if not ready.wait(120):
            raise RuntimeError("the receiver did not start")

    def poll(self) -> None:
        while self._process is not None and not self._out.empty():
            self._take(self._out.get())

    def stop(self) -> None:
        if self._process is None:
            return
        self._finish.set()
        while (chunk := self._out.get(timeout=300)) is not None:
            self._take(chunk)
        self._process.join(30)
        self._process = None

    def has_all(self, event_ids: dict[str, float]) -> bool:
        self.poll()
        return all(event_id in self.ids for event_id in event_ids)

    def _take(self, chunk: list[tuple[str, float, str, int]] | None) -> None:
        if chunk:
            self.received.extend(chunk)
            self.ids.update(row[0] for row in chunk)


@dataclass
class Emitted:
    committed_at: dict[str, float] = field(default_factory=dict)  # event id: wall clock
    late_ticks: int = 0


async def emit_steadily(database: Database, accounts: list[tuple[int, str]], count: int,
                        rate: float, per_commit: int, emitted: Emitted) -> None:  # fmt: skip
    """`count` events at `rate` a second, `per_commit` to a transaction, each about an
    account chosen at random; each event's time is taken once its transaction committed."""
    loop = asyncio.get_running_loop()
    rng = random.Random(11)
    start, sent = loop.time(), 0
    while sent < count:
        delay = start + sent / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.1:
            emitted.late_ticks += 1
        ids = []
        async with database.tenant_session(TENANT) as session, session.begin():
            for _ in range(min(per_commit, count - sent)):
                account_id, ref = rng.choice(accounts)
                ids.append(emit(session, TENANT, "credit.granted", {"account": ref, "n": sent},
                                account_id=account_id))  # fmt: skip
                sent += 1
        now = time.time()
        for event_id in ids:
            emitted.committed_at[event_id] = now


def outage_summary(emitted: Emitted, received: list[tuple[str, float, str, int]]) -> dict:
    first: dict[str, tuple[float, str, int]] = {}
    duplicates = 0
    for event_id, at, account, sequence in sorted(received, key=lambda r: r[1]):
        if event_id in first:
            duplicates += 1
        else:
            first[event_id] = (at, account, sequence)
    violations, last_seen = 0, defaultdict(lambda: -1)
    for _at, account, sequence in sorted(first.values()):
        if sequence < last_seen[account]:
            violations += 1
        last_seen[account] = max(last_seen[account], sequence)
    delivered = sum(1 for event_id in emitted.committed_at if event_id in first)
    return {"delivered": delivered, "duplicates": duplicates, "violations": violations,
            "lost": len(emitted.committed_at) - delivered, "first": first}  # fmt: skip


async def webhooks(args: argparse.Namespace, url: str) -> None:
    database = Database(url, pool_size=4)
    port = free_port()
    receiver = Receiver(port)
    receiver.start()
    try:
        async with database.tenant_session(TENANT) as session, session.begin():
            await subscriptions.create_subscription(
                session, tenant_id=TENANT, actor=ACTOR, allow_private=True,
                new=subscriptions.NewSubscription(f"http://127.0.0.1:{port}/hooks", ("*",)),
                now=datetime.now(UTC),
            )  # fmt: skip
            rows = await session.execute(
                select(Account.id, Account.account_ref).order_by(Account.id).limit(args.accounts)
            )
            accounts = [(row.id, row.account_ref) for row in rows]
        if not accounts:
            raise SystemExit("part B needs the accounts part A ingested")

        steady = Emitted()
        await emit_steadily(database, accounts, args.events, args.rate, args.per_commit, steady)
        await wait_until_received(receiver, steady, timeout_s=60)
        part = outage_summary(steady, receiver.received)
        delays = sorted(part["first"][i][0] - at for i, at in steady.committed_at.items()
                        if i in part["first"])  # fmt: skip
        print("\n| events | rate /s | per commit | p50 ms | p99 ms | max ms | delivered "
              "| lost | duplicates | order violations |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|---|")
        print(f"| {args.events:,} | {args.rate:g} | {args.per_commit} | "
              f"{percentile(delays, 0.5) * 1000:.0f} | {percentile(delays, 0.99) * 1000:.0f} | "
              f"{delays[-1] * 1000:.0f} | {part['delivered']:,} | {part['lost']} | "
              f"{part['duplicates']} | {part['violations']} |", flush=True)  # fmt: skip
        if steady.late_ticks:
            print(f"(the emitter fell more than 100 ms behind its rate {steady.late_ticks} times)")

        # The outage: the receiver away while events keep coming, then back.
        outage = Emitted()
        down_events = int(args.rate * args.down_seconds)
        receiver.stop()
        down_started = time.time()
        await emit_steadily(database, accounts, down_events, args.rate, args.per_commit, outage)
        receiver.start()
        back_at = time.time()
        after = Emitted()
        await emit_steadily(database, accounts, int(args.rate * 10), args.rate, args.per_commit,
                            after)  # fmt: skip
        both = Emitted({**outage.committed_at, **after.committed_at})
        await wait_until_received(receiver, both, timeout_s=args.drain_timeout)
        part = outage_summary(both, receiver.received)
        async with database.tenant_session(TENANT) as session:
            pending = await session.scalar(
                select(func.count()).where(WebhookDelivery.status == "pending")
            )
        arrivals = [part["first"][i][0] for i in both.committed_at if i in part["first"]]
        drained = (
            f"{max(arrivals) - back_at:.0f}"
            if not part["lost"]
            else f"not in {args.drain_timeout:g}"
        )
        print(f"\nreceiver down {back_at - down_started:.0f} s "
              f"while {down_events:,} events were emitted, then {len(after.committed_at):,} "
              "more in the 10 s after it came back\n")  # fmt: skip
        print(
            "| expected | delivered | still pending | lost | duplicates "
            "| order violations per account | drained s after back |"
        )
        print("|---|---|---|---|---|---|---|")
        lost = max(0, part["lost"] - (pending or 0))  # neither received nor waiting to be sent
        print(
            f"| {len(both.committed_at):,} | {part['delivered']:,} | {pending} | {lost} | "
            f"{part['duplicates']} | {part['violations']} | {drained} |",
            flush=True,
        )
    finally:
        receiver.stop()
        await database.close()


async def wait_until_received(receiver: Receiver, emitted: Emitted, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if receiver.has_all(emitted.committed_at):
            return
        await asyncio.sleep(0.5)


# --- main ------------------------------------------------------------------------------------


def batch_priority(args: argparse.Namespace) -> str:
    if args.lookups_served_by != "own":
        return ""
    return f"; the batches' process at nice {args.batch_nice}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--batch-lines", type=int, default=5_000)
    parser.add_argument("--lookups-per-second", type=float, default=50.0)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=500.0, help="events a second")
    parser.add_argument("--per-commit", type=int, default=5, help="events a transaction")
    parser.add_argument("--accounts", type=int, default=1_000, help="accounts the events name")
    parser.add_argument("--down-seconds", type=float, default=120.0)
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument(
        "--batch-nice", type=int, default=10,
        help="CPU priority (nice) of the process the batches go to, when the lookups have "
             "their own (0: the same priority as the lookups' process)",
    )  # fmt: skip
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--skip-webhooks", action="store_true")
    parser.add_argument(
        "--lookups-served-by", choices=("own", "same"), default="own",
        help="own: Asterisk's FastAGI points at a Ledgerline process the billing system's "
             "batches do not reach (as a deployment separates them); same: one process "
             "serves both, the batches' work sharing its event loop with the lookups",
    )  # fmt: skip
    args = parser.parse_args()
    url, key = run_loop(seed())
    redis.Redis.from_url(args.redis).flushdb()
    agi_port, http_port = free_port(), free_port()
    environ = {
        "LEDGERLINE_DATABASE_URL": url, "LEDGERLINE_REDIS_URL": args.redis,
        "LEDGERLINE_SERVICE_HTTP_PORT": str(http_port),
        "LEDGERLINE_WEBHOOKS_ALLOW_PRIVATE_HTTP": "true",
    }  # fmt: skip
    print(f"\nmachine: {machine()}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load}; {args.customers:,} customers, {args.invoices:,} "
          f"invoices; {args.clients} clients, {args.batch_lines:,} lines a batch; "
          f"{args.lookups_per_second:g} caller lookups/s meanwhile, served by "
          f"{'their own' if args.lookups_served_by == 'own' else 'the same'} Ledgerline "
          f"process{batch_priority(args)}\n")  # fmt: skip
    print("| phase | records | s | records/s | refused lines | failed requests "
          "| server CPU s | PostgreSQL CPU s | bench CPU s | server CPU µs/record "
          "| PostgreSQL CPU µs/record |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    server = start_ledgerline(environ, free_port() if args.lookups_served_by == "own" else agi_port)
    if args.lookups_served_by == "own" and args.batch_nice:
        lower_priority(server.pid, args.batch_nice)
    lookup_server = None
    if args.lookups_served_by == "own":  # same database and Redis, another port each
        lookup_server = start_ledgerline(
            environ | {"LEDGERLINE_SERVICE_HTTP_PORT": str(free_port())}, agi_port
        )
    try:
        wait_for_port(http_port, server)
        if lookup_server is not None:
            wait_for_port(agi_port, lookup_server)
        phases, lookups, total = run_loop(ingest(args, http_port, agi_port, key, server.pid))
        records = sum(phase.records for phase in phases)
        server_cpu = sum(phase.server_cpu_s for phase in phases)
        postgres_cpu = sum(phase.postgres_cpu_s for phase in phases)
        print(f"| total | {records:,} | {total:.1f} | {records / total:,.0f} | "
              f"{sum(phase.counts.get('failed', 0) for phase in phases)} | "
              f"{sum(sum(phase.errors.values()) for phase in phases)} | {server_cpu:.1f} | "
              f"{postgres_cpu:.1f} | {sum(phase.bench_cpu_s for phase in phases):.1f} | "
              f"{per_record(server_cpu, records)} | {per_record(postgres_cpu, records)} |")
        print("\n| total records | s | records/s | lookups | p50 ms | p99 ms | max ms "
              "| lookup errors |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        print(f"| {records:,} | {total:.1f} | {records / total:,.0f} | {lookups.cells()} |")
        if trace := os.environ.get("BILLING_SYNC_TRACE"):  # each lookup: "start_s latency_ms"
            first = min(lookups.starts, default=0.0)
            Path(trace).write_text("".join(
                f"{start - first:.3f} {latency * 1000:.2f}\n"
                for start, latency in zip(lookups.starts, lookups.latencies, strict=True)
            ))  # fmt: skip
        print(f"load average after part A: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
              flush=True)  # fmt: skip
        if not args.skip_webhooks:
            if args.lookups_served_by == "own" and args.batch_nice:
                restore_priority(server.pid)  # part B measures its delivery worker as before
            run_loop(webhooks(args, url))
    finally:
        stop(server)
        if lookup_server is not None:
            stop(lookup_server)


if __name__ == "__main__":
    main()
