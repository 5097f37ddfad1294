"""Who may hear a recording: supervisors any, agents their own calls' where allowed."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from pbx.db.database import Database
from pbx.db.models import Call, Recording
from recordings.playback import (
    Listener,
    NotFound,
    NotStored,
    NotYours,
    Purged,
    call_recordings,
    playable,
)
from tests.recordings.support import make_admin, make_centre, make_recording, make_stored_recording


@pytest.fixture
async def tenant(database: Database) -> int:
    return await make_centre(database)


async def _agents_recording(database: Database, tenant: int) -> tuple[int, int]:
    """A stored recording of a call the agent took: (the agent's user id, the recording)."""
    agent = (await make_admin(database, tenant, "dana")).user_id
    recording_id = await make_stored_recording(database, tenant, expires_at=None)
    async with database.tenant_session(tenant) as session, session.begin():
        await session.execute(update(Recording).values(agent_id=agent))
        await session.execute(update(Call).values(agent_id=agent))
    return agent, recording_id


async def test_an_agent_plays_their_own_calls_recording_only_where_the_business_allows_it(
    database: Database, tenant: int
) -> None:
    agent, recording_id = await _agents_recording(database, tenant)

    async with database.tenant_session(tenant) as session:
        allowed = await playable(session, recording_id, Listener(agent, False, True))
        with pytest.raises(NotYours):
            await playable(session, recording_id, Listener(agent, False, False))
        with pytest.raises(NotYours):
            await playable(session, recording_id, Listener(agent + 1, False, True))
        supervised = await playable(session, recording_id, Listener(agent + 1, True))

    assert allowed.id == supervised.id == recording_id


async def test_a_purged_recording_is_gone_and_one_not_stored_yet_is_refused(
    database: Database, tenant: int
) -> None:
    _, recording_id = await _agents_recording(database, tenant)
    call_id = (await _recording_call(database, tenant, recording_id))
    pending = await make_recording(database, tenant, call_id)
    async with database.tenant_session(tenant) as session, session.begin():
        await session.execute(update(Recording).where(Recording.id == recording_id)
                              .values(status="purged"))  # fmt: skip

    boss = Listener(None, True)
    async with database.tenant_session(tenant) as session:
        with pytest.raises(Purged):
            await playable(session, recording_id, boss)
        with pytest.raises(NotStored, match="pending"):
            await playable(session, pending, boss)
        with pytest.raises(NotFound, match="recording"):
            await playable(session, pending + 1000, boss)


async def test_an_agent_lists_the_recordings_of_their_own_calls_only(
    database: Database, tenant: int
) -> None:
    agent, recording_id = await _agents_recording(database, tenant)
    call_id = await _recording_call(database, tenant, recording_id)

    async with database.tenant_session(tenant) as session:
        theirs = await call_recordings(session, call_id, Listener(agent, False))
        with pytest.raises(NotYours, match="not your call"):
            await call_recordings(session, call_id, Listener(agent + 1, False))
        with pytest.raises(NotFound, match="call"):
            await call_recordings(session, call_id + 1000, Listener(agent, True))

    assert [row.id for row in theirs] == [recording_id]


async def _recording_call(database: Database, tenant: int, recording_id: int) -> int:
    async with database.tenant_session(tenant) as session:
        row = await session.get(Recording, recording_id)
        assert row is not None
        return row.call_id
