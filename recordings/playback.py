"""Who may hear a recording, and the audit of every playback link handed out.

Supervisors and admins hear any recording of their business; an agent only those of their
own calls, and only where the business lets agents play their own (`agents_play_own`).
A recording is played once it is stored, never after retention purged it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.audit import Actor, Target, record
from pbx.db.models import Call, Recording


class PlaybackRefused(Exception):
    """Why a recording (or a call's list of them) is not handed out."""


class NotFound(PlaybackRefused):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class NotYours(PlaybackRefused):
    """An agent asking for another's call, or for a recording they may not play."""


class Purged(PlaybackRefused):
    def __init__(self) -> None:
        super().__init__("the recording was deleted when its retention ended")


class NotStored(PlaybackRefused):
    def __init__(self, status: str) -> None:
        super().__init__(f"the recording is {status}, not stored yet")
        self.status = status


@dataclass(frozen=True)
class Listener:
    """Who asks: their user id, whether they supervise, and whether their business lets
    agents play the recordings of their own calls."""

    user_id: int | None
    supervises: bool
    agents_play_own: bool = False


async def playable(session: AsyncSession, recording_id: int, listener: Listener) -> Recording:
    """The recording, if it is stored and the listener may hear it."""
    recording = await session.get(Recording, recording_id)
    if recording is None:
        raise NotFound("recording")
    if not listener.supervises:
        own = listener.agents_play_own and recording.agent_id == listener.user_id
        if not own:
            raise NotYours("only supervisors may play this recording")
    if recording.status == "purged":
        raise Purged()
    if recording.status != "stored" or not recording.object_key:
        raise NotStored(recording.status)
    return recording


async def call_recordings(
    session: AsyncSession, call_record_id: int, listener: Listener
) -> list[Recording]:
    """A logged call's recordings, oldest first: a supervisor's for any call, an agent's for
    their own calls."""
    logged = await session.get(Call, call_record_id)
    if logged is None:
        raise NotFound("call")
    if not listener.supervises and logged.agent_id != listener.user_id:
        raise NotYours("this is not your call")
    rows = await session.scalars(
        select(Recording).where(Recording.call_id == call_record_id).order_by(Recording.id)
    )
    return list(rows)


def record_playback(
    session: AsyncSession, *, tenant_id: int, actor: Actor, recording: Recording
) -> None:
    """A playback link was handed out: audited in the session's transaction."""
    record(session, tenant_id=tenant_id, actor=actor, action="recording.playback",
           target=Target("recording", recording.id),
           details={"call_id": recording.call_id})  # fmt: skip
