"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's second choice).

The cost is `STANDARD` everywhere Ledgerline runs; no setting lowers it. `PasswordCost` exists
so that a test suite's own throwaway users can be made and checked at a trivial cost (a
stored hash carries its own parameters, and a sign-in against `STANDARD` workers rehashes a
cheaper hash to `STANDARD`, so a cheap hash that reached a real database would be upgraded at
its user's next sign-in).

A hash or a check costs tens to hundreds of milliseconds of CPU on purpose, so it never runs
on the event loop: `PasswordWorkers` runs it in a few worker processes at the lowest CPU
priority, each in a scheduling group of its own, so that a flood of sign-ins cannot take the
CPU from the call path, and refuses sign-ins beyond a bounded queue instead of letting the
backlog grow.

Why processes: argon2-cffi releases the GIL, so threads would keep the loop running, but a
thread's priority counts only inside its process's scheduling group (Linux autogroups and
cgroups): low-priority threads still spent the process's share of a busy machine, and caller
lookups' p99 grew 1.5-2x under sign-in load; a worker process in its own session (its own
autogroup, niced) is scheduled apart from the process that serves calls.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger(__name__)

MIN_LENGTH = 10
LOWEST_PRIORITY = 19  # nice value of the worker processes
# Their own autogroup's nice (Linux): low enough that the server's group wins the CPU at once
# (a caller lookup's p99 was as without sign-ins), not so low that sign-ins crawl on a machine
# busy with other work (at 19, one check took 6 s there; at 5, under a second).
GROUP_NICE = 5
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PasswordCost:
    """argon2id's parameters: passes, memory in KiB, lanes."""

    time_cost: int
    memory_kib: int
    parallelism: int


STANDARD = PasswordCost(time_cost=3, memory_kib=65536, parallelism=4)  # RFC 9106, 2nd choice


@lru_cache(maxsize=4)
def _hasher(cost: PasswordCost) -> PasswordHasher:
    return PasswordHasher(time_cost=cost.time_cost, memory_cost=cost.memory_kib,
                          parallelism=cost.parallelism)  # fmt: skip


class PasswordsBusy(Exception):
    """More password checks are waiting than the workers' queue holds: try again shortly."""


def hash_password(password: str, cost: PasswordCost = STANDARD) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _hasher(cost).hash(password)


@cache
def _dummy(cost: PasswordCost) -> str:
    """Checked against when the user does not exist: as long as a real check, so the answer's
    time does not tell which usernames exist. Made once per worker (at its start), not at
    import: the process AGI script imports this module for every call."""
    return _hasher(cost).hash("not-a-real-password")


def password_matches(stored: str | None, password: str, cost: PasswordCost = STANDARD) -> bool:
    """Checked with the parameters `stored` carries; `cost` is the dummy's when no user."""
    try:
        return _hasher(cost).verify(stored or _dummy(cost), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, cost: PasswordCost = STANDARD) -> bool:
    return _hasher(cost).check_needs_rehash(stored)


class PasswordWorkers:
    """Hashes and checks passwords in `workers` processes, for at most `workers + queue`
    sign-ins at once (`admitted`).

    A sign-in beyond that raises `PasswordsBusy` before it does anything (the answer is 503):
    sign-ins wait a bounded time or are refused, never pile up, and a refused one costs no
    database or Redis work, which the call path shares. Hashing a new password (an admin
    setting one) always waits its turn: only signed-in admins can ask for it. The processes
    are spawned (they import only this module) by `start`, which the HTTP server calls as it
    starts: spawned by the first sign-in, they stalled the loop serving calls for hundreds of
    milliseconds. A process that serves no HTTP (the process AGI script) spawns none.
    """

    def __init__(self, workers: int, queue: int, cost: PasswordCost = STANDARD) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("at least one worker and a queue of zero or more")
        self.workers, self.queue, self.cost = workers, queue, cost
        self._admitted = 0
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Spawn the worker processes now (idempotent)."""
        if self._executor is not None:
            return
        self._executor = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_set_apart, initargs=(self.cost, os.getpid()),
        )  # fmt: skip
        for _ in range(self.workers):  # each submission with no idle worker spawns one
            self._executor.submit(_conditions)

    @property
    def waiting(self) -> int:
        """Sign-ins admitted and not finished."""
        return self._admitted

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """A sign-in's place, taken before any of its work; `PasswordsBusy` when none is free."""
        if self._admitted >= self.workers + self.queue:
            raise PasswordsBusy("too many sign-ins at once")
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def matches(self, stored: str | None, password: str) -> bool:
        return await self._run(password_matches, stored, password, self.cost)

    def needs_rehash(self, stored: str) -> bool:
        """Whether `stored` was made at another cost than these workers' (a quick parse)."""
        return needs_rehash(stored, self.cost)

    async def hash(self, password: str) -> str:
        if len(password) < MIN_LENGTH:  # no worker needed to say so
            raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
        return await self._run(hash_password, password, self.cost)

    async def worker_conditions(self) -> WorkerConditions:
        """Where the password work runs, as seen from a worker (for operators and tests)."""
        return await self._run(_conditions)

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        self.start()
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _end_with(server_pid: int) -> None:
    """Linux: the kernel sends this worker SIGTERM when the server that spawned it ends,
    however it ends (`PR_SET_PDEATHSIG`). A worker waits for work on a queue it holds both
    ends of, so it never sees the server go: a server killed with SIGKILL left its workers
    behind for ever, in sessions of their own that a signal to the server's process group
    does not reach. A server gone before this was set is seen by the parent's pid."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) refused")
    except (AttributeError, OSError) as exc:
        log.warning("password workers may outlive their server: %s", exc)
        return
    if os.getppid() != server_pid:  # the server ended before the signal was asked for
        os._exit(0)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True, slots=True)
class WorkerConditions:
    pid: int
    session: int
    nice: int


def _conditions() -> WorkerConditions:
    return WorkerConditions(os.getpid(), os.getsid(0), os.getpriority(os.PRIO_PROCESS, 0))


def _set_apart(cost: PasswordCost, server_pid: int) -> None:
    """A worker process's start: a session of its own (so, on Linux, a scheduling autogroup
    of its own, niced too) and the lowest priority within it (what counts where autogroups
    are off), so the process serving calls gets the CPU first; on Linux, ended with the
    server (`_end_with`). What the platform does not allow is logged and skipped."""
    _end_with(server_pid)
    try:
        os.setsid()
        os.nice(LOWEST_PRIORITY - os.nice(0))
    except (AttributeError, OSError) as exc:
        log.warning("password workers keep the server's CPU priority: %s", exc)
    if sys.platform.startswith("linux"):
        try:  # the upper half of the cores only: the serving process always has one free
            cores = sorted(os.sched_getaffinity(0))
            if len(cores) > 1:
                os.sched_setaffinity(0, cores[len(cores) // 2 :])
        except OSError as exc:
            log.warning("password workers may use every core: %s", exc)
        try:
            with open("/proc/self/autogroup", "w") as group:
                group.write(str(GROUP_NICE))
        except OSError:  # autogroups off, or none: the nice value above is what counts
            pass
    _dummy(cost)
