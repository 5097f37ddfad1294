"""The call flow's state saver: what it writes, and when it need not write again."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest

from pbx.callflow.calls import FlowCall
from pbx.callflow.saver import StateSaver
from pbx.callflow.snapshots import SnapshotStore
from pbx.callflow.state import FlowState


class MemorySnapshots:
    """The snapshot store's port, in memory: every document written, in order."""

    def __init__(self) -> None:
        self.written: list[tuple[str, int | None]] = []

    async def save(self, state: str, token: int | None = None) -> bool:
        self.written.append((state, token))
        return True


async def settled(saver: StateSaver, snapshots: MemorySnapshots, count: int) -> None:
    """Until the saver has taken every change told so far and written `count` documents."""
    deadline = asyncio.get_running_loop().time() + 5
    while saver._dirty.is_set() or len(snapshots.written) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the saver did not settle at {count} written")
        await asyncio.sleep(0)


@pytest.fixture
async def saving() -> AsyncIterator[tuple[FlowState, StateSaver, MemorySnapshots]]:
    state, snapshots = FlowState.empty(), MemorySnapshots()
    store: SnapshotStore = snapshots  # type: ignore[assignment]
    saver = StateSaver(state, store, asyncio.Lock(), save_every=0)
    task = asyncio.create_task(saver.run())
    yield state, saver, snapshots
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_state_unchanged_since_its_last_snapshot_is_not_written_again(
    saving: tuple[FlowState, StateSaver, MemorySnapshots],
) -> None:
    state, saver, snapshots = saving
    state.add(FlowCall("caller-1", tenant_id=1, record_id=1, caller_channel="caller-1"))
    await saver.save()
    await settled(saver, snapshots, 1)

    await saver.save()  # told of a change that changed nothing
    await settled(saver, snapshots, 1)
    assert len(snapshots.written) == 1

    state.drop("caller-1")
    await saver.save()
    await settled(saver, snapshots, 2)
    saved = [set(FlowState.from_dict(json.loads(doc)).calls) for doc, _ in snapshots.written]
    assert saved == [{"caller-1"}, set()]


async def test_a_flush_writes_even_an_unchanged_state(
    saving: tuple[FlowState, StateSaver, MemorySnapshots],
) -> None:
    _, saver, snapshots = saving
    await saver.flush()
    await saver.flush()  # a stale owner's flush must reach the store to be refused there
    assert len(snapshots.written) == 2
