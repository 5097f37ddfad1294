"""Screen-pop latency: from the simulator's StasisStart to `call.offered` at the agent's
WebSocket, with 1,000 agents connected across two Ledgerline processes; then how many idle
desk connections one process holds and what each costs in memory.

    ./dev bench screen_pop [--agents 1000] [--rates 20,100] [--seconds 20] [--idle 10000]
                           [--ari-delay-ms 0]

Two `ledgerline serve` processes share PostgreSQL and Redis; the first to start owns the
simulator's ARI connection and runs the call flow, both serve desks (events fan out through
a Redis Stream). This process plays Asterisk (the simulator, with every agent's phone
answering after 0.3 s) and the agents' browsers (one WebSocket each, half on each process).
Latency is measured in this process: the simulator's clock when it emits StasisStart, and
the same clock when the pop arrives. Callers talk 2 s and hang up. With SCREEN_POP_TRACE=FILE
every pop is also appended to FILE as "rate start latency_ms port", to see when slow ones come.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import random
import secrets
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import redis

from bench.common import ROOT, free_port, fresh_database, machine, percentile, stop, wait_for_port
from billing_bridge.identification import variables
from billing_bridge.identification.model import CallerIdentity, Match
from pbx.cli import run_loop
from pbx.simulator.ari import AsteriskSimulator, Timing

BENCH_DATABASE = "ledgerline_bench_pop"
REDIS_URL = "redis://127.0.0.1:6379/13"
DID = "+97237630100"
DID_AS_DIALLED = "037630100"
CUSTOMERS = 5_000


def caller(index: int) -> str:
    return f"+97253{index:07d}"


async def seed(agents: int) -> tuple[str, list[tuple[int, str]], list[int]]:
    """A fresh database: one business, one queue, `agents` agents with a session each, and
    customers with accounts and overdue invoices. Returns the URL and (user id, token)s."""
    url = await fresh_database(BENCH_DATABASE)
    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    now = datetime.now(UTC)
    try:
        tenant = await raw.fetchval(
            "INSERT INTO tenants (slug, name, default_region, currency, timezone, created_at)"
            " VALUES ('bench', 'Bench', 'IL', 'ILS', 'Asia/Jerusalem', $1) RETURNING id",
            now,
        )
        await raw.execute(
            "INSERT INTO inbound_numbers (tenant_id, e164, label) VALUES ($1, $2, '')", tenant, DID
        )
        queue = await raw.fetchval(
            "INSERT INTO queues (tenant_id, name, strategy, ring_timeout_seconds, retry_seconds,"
            " wrapup_seconds, overflow_target, required_skills, autopause, music_class, updated_at)"
            " VALUES ($1, 'support', 'leastrecent', 15, 0, 0, '', '{}', false, 'ledgerline', $2)"
            " RETURNING id",
            tenant,
            now,
        )
        number = await raw.fetchval("SELECT id FROM inbound_numbers WHERE e164 = $1", DID)
        await raw.execute(
            "INSERT INTO inbound_routes (tenant_id, inbound_number_id, queue_id, closed_kind,"
            " closed_target, verification, verification_attempts, menu, recording_policy,"
            " updated_at) VALUES ($1, $2, $3, 'hangup', '', 'none', 3, '{}', 'none', $4)",
            tenant,
            number,
            queue,
            now,
        )
        users = await raw.fetch(
            "INSERT INTO users (tenant_id, username, display_name, role, endpoint, skills,"
            " credit_limit_minor, active, created_at)"
            " SELECT $1, 'agent' || i, 'Agent ' || i, 'agent', 'PJSIP/a' || i, '{}', 0, true, $2"
            " FROM generate_series(1, $3) AS i RETURNING id",
            tenant,
            now,
            agents,
        )
        ids = [row["id"] for row in users]
        await raw.executemany(
            "INSERT INTO queue_members (tenant_id, queue_id, user_id, penalty, position)"
            " VALUES ($1, $2, $3, 0, 0)",
            [(tenant, queue, i) for i in ids],
        )
        tokens = [(i, secrets.token_urlsafe(32)) for i in ids]
        await raw.executemany(
            "INSERT INTO user_sessions (token_sha256, user_id, tenant_id, created_at,"
            " last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)",
            [
                (hashlib.sha256(t.encode()).hexdigest(), i, tenant, now, now + timedelta(days=1))
                for i, t in tokens
            ],
        )
        customers = await raw.fetch(
            "INSERT INTO customers (tenant_id, customer_ref, name, created_at, updated_at)"
            " SELECT $1, 'C' || i, 'Customer ' || i, $2, $2 FROM generate_series(1, $3) AS i"
            " RETURNING id",
            tenant,
            now,
            CUSTOMERS,
        )
        customer_ids = [row["id"] for row in customers]
        await raw.executemany(
            "INSERT INTO customer_phones (tenant_id, customer_id, e164, label)"
            " VALUES ($1, $2, $3, '')",
            [(tenant, c, caller(n)) for n, c in enumerate(customer_ids)],
        )
        accounts = await raw.fetch(
            "INSERT INTO accounts (tenant_id, customer_id, account_ref, currency, balance_minor,"
            " status, vip, created_at, updated_at) SELECT $1, c, 'A' || c, 'ILS', 12345,"
            " 'overdue', false, $2, $2 FROM unnest($3::bigint[]) AS c RETURNING id",
            tenant,
            now,
            customer_ids,
        )
        await raw.executemany(
            "INSERT INTO invoices (tenant_id, account_id, invoice_ref, currency, amount_minor,"
            " outstanding_minor, issued_on, due_on, status)"
            " VALUES ($1, $2, $3, 'ILS', 12345, 12345, $4, $5, 'open')",
            [
                (
                    tenant,
                    a["id"],
                    f"I{a['id']}",
                    date.today() - timedelta(days=60),
                    date.today() - timedelta(days=30),
                )
                for a in accounts
            ],
        )
        # A call center's history: four past calls per customer over the last 90 days, so
        # each pop lists recent calls and the planner sees the call log as it will be.
        await raw.execute(
            "INSERT INTO calls (tenant_id, channel_id, caller_raw, match, customer_id, queue_id,"
            " agent_id, arrived_at, answered_at, ended_at, outcome, disposition, notes,"
            " direction, priority)"
            " SELECT $1, 'past-' || c || '-' || n, '', 'unique', c, $2, agent, at, at,"
            " at + interval '3 minutes', 'answered', 'promise_to_pay', 'Will pay on Friday',"
            " 'inbound', 0 FROM ("
            "  SELECT c, n, ($3::bigint[])[1 + (c + n) % cardinality($3::bigint[])] AS agent,"
            "   $4::timestamptz - (c % 90 + n * 7) * interval '1 day' AS at"
            "  FROM unnest($5::bigint[]) AS c, generate_series(1, 4) AS n) AS past",
            tenant, queue, ids, now, customer_ids,
        )  # fmt: skip
        await raw.execute("ANALYZE")  # as after an import; without statistics the planner
        # reads every customer of the business for each screen-pop (autovacuum may be off)
    finally:
        await raw.close()
    return url, tokens, customer_ids


def serve(url: str, sim_url: str, name: str) -> tuple[subprocess.Popen, int]:
    http_port, agi_port = free_port(), free_port()
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": url, "LEDGERLINE_REDIS_URL": REDIS_URL,
        "LEDGERLINE_ARI_URL": sim_url, "LEDGERLINE_ARI_PASSWORD": "bench",
        "LEDGERLINE_ARI_NODE": "bench", "LEDGERLINE_ARI_DIAL_OUT": "PJSIP/{number}@trunk",
        "LEDGERLINE_SERVICE_HTTP_PORT": str(http_port), "LEDGERLINE_AGI_PORT": str(agi_port),
        "LEDGERLINE_SERVICE_LOG_LEVEL": "WARNING", "LEDGERLINE_EVENTS_HEARTBEAT_SECONDS": "30",
    }  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "pbx.cli", "serve"], cwd=ROOT, env=env)
    wait_for_port(http_port, process)
    return process, http_port


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Desks:
    """The agents' browsers: one socket each; records when each pop arrives."""

    def __init__(self) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.arrivals: dict[str, float] = {}
        self.served_by: dict[str, int] = {}  # call id -> the port of the process that popped it
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self, port: int, token: str, listen: bool) -> None:
        socket = await self.http.ws_connect(
            f"http://127.0.0.1:{port}/api/v1/ws", headers={"Authorization": f"Bearer {token}"},
            heartbeat=None, autoping=True,
        )  # fmt: skip
        self.sockets.append(socket)
        if listen:
            self.tasks.append(asyncio.create_task(self._listen(socket, port)))

    async def _listen(self, socket: aiohttp.ClientWebSocketResponse, port: int) -> None:
        async for message in socket:
            if message.type is aiohttp.WSMsgType.TEXT and '"call.offered"' in message.data:
                event = json.loads(message.data)
                call_id = event["data"]["call_id"]
                self.arrivals.setdefault(call_id, time.time())
                self.served_by.setdefault(call_id, port)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)
        await self.http.close()


def write_trace(path: Path, rate: int, pops: list[tuple[float, float, int]]) -> None:
    """Each pop as "rate start latency_ms port", for a look at when (and through which
    process) the slow ones come."""
    with path.open("a") as out:
        out.writelines(f"{rate} {start:.3f} {(end - start) * 1000:.1f} {port}\n"
                       for start, end, port in pops)  # fmt: skip


async def load(sim: AsteriskSimulator, desks: Desks, starts: dict[str, float], rate: int,
               seconds: float, customers: list[int]) -> tuple[list[float], int]:  # fmt: skip
    placed: list[str] = []
    talking: set[asyncio.Task[None]] = set()

    async def talk(call) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(2.0)
        await call.hangup()

    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        who = random.randrange(CUSTOMERS)
        # caller-lookup's answer, as it sets it on the caller's channel
        found = CallerIdentity(Match.UNIQUE, customers[who], 5, "overdue", f"Customer {who}")
        lookup = dict(variables.encode(found))
        call = await sim.incoming_call(DID_AS_DIALLED, caller(who), variables=lookup)
        placed.append(call.channel_id)
        task = asyncio.create_task(talk(call))
        talking.add(task)
        task.add_done_callback(talking.discard)
    await asyncio.sleep(3.0)
    if trace := os.environ.get("SCREEN_POP_TRACE"):
        popped = [c for c in placed if c in desks.arrivals and c in starts]
        pops = [(starts[c], desks.arrivals[c], desks.served_by[c]) for c in popped]
        write_trace(Path(trace), rate, pops)
    latencies = sorted((desks.arrivals[c] - starts[c]) * 1000 for c in placed
                       if c in desks.arrivals and c in starts)  # fmt: skip
    return latencies, len(placed) - len(latencies)


async def main(args: argparse.Namespace) -> None:
    url, tokens, customers = await seed(args.agents)
    redis.Redis.from_url(REDIS_URL).flushdb()
    # ari.conf as shipped: the caller-lookup's routing variables come with StasisStart
    timing = Timing(media_wait=0.01, rest_delay=args.ari_delay_ms / 1000)
    sim = AsteriskSimulator("ledgerline", "bench", timing=timing, channelvars=variables.ROUTING)
    await sim.start()
    for n in range(1, args.agents + 1):
        sim.agent(f"PJSIP/a{n}", answer_after=0.3)
    starts: dict[str, float] = {}
    emit = sim.model.sink

    def stamp(event) -> None:  # type: ignore[no-untyped-def]
        if event.type == "StasisStart" and not event.fields.get("args"):
            starts[event.fields["channel"]["id"]] = time.time()
        emit(event)

    sim.model.sink = stamp
    owner, owner_port = serve(url, sim.url, "one")
    await asyncio.sleep(2.0)  # the first process takes the lease
    # Started from a thread: the simulator answers the owner's first requests meanwhile (a
    # start of several seconds on a busy machine timed them out, and the owner unsynced).
    standby, standby_port = await asyncio.to_thread(serve, url, sim.url, "two")
    desks = Desks()
    try:
        for index, (_, token) in enumerate(tokens):
            await desks.open(owner_port if index % 2 else standby_port, token, listen=True)
        async with aiohttp.ClientSession() as http:
            for user_id, token in tokens:
                async with http.put(
                    f"http://127.0.0.1:{owner_port}/api/v1/agents/{user_id}/state",
                    json={"state": "available"}, headers={"Authorization": f"Bearer {token}"},
                ) as response:  # fmt: skip
                    assert response.status == 200, await response.text()
        # What the set-up built (the simulator's agents, 1,000 sockets) out of the collector's
        # full passes, as `serve` does for its own: otherwise this process stalls 100-170 ms
        # a pass, and the pops it is waiting for count the stall.
        gc.collect()
        gc.freeze()
        await load(sim, desks, starts, 10, 3.0, customers)  # warm-up: pools, caches
        print(f"machine: {machine()}")
        print(f"conditions: {args.agents} agents on desks, half on each of 2 Ledgerline "
              f"processes (PostgreSQL {BENCH_DATABASE}, Redis), simulator and desks in this "
              "process (its collector paused while it measures), "
              f"{args.seconds:g} s per rate after a 30-call warm-up, calls talk "
              "2 s, not recorded (bench/recordings measures that), "
              f"{args.ari_delay_ms:g} ms added to each ARI request")  # fmt: skip
        pids = {"owner": owner.pid, "standby": standby.pid, "benchmark": os.getpid()}
        # This process's work a call is the same in every run (the simulator's exchanges, the
        # desks' sockets): its CPU a call says how fast the machine ran, and the owner's
        # divided by it compares runs on a VM whose speed drifts by a third from run to run.
        print("| new calls/s | calls | pops | p50 ms | p99 ms | max ms | missing | "
              + " | ".join(f"{name} CPU ms/call" for name in pids)
              + " | owner CPU ÷ benchmark CPU |")  # fmt: skip
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * (len(pids) + 1))
        cpu_rows = []
        for rate in args.rates:
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            began = time.perf_counter()
            # This process plays Asterisk and the browsers, neither of which stops for a
            # Python collector: its own passes (50-190 ms seen) stay out of the measure.
            gc.disable()
            try:
                latencies, missing = await load(sim, desks, starts, rate, args.seconds, customers)
            finally:
                gc.enable()
            wall = time.perf_counter() - began
            spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
            gc.collect()
            calls = len(latencies) + missing
            cpu_rows.append((rate, {name: cpu / wall for name, cpu in spent.items()}))
            worst = max(latencies, default=float("nan"))
            # Each process's CPU over the rate's whole run (calls placed, answered, ended)
            # divided by the calls placed: what one call costs it, whatever the rate.
            per_call = " | ".join(f"{cpu * 1000 / calls:.2f}" for cpu in spent.values())
            relative = spent["owner"] / spent["benchmark"] if spent["benchmark"] else float("nan")
            print(f"| {rate} | {calls} | {len(latencies)} | "
                  f"{percentile(latencies, 0.5):.1f} | {percentile(latencies, 0.99):.1f} | "
                  f"{worst:.1f} | {missing} | {per_call} | {relative:.2f} |",
                  flush=True)  # fmt: skip
        print("\nCPU used during each rate, in cores (2 on this machine):")
        for rate, used in cpu_rows:
            print(f"  {rate} calls/s: " + ", ".join(f"{n} {c:.2f}" for n, c in used.items()))
        await desks.close()
        if args.idle:
            idle = Desks()
            before = rss_mib(standby.pid)
            for n in range(args.idle):
                await idle.open(standby_port, tokens[n % len(tokens)][1], listen=False)
            await asyncio.sleep(2.0)
            after = rss_mib(standby.pid)
            print(f"\nidle desk sockets on one process: {args.idle}; its memory "
                  f"{before:.0f} MiB -> {after:.0f} MiB; "
                  f"{(after - before) * 1024 / args.idle:.1f} KiB per connection")  # fmt: skip
            await idle.close()
    finally:
        stop(owner)
        stop(standby)
        await sim.stop()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rates", type=lambda s: [int(r) for r in s.split(",")],
                        default=[20, 100])  # fmt: skip
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument(
        "--ari-delay-ms",
        type=float,
        default=0.0,
        help="added to each ARI request, as for an Asterisk on another host",
    )
    return parser.parse_args()


if __name__ == "__main__":
    run_loop(main(parse()))  # uvloop, as `serve` uses: the simulator is not what is measured
