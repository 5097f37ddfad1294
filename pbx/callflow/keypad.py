"""Digits a caller keys during an IVR step, delivered from ChannelDtmfReceived events.

The digits may be a PIN or a date of birth: they go from the event to the waiting collector
and nowhere else (no log line, no state snapshot).
"""

from __future__ import annotations

import asyncio


class Keypads:
    """One digit queue per channel that is currently being asked for digits."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[str]] = {}

    def listen(self, channel_id: str) -> asyncio.Queue[str]:
        return self._queues.setdefault(channel_id, asyncio.Queue())

    def stop(self, channel_id: str) -> None:
        self._queues.pop(channel_id, None)

    def pressed(self, channel_id: str, digit: str) -> None:
        queue = self._queues.get(channel_id)
        if queue is not None:
            queue.put_nowait(digit)

    def hung_up(self, channel_id: str) -> None:
        """Wake a collector whose caller left: it returns what it has (usually nothing)."""
        queue = self._queues.get(channel_id)
        if queue is not None:
            queue.put_nowait("")


async def collect(
    digits: asyncio.Queue[str],
    *,
    max_digits: int,
    first_timeout: float,
    between_timeout: float,
    terminator: str = "#",
) -> str:
    """Digits until `max_digits`, the terminator, silence, or a hangup (an empty string). A
    terminator before any digit is ignored: callers press "#" after a fixed-length field
    too, and it arrives as the next field starts."""
    keyed: list[str] = []
    while len(keyed) < max_digits:
        timeout = between_timeout if keyed else first_timeout
        try:
            # Not `wait_for`: on Python 3.11 it returns a digit that arrived just as the
            # task was cancelled and drops the cancellation, so a stopping process's keypad
            # session went on (and put the caller back) instead of stopping.
            async with asyncio.timeout(timeout):
                digit = await digits.get()
        except TimeoutError:
            break
        if digit == "":
            break  # the caller hung up
        if digit == terminator:
            if keyed:
                break
            continue  # a stray "#" (ending the field before, by habit) ends nothing
        keyed.append(digit)
    return "".join(keyed)
