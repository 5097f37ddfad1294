"""The per-process fan-out delivers each event to exactly the desks allowed to see it."""

from __future__ import annotations

import asyncio

import pytest

from pbx.events.hub import Hub, Subscriber
from pbx.events.log import MemoryEventLog
from pbx.events.model import Audience, DeskEvent, Viewer
from tests.events.samples import sample

TENANT, OTHER_TENANT = 1, 2


def received(subscriber: Subscriber) -> list[str]:
    found = []
    while not subscriber.queue.empty():
        found.append(subscriber.queue.get_nowait()[1].type)
    return found


WITNESS = 999  # an agent who sees only the marker that `deliver` sends last
MARKER = "recording.stored"
MARKER = "recording.stored"


async def deliver(hub: Hub, *events: DeskEvent) -> None:
    """Publish `events`, then wait until the tenant's reader has handed them all out: it
    hands them out in order, so once a marker published after them has reached its own
    desk, every desk has all it will get of them."""
    witness = Subscriber(Viewer(WITNESS, TENANT, False))
    await hub.attach(witness)
    try:
        for event in events:
            await hub.publish(event)
        await hub.publish(sample(MARKER, TENANT, Audience(agents=(WITNESS,))))
        _, marker = await asyncio.wait_for(witness.queue.get(), 5)
        assert marker.type == MARKER
    finally:
        await hub.detach(witness)


async def test_an_event_reaches_its_agents_and_no_other_desk() -> None:
    hub = Hub(MemoryEventLog(100), wait_s=0.05)
    dana, dana_second_tab, avi = (
        Subscriber(Viewer(7, TENANT, False)),
        Subscriber(Viewer(7, TENANT, False)),
        Subscriber(Viewer(8, TENANT, False)),
    )
    stranger = Subscriber(Viewer(7, OTHER_TENANT, False))  # same user id, another business
    for desk in (dana, dana_second_tab, avi, stranger):
        await hub.attach(desk)
    try:
        await deliver(hub, sample("call.offered", TENANT, Audience(agents=(7,))))
    finally:
        await hub.close()

    assert received(dana) == received(dana_second_tab) == ["call.offered"]
    assert received(avi) == [] and received(stranger) == []


async def test_supervisors_see_their_queues_and_tenant_wide_events_only() -> None:
    hub = Hub(MemoryEventLog(100), wait_s=0.05)
    watching = Subscriber(Viewer(1, TENANT, True, frozenset({"sales"})))
    elsewhere = Subscriber(Viewer(2, TENANT, True, frozenset({"support"})))
    for desk in (watching, elsewhere):
        await hub.attach(desk)
    try:
        await deliver(
            hub,
            sample("call.offered", TENANT, Audience(agents=(7,), queues=("sales",))),
            sample("agent.state", TENANT, Audience(agents=(7,), supervisors=True)),
        )
    finally:
        await hub.close()

    assert received(watching) == ["call.offered", "agent.state"]
    assert received(elsewhere) == ["agent.state"]


async def test_a_detached_desk_receives_nothing_more_and_leaves_no_index_behind() -> None:
    hub = Hub(MemoryEventLog(100), wait_s=0.05)
    dana, noa = Subscriber(Viewer(7, TENANT, False)), Subscriber(Viewer(1, TENANT, True))
    await hub.attach(dana)
    await hub.attach(noa)
    await hub.detach(dana)
    try:
        await deliver(hub, sample("call.offered", TENANT, Audience(agents=(7,))))
    finally:
        await hub.detach(noa)

    assert received(dana) == [] and hub.connections() == 0
    assert hub._by_user == {} and hub._supervisors == {}


@pytest.mark.parametrize("turns", range(3))
async def test_the_last_desk_leaving_as_an_event_arrives_stops_the_tenants_reader(
    turns: int,
) -> None:
    # The reader is cancelled as it is woken by the event. Python 3.11's `asyncio.wait_for`
    # dropped such a cancellation: the reader read on for ever and the desk's leaving hung.
    hub = Hub(MemoryEventLog(100), wait_s=10)
    dana = Subscriber(Viewer(7, TENANT, False))
    await hub.attach(dana)
    await hub.publish(sample("call.offered", TENANT, Audience(agents=(7,))))
    for _ in range(turns):
        await asyncio.sleep(0)

    reader = hub._readers[TENANT]

    leaving = asyncio.create_task(hub.detach(dana))
    done, _ = await asyncio.wait({leaving}, timeout=2)

    if not done:  # the reader never stopped: stop it here so the test run can end
        leaving.cancel()
        reader.cancel()
    assert done and reader.cancelled() and hub.connections() == 0


async def test_watchers_see_every_event_followed_and_a_failing_one_stops_no_delivery() -> None:
    hub = Hub(MemoryEventLog(100), wait_s=0.05)
    seen: list[tuple[int, str]] = []

    def failing(tenant: int, event: DeskEvent) -> None:
        raise RuntimeError("a watcher's bug")

    hub.watch(failing)
    hub.watch(lambda tenant, event: seen.append((tenant, event.type)))
    dana = Subscriber(Viewer(7, TENANT, False))
    await hub.attach(dana)
    try:
        await deliver(hub, sample("call.offered", TENANT, Audience(agents=(8,))),
                      sample("agent.state", TENANT, Audience(agents=(7,))))  # fmt: skip
    finally:
        await hub.close()

    assert seen == [(TENANT, "call.offered"), (TENANT, "agent.state"), (TENANT, MARKER)]
    assert received(dana) == ["agent.state"]  # delivered despite the failing watcher
