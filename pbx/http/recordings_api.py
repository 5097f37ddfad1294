"""Recordings: playback for those allowed to hear them, legal holds, retention.

Supervisors and admins may play any recording of their business; an agent only those of
their own calls, and only when `recordings.agents_play_own` is on (`recordings.playback`
holds these rules). Every playback link handed out is audited. From S3 the link is a
short-lived presigned URL; from the local folder it is this API's `/audio`, streamed with
HTTP range support (seeking in a player).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from aiohttp import web

from pbx.auth.roles import Role
from pbx.db.models import Recording
from pbx.http.api import Api, ApiCall, ApiError, conflict, not_found
from pbx.http.context import context
from pbx.http.schemas import (
    LegalHoldIn,
    LegalHoldList,
    LegalHoldOut,
    PlaybackOut,
    RecordingList,
    RecordingOut,
    RetentionIn,
    RetentionOut,
)
from recordings import holds, pauses, playback
from recordings.local_store import LocalFolderStore
from recordings.retention import set_retention, tenant_retention


@contextmanager
def _refusals() -> Iterator[None]:
    """The recordings services' refusals as status codes: the one place they are mapped."""
    try:
        yield
    except playback.NotFound as exc:
        raise not_found(exc.what) from None
    except playback.NotYours as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except playback.Purged as exc:
        raise ApiError(410, "gone", str(exc)) from None
    except playback.NotStored as exc:
        raise conflict(str(exc)) from None
    except holds.HoldTargetNotFound:
        raise not_found("call or customer") from None
    except holds.HoldNotFound:
        raise not_found("legal hold") from None
    except holds.HoldAlreadyReleased:
        raise conflict("the legal hold was released already") from None


def _listener(call: ApiCall) -> playback.Listener:
    p = call.principal
    return playback.Listener(p.user_id, p.at_least(Role.SUPERVISOR),
                             context(call.request).agents_play_own)  # fmt: skip


async def _playable(call: ApiCall) -> Recording:
    """The recording, if it is stored and this user may hear it."""
    recording_id = call.path_int("recording_id")
    with _refusals():
        async with context(call.request).database.tenant_session(
            call.principal.tenant_id
        ) as session:  # fmt: skip
            return await playback.playable(session, recording_id, _listener(call))


def _out(recording: Recording) -> RecordingOut:
    offsets = []
    if recording.started_at is not None:
        offsets = pauses.offsets(recording.pauses, started_at=recording.started_at,
                                 ended_at=recording.ended_at)  # fmt: skip
    return RecordingOut(
        id=recording.id, call_id=recording.call_id, status=recording.status,
        format=recording.format, duration_ms=recording.duration_ms,
        started_at=recording.started_at, stored_at=recording.stored_at,
        expires_at=recording.expires_at,
        pauses=[{"start_ms": p.start_ms, "end_ms": p.end_ms, "reason": p.reason} for p in offsets],
    )  # fmt: skip


def register(api: Api) -> None:
    _register_playback(api)
    _register_holds(api)
    _register_retention(api)


def _register_playback(api: Api) -> None:
    @api.operation("GET", "/calls/{record_id}/recordings", summary="A call's recordings, "
                   "with their pauses", response=RecordingList, tag="recordings",
                   errors=(404,))  # fmt: skip
    async def call_recordings(call: ApiCall) -> RecordingList:
        ctx, record_id = context(call.request), call.path_int("record_id")
        with _refusals():
            async with ctx.database.tenant_session(call.principal.tenant_id) as session:
                rows = await playback.call_recordings(session, record_id, _listener(call))
                return RecordingList(items=[_out(row) for row in rows])

    @api.operation("GET", "/recordings/{recording_id}/playback", summary="A short-lived link "
                   "to play the recording (audited)", response=PlaybackOut, tag="recordings",
                   errors=(404, 409, 410))  # fmt: skip
    async def recording_playback(call: ApiCall) -> PlaybackOut:
        recording = await _playable(call)
        ctx = context(call.request)
        seconds = ctx.playback_url_seconds
        assert ctx.recordings is not None and recording.object_key is not None
        url = await ctx.recordings.playback_url(recording.object_key, expires_in=seconds)
        if url is None:  # the local folder: streamed by this API
            url = f"/api/v1/recordings/{recording.id}/audio"
        tenant = call.principal.tenant_id
        async with ctx.database.tenant_session(tenant) as session, session.begin():
            playback.record_playback(session, tenant_id=tenant, actor=call.principal,
                                     recording=recording)  # fmt: skip
        expires = datetime.now(UTC) + timedelta(seconds=seconds)
        return PlaybackOut(url=url, expires_at=expires, content_type=recording.content_type)

    @api.operation("GET", "/recordings/{recording_id}/audio", summary="The recording's audio "
                   "from the local folder store (HTTP range requests supported)",
                   tag="recordings", errors=(404, 409, 410))  # fmt: skip
    async def recording_audio(call: ApiCall) -> web.StreamResponse:
        recording = await _playable(call)
        store = context(call.request).recordings
        if not isinstance(store, LocalFolderStore) or recording.object_key is None:
            raise not_found("audio here (play it through its playback link)")
        path = store.path_of(recording.object_key)
        headers = {
            "Cache-Control": "private, no-store",
            "Content-Type": recording.content_type or "application/octet-stream",
        }
        return web.FileResponse(path, headers=headers)


def _register_holds(api: Api) -> None:
    @api.operation("GET", "/legal-holds", summary="Legal holds in force", role=Role.SUPERVISOR,
                   response=LegalHoldList, tag="recordings")  # fmt: skip
    async def list_legal_holds(call: ApiCall) -> LegalHoldList:
        ctx = context(call.request)
        async with ctx.database.tenant_session(call.principal.tenant_id) as session:
            rows = await holds.live_holds(session)
        return LegalHoldList(items=[LegalHoldOut.model_validate(row) for row in rows])

    @api.operation("POST", "/legal-holds", summary="Keep a call's or a customer's recordings "
                   "past their retention (audited)", role=Role.SUPERVISOR, body=LegalHoldIn,
                   response=LegalHoldOut, status=201, tag="recordings",
                   errors=(404, 422))  # fmt: skip
    async def place_legal_hold(call: ApiCall) -> LegalHoldOut:
        body: LegalHoldIn = call.body
        ctx, tenant = context(call.request), call.principal.tenant_id
        with _refusals():
            async with ctx.database.tenant_session(tenant) as session, session.begin():
                hold = await holds.place_hold(
                    session, tenant, call_id=body.call_id, customer_id=body.customer_id,
                    reason=body.reason, by=call.principal, now=datetime.now(UTC),
                )  # fmt: skip
                return LegalHoldOut.model_validate(hold)

    @api.operation("DELETE", "/legal-holds/{hold_id}", summary="Release a legal hold "
                   "(audited)", role=Role.SUPERVISOR, status=204, tag="recordings",
                   errors=(404, 409))  # fmt: skip
    async def release_legal_hold(call: ApiCall) -> None:
        ctx, tenant = context(call.request), call.principal.tenant_id
        hold_id = call.path_int("hold_id")
        with _refusals():
            async with ctx.database.tenant_session(tenant) as session, session.begin():
                await holds.release_hold(session, tenant, hold_id, by=call.principal,
                                         now=datetime.now(UTC))  # fmt: skip


def _register_retention(api: Api) -> None:
    @api.operation("GET", "/admin/retention", summary="How long recordings are kept",
                   role=Role.ADMIN, response=RetentionOut, tag="recordings")  # fmt: skip
    async def get_retention(call: ApiCall) -> RetentionOut:
        ctx, tenant = context(call.request), call.principal.tenant_id
        async with ctx.database.tenant_session(tenant) as session:
            return RetentionOut(days=await tenant_retention(session, tenant))

    @api.operation("PUT", "/admin/retention", summary="Keep recordings this many days after "
                   "they are stored (null: for ever); audited", role=Role.ADMIN,
                   body=RetentionIn, response=RetentionOut, tag="recordings")  # fmt: skip
    async def put_retention(call: ApiCall) -> RetentionOut:
        body: RetentionIn = call.body
        ctx, tenant = context(call.request), call.principal.tenant_id
        async with ctx.database.tenant_session(tenant) as session, session.begin():
            await set_retention(session, tenant, body.days, by=call.principal,
                                now=datetime.now(UTC))  # fmt: skip
        return RetentionOut(days=body.days)
