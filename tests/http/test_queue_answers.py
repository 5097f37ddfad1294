"""A queue is answered as stored: a row made outside the API (the seeder, an older version,
SQL) whose name or thresholds the API would refuse today is still listed and read, never a
server error."""

from __future__ import annotations

from pbx.db.models import Queue
from pbx.http.schemas import QueueIn, QueueOut
from tests.http.conftest import Site
from tests.http.support import ApiClient


async def test_a_stored_queue_the_api_would_refuse_is_still_listed_and_read(
    site: Site, admin: ApiClient
) -> None:
    world = site.world
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        queue = Queue(name="Front Desk", strategy="linear", ring_timeout_seconds=5,
                      board_wait_amber_seconds=120, board_wait_red_seconds=60)  # fmt: skip
        session.add(queue)
        await session.flush()
        queue_id = queue.id

    status, listed = await admin.call("GET", "/queues")
    assert status == 200, listed
    [row] = [item for item in listed["items"] if item["id"] == queue_id]
    assert (row["name"], row["board_wait_red_seconds"]) == ("Front Desk", 60)
    status, read = await admin.call("GET", f"/queues/{queue_id}")
    assert status == 200 and read == row
    status, refused = await admin.call("PUT", f"/queues/{queue_id}", {
        "name": "Front Desk", "strategy": "linear", "ring_timeout_seconds": 5})  # fmt: skip
    assert status == 422, refused  # a change is held to today's rules


def test_the_answer_names_every_field_a_queue_is_given_by() -> None:
    assert set(QueueOut.model_fields) == set(QueueIn.model_fields) | {"id"}
