"""Collecting the digits a caller keys: what ends a field, and a stop that always stops it."""

from __future__ import annotations

import asyncio

import pytest

from pbx.callflow import keypad


async def _collect(digits: asyncio.Queue[str], **options: float) -> str:
    return await keypad.collect(
        digits, max_digits=int(options.get("max_digits", 8)),
        first_timeout=options.get("first", 10.0), between_timeout=options.get("between", 5.0),
    )  # fmt: skip


async def test_a_field_ends_at_the_terminator_and_a_stray_one_first_is_ignored() -> None:
    digits: asyncio.Queue[str] = asyncio.Queue()
    for digit in "#12#3":
        digits.put_nowait(digit)

    assert await _collect(digits) == "12"
    assert digits.get_nowait() == "3"  # left for the next field


async def test_a_field_ends_after_silence_with_what_was_keyed() -> None:
    digits: asyncio.Queue[str] = asyncio.Queue()
    digits.put_nowait("4")

    assert await _collect(digits, between=0.01) == "4"


@pytest.mark.parametrize("turns", range(4))
async def test_a_collector_stopped_as_a_digit_arrives_stops(turns: int) -> None:
    # A process stopping mid-session cancels the session. On Python 3.11 `asyncio.wait_for`
    # returned a digit that arrived in the same turn of the loop as the cancellation and
    # dropped the cancellation: the session went on keying (and put the caller back into
    # the agent's bridge) after the stop. Every turn around the digit's arrival is tried.
    digits: asyncio.Queue[str] = asyncio.Queue()
    collecting = asyncio.create_task(_collect(digits))
    for _ in range(3):
        await asyncio.sleep(0)  # waiting for the first digit
    digits.put_nowait("1")
    for _ in range(turns):
        await asyncio.sleep(0)

    collecting.cancel()

    done, _ = await asyncio.wait({collecting}, timeout=1)
    if not done:  # the cancellation was lost: it would wait for more digits
        collecting.cancel()
    assert done and collecting.cancelled()
