"""The desk publisher turns the call flow's notices into desk events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from pbx.events.model import DeskEvent
from pbx.events.publisher import DeskPublisher


class RecordingHub:
    def __init__(self) -> None:
        self.published: list[DeskEvent] = []

    async def publish_all(self, events: Sequence[DeskEvent]) -> list[str]:
        self.published.extend(events)
        return [str(i) for i, _ in enumerate(events)]


def agent_state(agent_id: object) -> dict[str, object]:
    return {"tenant_id": 1, "agent_id": agent_id, "state": "available", "pause_reason": None,
            "since": None, "call_id": None}  # fmt: skip


async def test_a_notice_the_codec_refuses_is_one_logged_line_and_the_next_is_published(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = RecordingHub()
    publisher = DeskPublisher(hub, None, lambda: datetime.now(UTC))  # type: ignore[arg-type]
    await publisher.start()
    publisher.notify("agent.state", agent_state("7"))  # a string where an id goes
    publisher.notify("agent.state", agent_state(8))
    await publisher.stop()  # publishes what was noticed first
    assert [event.data["agent_id"] for event in hub.published] == [8]
    [line] = [r for r in caplog.records if "not built" in r.getMessage()]
    assert line.exc_info is None and "agent_id" in line.getMessage()


async def test_a_panel_read_ahead_again_is_the_one_the_pop_shows() -> None:
    """The caller made a promise in the IVR after their panel was read ahead."""
    publisher = DeskPublisher(RecordingHub(), None, lambda: datetime.now(UTC))  # type: ignore[arg-type]
    reads = iter(({"promises": [], "recent_calls": []},
                  {"promises": [{"id": 1}], "recent_calls": []}))  # fmt: skip

    async def read_panel(tenant_id: int, customer_id: int) -> dict[str, object]:
        return next(reads)

    publisher._read_panel = read_panel  # type: ignore[method-assign]
    publisher.prefetch(1, 5)  # as the call arrived
    publisher.prefetch(1, 5)  # after the promise
    panel = await publisher._panel(1, {"customer_id": 5, "record_id": 9})
    assert panel is not None and panel["promises"] == [{"id": 1}]


async def test_a_panel_read_ahead_for_a_call_that_ends_unoffered_is_not_a_later_calls_pop() -> None:
    """The caller hung up in the IVR or the queue: their next call pops a panel read for it."""
    publisher = DeskPublisher(RecordingHub(), None, lambda: datetime.now(UTC))  # type: ignore[arg-type]
    account = {"balance": "then"}

    async def read_panel(tenant_id: int, customer_id: int) -> dict[str, object]:
        return {"balance": account["balance"], "recent_calls": []}

    publisher._read_panel = read_panel  # type: ignore[method-assign]
    publisher.prefetch(1, 5)  # the first call arrived
    await publisher._panels[(1, 5)]  # its panel is read
    account["balance"] = "now"  # paid since, say
    ended = {"call_id": "c-1", "record_id": 8, "direction": "inbound", "caller_number": None,
             "did": None, "match": "unique", "customer_id": 5, "priority": 0, "verified": None,
             "queue": None, "waited_seconds": 3, "agent_id": None, "outcome": "abandoned"}
    await publisher._event("call.ended", {"tenant_id": 1, "queue": None, "agents": [],
                                          "call": ended})  # fmt: skip
    panel = await publisher._panel(1, {"customer_id": 5, "record_id": 9})  # the next call
    assert panel is not None and panel["balance"] == "now"
