"""Lookups that wait at the same moment go as one batch (`Batches`, with a fake sender)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest

from billing_bridge.identification.batching import Batches


class Sender:
    """Answers each item with its upper case and records each batch; when `held`, each batch
    stays in flight until its gate (`gates[n]` for the n-th batch) opens."""

    def __init__(self, held: bool = False, fails: Exception | None = None) -> None:
        self.batches: list[tuple[str, list[str]]] = []
        self.gates: list[asyncio.Event] = []
        self.held = held
        self.fails = fails

    async def __call__(self, key: str, items: list[str]) -> Mapping[str, str]:
        self.batches.append((key, items))
        gate = asyncio.Event()
        self.gates.append(gate)
        if self.held:
            await gate.wait()
        else:
            await asyncio.sleep(0)  # as any real sender, it gives way while it waits
        if self.fails is not None:
            raise self.fails
        return {item: item.upper() for item in items}


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_a_lookup_with_none_in_flight_goes_out_at_once_alone() -> None:
    sender = Sender()
    batches = Batches(sender)
    assert await batches.ask("ofek", "a") == "A"
    assert sender.batches == [("ofek", ["a"])]


async def test_lookups_arriving_while_one_is_in_flight_go_together_in_the_next_batch() -> None:
    sender = Sender(held=True)
    batches = Batches(sender)
    first = asyncio.create_task(batches.ask("ofek", "a"))
    await until(lambda: len(sender.batches) == 1)
    later = [asyncio.create_task(batches.ask("ofek", item)) for item in "bcd"]
    await until(lambda: batches.waiting("ofek") == 3)
    sender.gates[0].set()
    await until(lambda: len(sender.batches) == 2)
    sender.gates[1].set()
    assert await first == "A"
    assert [await task for task in later] == ["B", "C", "D"]
    assert sender.batches == [("ofek", ["a"]), ("ofek", ["b", "c", "d"])]


async def test_each_business_has_its_own_batch_in_flight() -> None:
    sender = Sender(held=True)
    batches = Batches(sender)
    ofek = asyncio.create_task(batches.ask("ofek", "a"))
    saule = asyncio.create_task(batches.ask("saule", "b"))
    await until(lambda: len(sender.batches) == 2)
    for gate in sender.gates:
        gate.set()
    assert (await ofek, await saule) == ("A", "B")
    assert sender.batches == [("ofek", ["a"]), ("saule", ["b"])]


async def test_a_batch_holds_at_most_its_cap_and_the_rest_go_in_the_next() -> None:
    sender = Sender()
    batches = Batches(sender, most=2)
    answers = await asyncio.gather(*(batches.ask("ofek", item) for item in "abcdef"))
    assert answers == ["A", "B", "C", "D", "E", "F"]
    assert [items for _, items in sender.batches] == [["a"], ["b", "c"], ["d", "e"], ["f"]]


async def test_a_number_asked_twice_in_a_batch_is_sent_once_and_both_are_answered() -> None:
    sender = Sender()
    batches = Batches(sender)
    answers = await asyncio.gather(*(batches.ask("ofek", item) for item in "abb"))
    assert answers == ["A", "B", "B"]
    assert sender.batches == [("ofek", ["a"]), ("ofek", ["b"])]


async def test_a_failed_batch_fails_every_lookup_in_it_with_its_exception() -> None:
    broken = ConnectionError("database gone")
    sender = Sender(fails=broken)
    batches = Batches(sender)
    results = await asyncio.gather(
        *(batches.ask("ofek", item) for item in "abcd"), return_exceptions=True
    )
    assert results == [broken, broken, broken, broken]
    assert [items for _, items in sender.batches] == [["a"], ["b", "c", "d"]]


async def test_lookups_after_a_failed_batch_are_sent_again() -> None:
    sender = Sender(fails=ConnectionError("database gone"))
    batches = Batches(sender)
    with pytest.raises(ConnectionError):
        await batches.ask("ofek", "a")
    sender.fails = None
    assert await batches.ask("ofek", "a") == "A"


async def test_a_caller_hanging_up_mid_batch_leaves_the_batch_to_the_others() -> None:
    sender = Sender(held=True)
    batches = Batches(sender)
    first = asyncio.create_task(batches.ask("ofek", "a"))
    await until(lambda: len(sender.batches) == 1)
    asked = [asyncio.create_task(batches.ask("ofek", item)) for item in "bcd"]
    await until(lambda: batches.waiting("ofek") == 3)
    sender.gates[0].set()
    await until(lambda: len(sender.batches) == 2)
    asked[1].cancel()
    sender.gates[1].set()
    assert (await first, await asked[0], await asked[2]) == ("A", "B", "D")
    with pytest.raises(asyncio.CancelledError):
        await asked[1]
    assert sender.batches == [("ofek", ["a"]), ("ofek", ["b", "c", "d"])]


async def test_the_first_caller_hanging_up_lets_the_lookups_behind_it_go() -> None:
    sender = Sender(held=True)
    batches = Batches(sender)
    first = asyncio.create_task(batches.ask("ofek", "a"))
    await until(lambda: len(sender.batches) == 1)
    behind = asyncio.create_task(batches.ask("ofek", "b"))
    await until(lambda: batches.waiting("ofek") == 1)
    first.cancel()
    await until(lambda: len(sender.batches) == 2)
    sender.gates[1].set()
    assert await behind == "B"
    assert first.cancelled()


async def test_a_caller_hanging_up_while_waiting_is_left_out_of_the_next_batch() -> None:
    sender = Sender(held=True)
    batches = Batches(sender)
    first = asyncio.create_task(batches.ask("ofek", "a"))
    await until(lambda: len(sender.batches) == 1)
    waiting = [asyncio.create_task(batches.ask("ofek", item)) for item in "bc"]
    await until(lambda: batches.waiting("ofek") == 2)
    waiting[0].cancel()
    sender.gates[0].set()
    await until(lambda: len(sender.batches) == 2)
    sender.gates[1].set()
    assert (await first, await waiting[1]) == ("A", "C")
    assert sender.batches == [("ofek", ["a"]), ("ofek", ["c"])]
