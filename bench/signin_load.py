"""Does sign-in load slow the call path? FastAGI caller lookups, alone and while sign-ins fail.

    ./dev bench signin_load [--customers N] [--seconds S] [--lookups-per-second R]
                            [--signins-per-second 50,200]

`ledgerline serve` runs in its own process (PostgreSQL, the Redis cache warmed with the
callers, as in production). This process plays Asterisk at a steady rate of caller-lookup
sessions (connect to last reply, as `bench.caller_lookup`); a second process sends wrong
passwords for usernames that do not exist (each costs a full argon2 check, like a real
user's) at a steady rate, whatever the answers, so a slow server gets more of them at once.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import redis
from argon2 import PasswordHasher

from bench.caller_lookup import _seed, caller_number, one_session
from bench.common import (
    ADMIN_URL,
    free_port,
    fresh_database,
    machine,
    percentile,
    start_ledgerline,
    stop,
)
from pbx.cli import run_loop
from pbx.settings import load_settings

DATABASE = "ledgerline_bench_signin"
MAX_OUTSTANDING_SIGNINS = 2000  # the flood's own bound, far above what the server admits


@dataclass
class Lookups:
    latencies: list[float]
    errors: int
    late: int  # sessions the generator itself started more than 5 ms after their time

    def row(self, condition: str, signins: Counter[str] | None, rate: float) -> str:
        ordered = sorted(self.latencies)
        answered = ", ".join(f"{k} x{v:,}" for k, v in sorted((signins or {}).items())) or "-"
        return (
            f"| {condition} | {len(ordered):,} | {percentile(ordered, 0.5) * 1000:.2f} | "
            f"{percentile(ordered, 0.99) * 1000:.2f} | {ordered[-1] * 1000:.1f} | "
            f"{self.errors} | {rate:g} | {answered} |"
        )


async def steady_lookups(port: int, rate: float, seconds: float, callers: list[str]) -> Lookups:
    """One session started every 1/rate s (open loop: a slow answer does not slow the rate)."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = late = 0
    tasks: list[asyncio.Task[None]] = []

    async def one(index: int) -> None:
        nonlocal errors
        try:
            latencies.append(await one_session(port, random.choice(callers), index))
        except (OSError, RuntimeError, TimeoutError):
            errors += 1

    start = loop.time()
    for index in range(int(rate * seconds)):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late += 1
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    return Lookups(latencies, errors, late)


def failing_signins(
    url: str, rate: float, seconds: float, answers: multiprocessing.Queue, sending: Any
) -> None:
    """In its own process: wrong passwords at `rate` a second; puts the answers' counts.
    `sending` is set once it has started (its imports cost a busy machine a second or more)."""
    counts: Counter[str] = Counter()

    async def flood() -> None:
        outstanding = asyncio.Semaphore(MAX_OUTSTANDING_SIGNINS)
        connector = aiohttp.TCPConnector(limit=MAX_OUTSTANDING_SIGNINS)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def one(index: int) -> None:
                body = {"tenant": "bench", "username": f"nobody{index}", "password": "wrong-pass"}
                try:
                    async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(30)) as r:
                        await r.read()
                        counts[str(r.status)] += 1
                except (aiohttp.ClientError, TimeoutError):
                    counts["error"] += 1
                finally:
                    outstanding.release()

            loop = asyncio.get_running_loop()
            tasks = []
            sending.set()
            start = loop.time()
            for index in range(int(rate * seconds)):
                delay = start + index / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if outstanding.locked():
                    counts["not sent (2,000 outstanding)"] += 1
                    continue
                await outstanding.acquire()
                tasks.append(asyncio.create_task(one(index)))
            await asyncio.gather(*tasks)

    run_loop(flood())
    answers.put(dict(counts))


async def warm_cache(port: int, callers: list[str]) -> None:
    """The day's callers have called once already: their lookups are cached."""
    for chunk in range(0, len(callers), 64):
        part = callers[chunk : chunk + 64]
        await asyncio.gather(*(one_session(port, c, i) for i, c in enumerate(part)))


async def seed(customers: int) -> str:
    url = await fresh_database(DATABASE)
    connection = await asyncpg.connect(f"{ADMIN_URL.rsplit('/', 1)[0]}/{DATABASE}")
    try:
        await _seed(connection, customers)
    finally:
        await connection.close()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--lookups-per-second", type=float, default=100.0)
    parser.add_argument("--signins-per-second", default="50,200")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    url = run_loop(seed(args.customers))
    redis.Redis.from_url(args.redis).flushdb()
    rng = random.Random(7)
    callers = [caller_number(rng.randrange(1, args.customers)) for _ in range(2_000)]
    agi_port, http_port = free_port(), free_port()
    environ = {
        "LEDGERLINE_DATABASE_URL": url, "LEDGERLINE_REDIS_URL": args.redis,
        "LEDGERLINE_SERVICE_HTTP_PORT": str(http_port),
    }  # fmt: skip
    auth = load_settings(environ={}).auth
    argon = PasswordHasher()
    print(f"\nmachine: {machine()}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load}; {args.customers:,} customers; "
          f"Redis cache warmed with {len(callers):,} callers")  # fmt: skip
    print(f"argon2id t={argon.time_cost} m={argon.memory_cost} KiB p={argon.parallelism}; "
          f"password workers {auth.password_workers}, queue {auth.password_queue}; "
          f"{args.lookups_per_second:g} lookups/s for {args.seconds:g} s per row\n")  # fmt: skip
    print("| condition | lookups | p50 ms | p99 ms | max ms | lookup errors | "
          "failing sign-ins/s sent | sign-in answers |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    server = start_ledgerline(environ, agi_port)
    try:
        run_loop(warm_cache(agi_port, callers))
        run_loop(steady_lookups(agi_port, args.lookups_per_second, 3, callers))  # warm-up
        alone = run_loop(steady_lookups(agi_port, args.lookups_per_second, args.seconds, callers))
        print(alone.row("lookups alone", None, 0), flush=True)
        p99_alone = percentile(sorted(alone.latencies), 0.99)
        ratios = []
        for rate in (float(r) for r in args.signins_per_second.split(",")):
            spawn = multiprocessing.get_context("spawn")
            answers: multiprocessing.Queue = spawn.Queue()
            sending = spawn.Event()
            flood = spawn.Process(
                target=failing_signins,
                args=(f"http://127.0.0.1:{http_port}/api/v1/auth/login", rate,
                      args.seconds + 2, answers, sending),
            )  # fmt: skip
            flood.start()
            sending.wait(120)
            time.sleep(1)  # the flood is under way before the lookups are measured
            loaded = run_loop(
                steady_lookups(agi_port, args.lookups_per_second, args.seconds, callers)
            )
            counts = Counter(answers.get(timeout=120))
            flood.join()
            print(loaded.row(f"while {rate:g} sign-ins/s fail", counts, rate), flush=True)
            ratios.append((rate, percentile(sorted(loaded.latencies), 0.99) / p99_alone))
        for rate, ratio in ratios:
            print(f"\np99 with {rate:g} failing sign-ins/s / p99 alone: {ratio:.2f}")
        if alone.late:
            print(f"(the generator started {alone.late} lookups more than 5 ms late)")
    finally:
        stop(server)


if __name__ == "__main__":
    main()
