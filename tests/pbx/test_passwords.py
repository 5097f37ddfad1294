"""Password hashing and checks run in worker processes set apart at the lowest priority,
for a bounded number of sign-ins at once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from pbx.auth.passwords import LOWEST_PRIORITY, PasswordsBusy, PasswordWorkers, hash_password


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
