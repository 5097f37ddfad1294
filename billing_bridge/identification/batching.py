"""Lookups that wait at the same moment, sent as one.

A caller lookup is a small statement whose cost on both sides is mostly the statement itself
(plan set-up, the round trip, the driver), not the rows it reads. While one lookup of a
business is in flight, the lookups that arrive behind it wait and go together in the next:
under load the per-statement cost is shared; alone, a lookup goes out at once, never held
back for company.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Item = TypeVar("Item", bound=Hashable)
Answer = TypeVar("Answer")


@dataclass(eq=False)
class _Lane(Generic[Item, Answer]):
    """One key's lookups in flight (the lane exists while any is) and those waiting behind
    them, with the task that sends those batch after batch."""

    waiting: list[tuple[Item, asyncio.Future[Answer]]] = field(default_factory=list)
    sender: asyncio.Task[None] | None = None


class Batches(Generic[Key, Item, Answer]):
    """`ask(key, item)` answers through `send(key, items)`, which answers many items of one
    key at once. Per key one batch is in flight at a time, of at most `most` items; an item
    asked twice in a batch is sent once.

    A lookup with none of its key in flight is sent by its own caller (no task to start, no
    wait); the ones that arrive meanwhile are sent by a task of their own, so a caller that
    hangs up (its lookup cancelled) leaves their batch running for the others. A batch that
    fails fails each of its askers with the same exception."""

    def __init__(
        self, send: Callable[[Key, list[Item]], Awaitable[Mapping[Item, Answer]]], most: int = 64
    ) -> None:
        if most < 1:
            raise ValueError("a batch holds at least one item")
        self._send, self._most = send, most
        self._lanes: dict[Key, _Lane[Item, Answer]] = {}

    async def ask(self, key: Key, item: Item) -> Answer:
        lane = self._lanes.get(key)
        if lane is None:  # none of this key in flight: this one goes at once, alone
            lane = self._lanes[key] = _Lane()
            try:
                return _answer_for(item, await self._send(key, [item]))
            finally:  # answered, failed or hung up: those that arrived meanwhile go next
                self._hand_on(key, lane)
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        lane.waiting.append((item, answer))
        return await answer

    def waiting(self, key: Key) -> int:
        """How many lookups of `key` wait for a batch (not counting the one in flight)."""
        lane = self._lanes.get(key)
        return len(lane.waiting) if lane else 0

    def _hand_on(self, key: Key, lane: _Lane[Item, Answer]) -> None:
        if lane.waiting:
            lane.sender = asyncio.create_task(self._drain(key, lane))
        else:
            del self._lanes[key]

    async def _drain(self, key: Key, lane: _Lane[Item, Answer]) -> None:
        try:
            while lane.waiting:
                batch = [waiter for waiter in lane.waiting[: self._most] if not waiter[1].done()]
                del lane.waiting[: self._most]
                if batch:  # all of them may have hung up meanwhile
                    await self._answer(key, batch)
        finally:
            for _, answer in lane.waiting:  # only when this task was cancelled (a shutdown)
                answer.cancel()
            del self._lanes[key]

    async def _answer(self, key: Key, batch: list[tuple[Item, asyncio.Future[Answer]]]) -> None:
        try:
            answers = await self._send(key, list(dict.fromkeys(item for item, _ in batch)))
        except asyncio.CancelledError:
            for _, answer in batch:
                answer.cancel()
            raise
        except Exception as exc:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for item, answer in batch:
            if answer.done():  # its caller hung up
                continue
            try:
                answer.set_result(_answer_for(item, answers))
            except LookupError as exc:
                answer.set_exception(exc)


def _answer_for(item: Item, answers: Mapping[Item, Answer]) -> Answer:
    if item not in answers:
        raise LookupError(f"the batch gave no answer for {item!r}")
    return answers[item]
