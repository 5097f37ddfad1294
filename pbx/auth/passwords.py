"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's second choice).

A hash or a check costs tens to hundreds of milliseconds of CPU on purpose, so it never runs
on the event loop: `PasswordWorkers` runs it on a few threads (argon2-cffi's C code releases
the GIL while it works) at the lowest CPU priority, so that a flood of sign-ins cannot take
the CPU from the call path, and refuses checks beyond a bounded queue instead of letting the
backlog grow.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger(__name__)

_hasher = PasswordHasher()
MIN_LENGTH = 10
# Verifying against this when the user does not exist takes as long as a real check, so the
# response time does not tell an attacker which usernames exist.
_DUMMY = _hasher.hash("not-a-real-password")
LOWEST_PRIORITY = 19  # nice value of the worker threads
T = TypeVar("T")


class PasswordsBusy(Exception):
    """More password checks are waiting than the workers' queue holds: try again shortly."""


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _hasher.hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


class PasswordWorkers:
    """Hashes and checks passwords on `workers` threads, for at most `workers + queue`
    sign-ins at once (`admitted`).

    A sign-in beyond that raises `PasswordsBusy` before it does anything (the answer is 503):
    sign-ins wait a bounded time or are refused, never pile up, and a refused one costs no
    database or Redis work, which the call path shares. Hashing a new password (an admin
    setting one) always waits its turn: only signed-in admins can ask for it.
    """

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("at least one worker and a queue of zero or more")
        self.workers, self.queue = workers, queue
        self._admitted = 0
        self._executor = ThreadPoolExecutor(
            workers, thread_name_prefix="passwords", initializer=_lowest_priority
        )

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
        return await self._run(password_matches, stored, password)

    async def hash(self, password: str) -> str:
        if len(password) < MIN_LENGTH:  # no thread needed to say so
            raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
        return await self._run(hash_password, password)

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _lowest_priority() -> None:
    """Lower this worker thread's CPU priority (a thread's nice value is its own on Linux,
    and argon2's lane threads, started from it, inherit it): the event loop serving calls
    always gets the CPU first. Elsewhere the threads keep the process's priority."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere the id is not a thread's to renice: it could name the process
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed
        log.warning("password workers keep normal CPU priority: %s", exc)
