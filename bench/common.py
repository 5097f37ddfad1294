"""What every benchmark needs: the machine's description, percentiles, a server to measure."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import asyncpg

from pbx.db.database import Database
from pbx.db.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
# The server's maintenance database, for creating the benchmarks' own.
ADMIN_URL = os.environ.get(
    "LEDGERLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def start_ledgerline(
    environ: Mapping[str, str], agi_port: int, module: str = "pbx.cli"
) -> subprocess.Popen:
    """`ledgerline serve` in its own process, as in production, so it has a core to itself
    (or another server module taking `--port`, for comparison)."""
    env = {**os.environ, **environ}
    env["LEDGERLINE_AGI_PORT"] = str(agi_port)
    env["LEDGERLINE_SERVICE_HTTP_PORT"] = environ.get("LEDGERLINE_SERVICE_HTTP_PORT") or str(
        free_port()
    )
    env["LEDGERLINE_SERVICE_LOG_LEVEL"] = "WARNING"
    command = ["serve"] if module == "pbx.cli" else ["--port", str(agi_port)]
    process = subprocess.Popen([sys.executable, "-m", module, *command], cwd=ROOT, env=env)
    wait_for_port(agi_port, process)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


async def fresh_database(name: str) -> str:
    """PostgreSQL database `name`, dropped if it was there, created and migrated to the
    schema's head; its URL as Ledgerline takes it (postgresql+asyncpg://)."""
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+asyncpg://")
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.close()
    return url
