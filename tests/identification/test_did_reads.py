"""The dialled number's business, kept briefly in process: calls arriving while it is read
share one read, a read begun before the numbers were forgotten is not kept, a failed read
is every waiter's error and the next call reads again, and a call that hangs up while it
waits does not cancel the others' read (no database: a directory that waits when told)."""

from __future__ import annotations

import asyncio

import pytest

from billing_bridge.identification.cache import NoCache
from billing_bridge.identification.directory import TenantInfo
from billing_bridge.identification.service import CallerIdentification

OFEK = TenantInfo(1, "ofek", "IL", "ILS", "Asia/Jerusalem")
MOVED = TenantInfo(2, "saule", "LT", "EUR", "Europe/Vilnius")
DID = "+97237630100"


class GatedDirectory:
    """Answers `tenant_for_did` with the `owner` it held when the read began, once that read's
    gate opens (`open`, by the read's number from 0), counting the reads."""

    def __init__(self) -> None:
        self.owner: TenantInfo | None = OFEK
        self.failure: Exception | None = None
        self.gates: list[asyncio.Event] = []
        self._begun = asyncio.Condition()

    @property
    def reads(self) -> int:
        return len(self.gates)

    async def tenant_for_did(self, did: str, fallback_region: str) -> TenantInfo | None:
        owner, gate = self.owner, asyncio.Event()
        async with self._begun:
            self.gates.append(gate)
            self._begun.notify_all()
        await gate.wait()
        if self.failure is not None:
            raise self.failure
        return owner

    async def tenant_by_slug(self, slug: str) -> TenantInfo | None:
        return None

    async def until_reads(self, count: int) -> None:
        async with self._begun:
            await self._begun.wait_for(lambda: self.reads >= count)

    def open(self, *reads: int) -> None:
        for read in reads or range(self.reads):
            self.gates[read].set()

    async def read_alone(self, service: CallerIdentification) -> TenantInfo | None:
        """The service's answer for DID by a read of its own, let through once it begins."""
        answer = asyncio.create_task(service.tenant_for(DID))
        await self.until_reads(self.reads + 1)
        self.open(self.reads - 1)
        return await answer


def identification(directory: GatedDirectory, ttl: float = 30.0) -> CallerIdentification:
    return CallerIdentification(directory, NoCache(), fallback_region="IL",  # type: ignore[arg-type]
                                did_ttl_seconds=ttl)  # fmt: skip


async def test_calls_arriving_while_the_number_is_read_share_one_read() -> None:
    directory = GatedDirectory()
    service = identification(directory, ttl=0.0)  # expired at once: every call would read
    calls = [asyncio.create_task(service.tenant_for(DID)) for _ in range(20)]
    await directory.until_reads(1)  # by then each call has begun (tasks start in order)
    assert directory.reads == 1
    directory.open()

    assert await asyncio.gather(*calls) == [OFEK] * 20
    assert directory.reads == 1
    assert await directory.read_alone(service) == OFEK  # expired: read again, alone


async def test_a_read_begun_before_the_numbers_were_forgotten_is_not_kept() -> None:
    directory = GatedDirectory()
    service = identification(directory)
    before = asyncio.create_task(service.tenant_for(DID))
    await directory.until_reads(1)
    directory.owner = MOVED  # an admin moves the number...
    service.forget_dids()  # ...and the service is told
    after = asyncio.create_task(service.tenant_for(DID))  # a new read, not the old one shared
    await directory.until_reads(2)
    directory.open(1)  # the newer read ends first, the older one after it
    assert await after == MOVED
    directory.open(0)
    assert await before == OFEK  # what that call was told when it began

    assert await service.tenant_for(DID) == MOVED  # the newer read is the one kept
    assert directory.reads == 2


async def test_a_failed_read_fails_its_waiters_and_the_next_call_reads_again() -> None:
    directory = GatedDirectory()
    directory.failure = ConnectionError("database away")
    service = identification(directory)
    calls = [asyncio.create_task(service.tenant_for(DID)) for _ in range(3)]
    await directory.until_reads(1)
    directory.open()

    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    assert directory.reads == 1
    directory.failure = None
    assert await directory.read_alone(service) == OFEK


async def test_a_call_that_hangs_up_while_waiting_leaves_the_read_to_the_others() -> None:
    directory = GatedDirectory()
    service = identification(directory)
    leaving = asyncio.create_task(service.tenant_for(DID))
    staying = asyncio.create_task(service.tenant_for(DID))
    await directory.until_reads(1)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    directory.open()

    assert await staying == OFEK
    assert await service.tenant_for(DID) == OFEK  # kept
    assert directory.reads == 1
