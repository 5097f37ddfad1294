"""Password hashing and checks run on worker threads at low priority, in bounded numbers."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator

import pytest
from argon2 import PasswordHasher

from pbx.auth import passwords
from pbx.auth.passwords import LOWEST_PRIORITY, PasswordsBusy, PasswordWorkers, hash_password


class RecordingHasher(PasswordHasher):
    """argon2's hasher, noting which thread (and at what priority) does each piece of work;
    `hold` keeps a check waiting until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []
        self.priorities: list[int] = []
        self.entered = threading.Event()
        self.hold = threading.Event()
        self.hold.set()

    def _note(self) -> None:
        self.threads.append(threading.get_ident())
        if sys.platform.startswith("linux"):
            self.priorities.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self._note()
        self.entered.set()
        self.hold.wait(timeout=30)
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._note()
        return super().hash(password, salt=salt)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> RecordingHasher:
    recording = RecordingHasher()
    monkeypatch.setattr(passwords, "_hasher", recording)
    return recording


@pytest.fixture
async def workers() -> AsyncIterator[PasswordWorkers]:
    pool = PasswordWorkers(workers=1, queue=1)
    yield pool
    pool.close()


async def test_checks_and_hashes_never_run_on_the_event_loops_thread(
    hasher: RecordingHasher, workers: PasswordWorkers
) -> None:
    stored = await workers.hash("correct horse battery")
    checks = await asyncio.gather(
        workers.matches(stored, "correct horse battery"), workers.matches(stored, "wrong one!")
    )
    assert checks == [True, False]
    assert len(hasher.threads) == 3
    assert threading.get_ident() not in hasher.threads


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
async def test_the_workers_run_at_the_lowest_cpu_priority(
    hasher: RecordingHasher, workers: PasswordWorkers
) -> None:
    await workers.matches(None, "anything at all")
    assert hasher.priorities == [LOWEST_PRIORITY]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < LOWEST_PRIORITY


async def test_a_sign_in_beyond_the_workers_and_queue_is_refused_and_the_admitted_finish(
    hasher: RecordingHasher, workers: PasswordWorkers
) -> None:
    stored = hash_password("correct horse battery")
    hasher.hold.clear()

    async def sign_in(password: str) -> bool:
        with workers.admitted():
            return await workers.matches(stored, password)

    running = asyncio.ensure_future(sign_in("correct horse battery"))
    queued = asyncio.ensure_future(sign_in("wrong password"))
    await asyncio.to_thread(hasher.entered.wait, 10)  # one runs, one waits in the queue
    with pytest.raises(PasswordsBusy):
        await sign_in("a third at once")
    hasher.hold.set()
    assert await asyncio.gather(running, queued) == [True, False]
    assert await sign_in("correct horse battery")  # room again


async def test_a_too_short_new_password_is_refused_without_hashing(
    hasher: RecordingHasher, workers: PasswordWorkers
) -> None:
    with pytest.raises(ValueError, match="at least"):
        await workers.hash("short")
    assert hasher.threads == []
