"""Recording a call over ARI, from the moment the caller is in until the call ends.

The caller's channel is snooped both ways (`spy=both`) and the snoop channel is recorded:
the file is the whole conversation as the caller hears and speaks it, and it follows the
caller from the holding bridge to the agent's bridge and through transfers, which a bridge
recording would not. Asterisk ends the snoop, and with it the recording, when the caller
hangs up; `RecordingFinished` then hands the file to the pipeline (`recordings.pipeline`)
through its durable queue, in the same transaction that marks the row "pending".

The caller is told first (the route's recording notice), and the recording starts once the
notice has ended; whether it was played to its end is kept on the call's row
(`calls.recording_notice`: "played", or "failed" when Asterisk could not play it or the
caller hung up during it; a call never recorded keeps "none" from its arrival), so a
business can prove its callers were told.

Pauses (an agent's request, secure card capture) pause Asterisk's recording, so the paused
audio is never written, and are kept as intervals on the recording's row and audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from pbx.ari import AriClient, AriError, AriNotFound
from pbx.callflow.calls import FlowCall
from pbx.callflow.prompts_player import PlayOutcome, PromptsPlayer
from pbx.db.database import Database
from pbx.db.models import Call, Recording
from recordings import index, pauses
from recordings.jobs import RecordingJobs

log = logging.getLogger(__name__)

RECORDER_PREFIX = "ll-rec-"
RECORDER_ARGS = "ledgerline-recorder"
# How long `finish` waits before each new try when the database refused the file's hand-over
# (busy, away): about ten minutes in all, then the next connect's `settle` takes it.
FINISH_RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 120.0, 300.0)


def recorder_channel(call_id: str) -> str:
    """The snoop channel's id, named after its call so a restarted process knows it."""
    return f"{RECORDER_PREFIX}{call_id}"


def recording_name(record_id: int) -> str:
    """Asterisk's name for the file: the call's log row, made unique (never reused)."""
    return f"ledgerline-call{record_id}-{secrets.token_hex(4)}"


class RecordingUnavailable(Exception):
    """The call is not being recorded (or no longer), so it cannot be paused or resumed."""


class CallRecorder:
    def __init__(
        self,
        client: AriClient,
        database: Database,
        jobs: RecordingJobs,
        clock: Callable[[], datetime],
        *,
        node: str,
        player: PromptsPlayer,
        retry_s: Sequence[float] = FINISH_RETRY_S,
    ) -> None:
        self.client, self.database, self.jobs, self.clock = client, database, jobs, clock
        self.node = node  # kept on each row: the pipeline fetches the file from this node
        self.player = player
        self.retry_s = retry_s

    async def start(self, call: FlowCall, announcement: str | None) -> None:
        """Tell the caller (if `announcement`), keep whether they heard it, and start
        recording. A failure is logged and the call goes on unrecorded: refusing the caller
        service would be worse."""
        if call.recording is not None or call.caller_channel is None:
            return
        if announcement:
            heard = await self.player.play(call.caller_channel, announcement, lang=call.language)
            await self._notice(call, heard)
            if heard is PlayOutcome.HUNG_UP:
                return
        now = self.clock()
        name = recording_name(call.record_id)
        async with self.database.tenant_session(call.tenant_id) as session, session.begin():
            row = Recording(
                call_id=call.record_id, customer_id=call.customer_id, format="wav",
                status="recording", started_at=now, asterisk_name=name, node=self.node,
            )  # fmt: skip
            session.add(row)
            await session.flush()
            recording_id = row.id
        try:
            snoop = await self.client.snoop(
                call.caller_channel, spy="both", app_args=RECORDER_ARGS,
                snoop_id=recorder_channel(call.call_id),
            )  # fmt: skip
            await self.client.record_channel(snoop.id, name, format="wav", if_exists="fail")
        except AriError as exc:
            log.error("call %s not recorded: %s", call.call_id, exc)
            await self._set_status(call.tenant_id, recording_id, "failed", now)
            return
        call.recording, call.recording_id = name, recording_id

    async def stop(self, call: FlowCall) -> None:
        """Stop recording (the file is kept and goes to the pipeline)."""
        name, call.recording, call.recording_id = call.recording, None, None
        if name is None:
            return
        try:
            await self.client.stop_recording(name)
        except AriNotFound:
            pass  # it ended already (the caller hung up)
        except AriError as exc:
            log.warning("recording %s not stopped: %s", name, exc)
        with contextlib.suppress(AriError):  # gone with the caller
            await self.client.hangup(recorder_channel(call.call_id))

    async def pause(self, call: FlowCall, reason: str, by: index.Actor | None) -> None:
        """Pause the recording and keep the interval (audited); raises
        `RecordingUnavailable`, the index's `AlreadyPaused`, or an `AriError`."""
        name, recording_id = self._live(call)
        now = self.clock()
        if pauses.is_paused(await self._pauses(call, recording_id)):  # before touching Asterisk
            raise pauses.AlreadyPaused(f"recording {recording_id} is paused already")
        await self.client.pause_recording(name)  # Asterisk first: no lock held across it
        try:
            async with self.database.tenant_session(call.tenant_id) as session, session.begin():
                await index.record_pause(session, call.tenant_id, recording_id, at=now,
                                         reason=reason, by=by)  # fmt: skip
        except Exception:
            with contextlib.suppress(AriError):  # not kept: not paused either
                await self.client.unpause_recording(name)
            raise

    async def resume(self, call: FlowCall, by: index.Actor | None) -> None:
        name, recording_id = self._live(call)
        now = self.clock()
        if not pauses.is_paused(await self._pauses(call, recording_id)):
            raise pauses.NotPaused(f"recording {recording_id} is not paused")
        await self.client.unpause_recording(name)
        async with self.database.tenant_session(call.tenant_id) as session, session.begin():
            await index.record_resume(session, call.tenant_id, recording_id, at=now, by=by)

    async def _pauses(self, call: FlowCall, recording_id: int) -> list[Any]:
        query = select(Recording.pauses).where(Recording.id == recording_id)
        async with self.database.tenant_autocommit(call.tenant_id) as session:
            return list(await session.scalar(query) or [])

    async def finish(self, name: str, *, failed: bool = False) -> None:
        """`finished`, tried again while the database refuses it (locked, restarting, away):
        without this the file waited in "recording" until the next ARI connect's `settle`.
        Run in a task of its own, so the call flow's events do not wait for the database."""
        for delay in (*self.retry_s, None):
            try:
                await self.finished(name, failed=failed)
                return
            except (SQLAlchemyError, OSError) as exc:
                if delay is None:
                    log.error("recording %s not handed to the pipeline (%s): the next ARI "
                              "connect settles it", name, exc)  # fmt: skip
                    return
                log.warning("recording %s not handed to the pipeline yet (%s); again in %g s",
                            name, exc, delay)  # fmt: skip
                await asyncio.sleep(delay)

    async def finished(self, name: str, *, failed: bool = False) -> None:
        """Asterisk finished (or failed) writing the file `name`: queue it for the pipeline
        together with the row's move to "pending"; the call's agent is the one it logged."""
        now = self.clock()
        async with self.database.system_session() as session, session.begin():
            row = await session.scalar(
                select(Recording).where(Recording.asterisk_name == name).with_for_update()
            )
            if row is None or row.status not in ("recording", "finishing"):
                return  # not ours, or handled already (events are delivered again on resync)
            row.ended_at = now
            if pauses.is_paused(row.pauses):  # ended while paused: the pause ends with it
                row.pauses = pauses.close_pause(row.pauses, at=now)
            row.agent_id = await session.scalar(select(Call.agent_id).where(Call.id == row.call_id))
            if failed:
                row.status = "failed"
                log.error("Asterisk failed recording %s (call %s)", name, row.call_id)
                return
            row.status = "pending"
            await self.jobs.enqueue(row.tenant_id, row.id, now=now, session=session)

    async def settle(self, live: set[str]) -> None:
        """After a (re)connect: recordings whose end we missed (this process was down when
        Asterisk finished them) go to the pipeline now; `live` are the calls' recordings."""
        async with self.database.system_session() as session:
            names = list(await session.scalars(
                select(Recording.asterisk_name).where(Recording.status == "recording")
            ))  # fmt: skip
        for name in names:
            if name in live:
                continue
            try:
                await self.client.get_live_recording(name)
                continue  # still being written: its RecordingFinished will come
            except AriNotFound:
                pass
            except AriError as exc:
                log.warning("recording %s not settled now: %s", name, exc)
                continue
            await self.finished(name)  # if Asterisk has no file either, the pipeline says so

    async def _notice(self, call: FlowCall, heard: PlayOutcome) -> None:
        notice = "played" if heard is PlayOutcome.DONE else "failed"
        call.recording_notice = notice
        if notice == "failed":
            log.warning("call %s: the recording notice was not played to the caller (%s)",
                        call.call_id, heard)  # fmt: skip
        async with self.database.tenant_session(call.tenant_id) as session, session.begin():
            await session.execute(
                update(Call).where(Call.id == call.record_id).values(recording_notice=notice)
                .execution_options(synchronize_session=False)
            )  # fmt: skip

    def _live(self, call: FlowCall) -> tuple[str, int]:
        if call.recording is None or call.recording_id is None:
            raise RecordingUnavailable(f"call {call.call_id} is not being recorded")
        return call.recording, call.recording_id

    async def _set_status(
        self, tenant_id: int, recording_id: int, status: str, now: datetime
    ) -> None:
        async with self.database.tenant_session(tenant_id) as session, session.begin():
            await session.execute(
                update(Recording).where(Recording.id == recording_id)
                .values(status=status, ended_at=now)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
