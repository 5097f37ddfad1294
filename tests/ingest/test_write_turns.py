"""The billing system's batches take turns to write (`billing.batch_writes_at_once`): no more
write at once than the setting allows, and a batch waiting for its turn is answered once it
has had it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from sqlalchemy import func, select

from billing_bridge.ingest.turns import WriteTurns
from pbx.auth.ratelimit import MemorySignInLimits
from pbx.auth.sessions import SessionStore
from pbx.bus import MemoryBus
from pbx.db.database import Database
from pbx.db.models import Customer
from pbx.events.hub import Hub
from pbx.events.log import MemoryEventLog
from pbx.http.context import ApiContext
from pbx.settings import load_settings
from tests.http.conftest import PASSWORDS, SIGN_IN_POLICY, _serve
from tests.ingest.conftest import OFEK_DID, Door, Machine
from tests.waiting import until


class CountedTurns(WriteTurns):
    """The turns, noting the most batches ever inside one at the same moment."""

    def __init__(self, at_once: int) -> None:
        super().__init__(at_once)
        self.most_writing = 0

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        async with super().turn():
            self.most_writing = max(self.most_writing, self.writing)
            yield


def _customers(first: int, count: int) -> list[dict]:
    return [{"type": "customer", "ref": f"C-{n}", "name": f"Customer {n}", "phones": [],
             "version": 1} for n in range(first, first + count)]  # fmt: skip


async def _door(database: Database, turns: WriteTurns) -> AsyncIterator[tuple[Door, Machine]]:
    context = ApiContext(
        database, SessionStore(database, passwords=PASSWORDS, lifetime_s=3600, idle_s=600),
        MemorySignInLimits(SIGN_IN_POLICY), MemoryBus(),
        hub=Hub(MemoryEventLog(retention=1000), wait_s=0.5), batch_writes=turns,
    )  # fmt: skip
    runner: web.AppRunner
    runner, port = await _serve(context, 0)
    door = Door(database, f"http://127.0.0.1:{port}", context.hub)  # type: ignore[arg-type]
    try:
        tenant = await door.business("ofek", OFEK_DID)
        yield door, await door.key(tenant, "billing:write", "billing:read")
    finally:
        if door._checker is not None:
            await door._checker.close()
        await runner.cleanup()


@pytest.fixture
async def one_at_a_time(database: Database) -> AsyncIterator[tuple[Door, Machine, CountedTurns]]:
    turns = CountedTurns(1)
    async for door, machine in _door(database, turns):
        yield door, machine, turns


async def test_the_setting_lets_one_batch_write_at_a_time_by_default() -> None:
    assert load_settings(environ={}).billing.batch_writes_at_once == 1
    overridden = load_settings(environ={"LEDGERLINE_BILLING_BATCH_WRITES_AT_ONCE": "3"})
    assert overridden.billing.batch_writes_at_once == 3


async def test_no_more_batches_write_at_once_than_the_turns_allow() -> None:
    turns, go = CountedTurns(2), asyncio.Event()

    async def write() -> None:
        async with turns.turn():
            await go.wait()

    writers = [asyncio.create_task(write()) for _ in range(5)]
    await until(lambda: turns.writing == 2 and turns.waiting == 3)
    go.set()
    await asyncio.gather(*writers)

    assert turns.most_writing == 2
    assert (turns.writing, turns.waiting) == (0, 0)


async def test_a_batch_waiting_for_its_turn_is_answered_once_the_turn_is_free(
    one_at_a_time: tuple[Door, Machine, CountedTurns],
) -> None:
    door, machine, turns = one_at_a_time
    async with turns.turn():  # another batch's turn, held
        sent = asyncio.create_task(machine.batch(_customers(0, 3)))
        await until(lambda: turns.waiting == 1)
        assert not sent.done()
        async with door.database.system_session() as session:
            assert await session.scalar(select(func.count()).select_from(Customer)) == 0

    reply = await sent

    assert reply.status == 200
    assert reply.body["counts"] == {"created": 3}


async def test_batches_sent_together_are_each_answered_writing_one_at_a_time(
    one_at_a_time: tuple[Door, Machine, CountedTurns],
) -> None:
    door, machine, turns = one_at_a_time

    replies = await asyncio.gather(*(machine.batch(_customers(n * 100, 100)) for n in range(4)))

    assert [reply.status for reply in replies] == [200] * 4
    assert all(reply.body["counts"] == {"created": 100} for reply in replies)
    assert turns.most_writing == 1
    async with door.database.system_session() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 400
