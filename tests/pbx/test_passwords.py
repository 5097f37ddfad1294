"""Password hashing and checks run in worker processes set apart at the lowest priority,
for a bounded number of sign-ins at once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from pbx.auth.passwords import (
    LOWEST_PRIORITY,
    STANDARD,
    PasswordCost,
    PasswordsBusy,
    PasswordWorkers,
    hash_password,
    password_matches,
)
from pbx.bootstrap import build_services
from pbx.settings import load_settings
from tests.waiting import until


@pytest.fixture
async def workers() -> AsyncIterator[PasswordWorkers]:
    pool = PasswordWorkers(workers=1, queue=1)
    yield pool
    pool.close()


async def test_the_event_loop_runs_on_while_a_password_is_checked_and_hashed(
    workers: PasswordWorkers,
) -> None:
    stored = hash_password("correct horse battery")
    for work in (workers.matches(stored, "correct horse battery"), workers.hash("a new one!!")):
        task = asyncio.ensure_future(work)
        await asyncio.sleep(0)  # a check done on the loop would have finished in this step
        assert not task.done()
        await task
    assert await workers.matches(stored, "correct horse battery")
    assert not await workers.matches(stored, "wrong password")
    assert not await workers.matches(None, "no user, same cost")


async def test_the_work_runs_in_another_process_in_its_own_session_at_the_lowest_priority(
    workers: PasswordWorkers,
) -> None:
    where = await workers.worker_conditions()
    assert where.pid != os.getpid() and where.session != os.getsid(0)
    assert where.nice == LOWEST_PRIORITY


async def test_a_sign_in_beyond_the_workers_and_queue_is_refused_before_any_work(
    workers: PasswordWorkers,
) -> None:
    with workers.admitted(), workers.admitted():  # one checking, one queued
        with pytest.raises(PasswordsBusy), workers.admitted():
            raise AssertionError("a third sign-in was let in")
        assert workers.waiting == 2
    with workers.admitted():  # room again
        assert workers.waiting == 1


async def test_a_too_short_new_password_is_refused(workers: PasswordWorkers) -> None:
    with pytest.raises(ValueError, match="at least"):
        await workers.hash("short")


def test_a_hash_made_at_another_cost_is_checked_at_its_own_and_due_for_a_rehash() -> None:
    """What lets the test suite's users be cheap without a way for a deployment to be: the
    served workers hash at `STANDARD` (no setting changes it), a stored hash is checked with
    the parameters it carries, and one made at another cost is rehashed at the next sign-in."""
    quick = PasswordCost(time_cost=1, memory_kib=64, parallelism=1)
    cheap = hash_password("correct horse battery", quick)
    assert password_matches(cheap, "correct horse battery")
    assert not password_matches(cheap, "wrong password")
    standard = PasswordWorkers(workers=1, queue=0)
    assert standard.cost == STANDARD and standard.needs_rehash(cheap)
    assert not PasswordWorkers(workers=1, queue=0, cost=quick).needs_rehash(cheap)
    assert not standard.needs_rehash(hash_password("correct horse battery"))
    settings = load_settings(None, {})
    assert build_services(settings).sessions.passwords.cost == STANDARD


_KILLED_SERVER = """
import asyncio, os, signal
from pbx.auth.passwords import PasswordCost, PasswordWorkers

async def main():
    pool = PasswordWorkers(workers=1, queue=0, cost=PasswordCost(1, 64, 1))
    print((await pool.worker_conditions()).pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no shutdown, no exit handlers

asyncio.run(main())
"""


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_the_workers_end_when_their_server_is_killed() -> None:
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _KILLED_SERVER, stdout=asyncio.subprocess.PIPE
    )
    assert server.stdout is not None
    worker = int(await asyncio.wait_for(server.stdout.readline(), 120))
    try:
        await until(lambda: not _running(server.pid), "the server to end", within=60)
        # The kernel's signal ends the worker once it is scheduled.
        await until(lambda: not _running(worker), f"password worker {worker} to end with its "
                    "server", within=60)  # fmt: skip
    finally:
        if _running(worker):
            os.kill(worker, signal.SIGKILL)
    # Reaped only now (the worker held the server's pipe), its output read to the end so
    # that the pipe is closed in this loop's life, not by the collector's after it.
    await asyncio.wait_for(server.communicate(), 60)
    assert server.returncode == -signal.SIGKILL
