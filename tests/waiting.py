"""Waiting, in a test, for a state another component reaches in its own time (a simulator,
a server, another process's message) that has no hook to await: polled until it holds. The
bound only ends a failing test, so it is generous for a busy machine; a passing test waits
just as long as the state takes."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    condition: Callable[[], T | Awaitable[T]], what: str = "the condition", *,
    within: float = 10.0, every: float = 0.005,
) -> T:  # fmt: skip
    """What `condition` (a function or a coroutine function) first gives that is truthy;
    fails the test naming `what` when nothing truthy came within `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(every)
