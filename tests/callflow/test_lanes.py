"""Call lanes: one call's work in order, different calls side by side, resync alone."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pbx.callflow.lanes import Lanes


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_work_posted_to_one_call_runs_in_the_order_posted() -> None:
    lanes, done = Lanes(), []
    release = asyncio.Event()

    async def step(n: int) -> None:
        if n == 0:
            await release.wait()  # the first piece is slow: the rest must wait for it
        done.append(n)

    for n in range(5):
        lanes.post("a", lambda n=n: step(n), "step")
    await _settle()
    assert done == []
    release.set()
    await _settle()
    assert done == [0, 1, 2, 3, 4]


async def test_a_stalled_call_does_not_hold_up_another() -> None:
    lanes, done = Lanes(), []
    stalled = asyncio.Event()

    async def stall() -> None:
        await stalled.wait()
        done.append("a")

    async def quick() -> None:
        done.append("b")

    lanes.post("a", stall, "stall")
    lanes.post("b", quick, "quick")
    await _settle()
    assert done == ["b"]
    stalled.set()
    await _settle()
    assert done == ["b", "a"]


async def test_the_lane_is_reentrant_for_its_holder_and_forgotten_when_idle() -> None:
    lanes = Lanes()
    async with lanes.call("a"):
        assert lanes.holding("a") and not lanes.holding("b")
        async with lanes.call("a"):  # a helper of the same call: no self-deadlock
            assert lanes.holding("a")
    assert not lanes.holding("a")
    assert lanes._locks == {} and lanes._users == {}  # nothing is kept per call


async def test_exclusive_waits_for_running_work_and_holds_new_work_back() -> None:
    lanes, seen = Lanes(), []
    running = asyncio.Event()
    finish = asyncio.Event()

    async def long_work() -> None:
        running.set()
        await finish.wait()
        seen.append("running work finished")

    async def later_work() -> None:
        seen.append("later work")

    lanes.post("a", long_work, "long")
    await running.wait()

    async def resync() -> None:
        async with lanes.exclusive():
            seen.append("resync")
            assert lanes.holding("a") and lanes.holding("z")  # it counts as in every lane
            lanes.post("b", later_work, "later")  # posted meanwhile: runs after
            await _settle()

    task = asyncio.create_task(resync())
    await _settle()
    assert seen == []  # the resync waits for the running work
    finish.set()
    await task
    await _settle()
    assert seen == ["running work finished", "resync", "later work"]


async def test_a_failing_piece_is_logged_and_the_lane_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lanes, done = Lanes(), []

    async def broken() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        done.append("fine")

    with caplog.at_level(logging.ERROR, "pbx.callflow.lanes"):
        lanes.post("a", broken, "broken")
        lanes.post("a", fine, "fine")
        await _settle()
    assert done == ["fine"]
    assert "broken-a failed" in caplog.text


async def test_cancel_stops_work_still_waiting() -> None:
    lanes, done = Lanes(), []
    never = asyncio.Event()

    async def blocked() -> None:
        await never.wait()

    async def waiting() -> None:
        done.append("ran")

    lanes.post("a", blocked, "blocked")
    lanes.post("a", waiting, "waiting")
    await _settle()
    await lanes.cancel()
    assert done == []
    async with lanes.call("a"):  # the lane is free again
        pass


async def test_room_holds_the_poster_back_while_too_much_work_is_pending() -> None:
    lanes = Lanes(limit=2)
    release = asyncio.Event()

    async def blocked() -> None:
        await release.wait()

    lanes.post("a", blocked, "one")
    await lanes.room()  # one pending: there is room
    lanes.post("b", blocked, "two")
    waiting = asyncio.create_task(lanes.room())
    await _settle()
    assert not waiting.done()
    release.set()
    await _settle()
    assert waiting.done()
