"""`AriClient`: one documented, typed method per ARI operation Ledgerline uses.

Each method names its operation in `pbx.ari.rest.OPERATIONS` and passes the spec's own
parameter names; answers come back as the snapshots in `pbx.ari.events`. Failures raise the
typed errors in `pbx.ari.errors` (`AriNotFound` when the channel has already hung up).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import aiohttp

from pbx.ari.errors import AriProtocolError, MalformedEvent
from pbx.ari.events import (
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    Sound,
    StoredRecording,
    decode,
    parse_time,
)
from pbx.ari.rest import AriRest

T = TypeVar("T")

Direction = Literal["in", "out", "both"]
SpyDirection = Literal["none", "in", "out", "both"]

MAX_RECORDING_BYTES = 512 * 1024 * 1024  # about 9 hours of 8 kHz 16-bit WAV


@dataclass(frozen=True)
class AsteriskInfo:
    version: str | None
    entity_id: str | None
    startup_time: datetime | None


@dataclass(frozen=True)
class Application:
    name: str
    channel_ids: tuple[str, ...]
    bridge_ids: tuple[str, ...]


class AriClient:
    """ARI REST for one Asterisk and one Stasis app (`app` is the default for originate)."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        app: str,
        *,
        http: aiohttp.ClientSession | None = None,
        request_timeout: float = 5.0,
    ) -> None:
        self.app = app
        self.rest = AriRest(url, username, password, http=http, request_timeout=request_timeout)

    @property
    def url(self) -> str:
        return self.rest.url

    def __repr__(self) -> str:
        return f"AriClient({self.url!r}, app={self.app!r})"

    def guard_changes(self, check: Callable[[], Awaitable[None]] | None) -> None:
        """Await `check` before every operation that changes something on Asterisk (every
        method but GET); it raises to refuse the operation. The call flow fences its owner
        this way (`pbx.callflow.fencing`): a stale owner acts on nothing."""
        self.rest.before_change = check

    async def close(self) -> None:
        await self.rest.close()

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _typed(
        self, cls: type[T], operation: str, path: Mapping[str, str], /, **query: Any
    ) -> T:
        return _as(cls, await self.rest.call(operation, path, **query), operation)

    async def _typed_list(self, cls: type[T], name: str) -> list[T]:
        answer = await self.rest.call(name)
        if not isinstance(answer, list):
            raise AriProtocolError(f"{name}: expected a list")
        return [_as(cls, item, name) for item in answer]

    # --- Asterisk and the application ---------------------------------------------------

    async def asterisk_info(self, only: Sequence[str] | None = None) -> AsteriskInfo:
        """Version and start time: a cheap "is Asterisk there" probe."""
        info = await self.rest.call("asterisk.getInfo", only=only)
        if not isinstance(info, dict):
            raise AriProtocolError("asterisk.getInfo: expected an AsteriskInfo")
        system, status = info.get("system") or {}, info.get("status") or {}
        started = status.get("startup_time")
        return AsteriskInfo(
            version=system.get("version"),
            entity_id=system.get("entity_id"),
            startup_time=_startup_time(started),
        )

    async def get_application(self, name: str | None = None) -> Application:
        """The Stasis app (ours by default) with the channels and bridges it holds."""
        answer = await self.rest.call("applications.get", {"applicationName": name or self.app})
        return _application(answer, "applications.get")

    async def filter_events(
        self, allowed: Sequence[str] = (), disallowed: Sequence[str] = ()
    ) -> Application:
        """Have Asterisk send our app only the `allowed` event types (every type if none),
        never a `disallowed` one: an event no handler reads is then never built, sent or
        parsed (a call brings some forty, most of them ChannelVarset). Asterisk 13.26+."""
        body = {
            "allowed": [{"type": name} for name in allowed],
            "disallowed": [{"type": name} for name in disallowed],
        }
        app = {"applicationName": self.app}
        answer = await self.rest.call("applications.filter", app, body=body)
        return _application(answer, "applications.filter")

    # --- channels -----------------------------------------------------------------------

    async def list_channels(self) -> list[Channel]:
        """Every channel on Asterisk (used to reconcile after a reconnect)."""
        return await self._typed_list(Channel, "channels.list")

    async def get_channel(self, channel_id: str) -> Channel:
        return await self._typed(Channel, "channels.get", {"channelId": channel_id})

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | None = None,
        caller_id: str | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 - ARI's ring time in seconds
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """Call `endpoint` (e.g. PJSIP/1001); when answered it enters Stasis(app, app_args).
        `app_args` is comma-separated as Stasis() takes it; `timeout` is ring seconds."""
        return await self._typed(
            Channel,
            "channels.originate",
            {},
            endpoint=endpoint,
            app=app or self.app,
            appArgs=app_args,
            callerId=caller_id,
            timeout=timeout,
            channelId=channel_id,
            otherChannelId=other_channel_id,
            body=variables,
        )

    async def create_channel(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """Create a channel in Stasis without dialling it; `dial` rings it later."""
        return await self._typed(
            Channel,
            "channels.create",
            {},
            endpoint=endpoint,
            app=app or self.app,
            appArgs=app_args,
            channelId=channel_id,
            otherChannelId=other_channel_id,
            originator=originator,
            formats=formats,
            body=variables,
        )

    async def dial(
        self,
        channel_id: str,
        *,
        caller: str | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 - ARI's ring time in seconds
    ) -> None:
        """Ring a channel made by `create_channel`."""
        await self.rest.call(
            "channels.dial", {"channelId": channel_id}, caller=caller, timeout=timeout
        )

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """Hang up; `reason` is ARI's (normal, busy, congestion, no_answer, ...)."""
        await self.rest.call("channels.hangup", {"channelId": channel_id}, reason=reason)

    async def answer(self, channel_id: str) -> None:
        await self.rest.call("channels.answer", {"channelId": channel_id})

    async def ring(self, channel_id: str) -> None:
        """Play ringing to the caller while we look for an agent."""
        await self.rest.call("channels.ring", {"channelId": channel_id})

    async def ring_stop(self, channel_id: str) -> None:
        await self.rest.call("channels.ringStop", {"channelId": channel_id})

    async def send_dtmf(
        self,
        channel_id: str,
        dtmf: str,
        *,
        before: int | None = None,
        between: int | None = None,
        duration: int | None = None,
        after: int | None = None,
    ) -> None:
        """Send DTMF into the channel; times in milliseconds."""
        await self.rest.call(
            "channels.sendDTMF",
            {"channelId": channel_id},
            dtmf=dtmf,
            before=before,
            between=between,
            duration=duration,
            after=after,
        )

    async def mute(self, channel_id: str, direction: Direction = "both") -> None:
        """Mute: `out` silences what the channel hears, `in` what it says."""
        await self.rest.call("channels.mute", {"channelId": channel_id}, direction=direction)

    async def unmute(self, channel_id: str, direction: Direction = "both") -> None:
        await self.rest.call("channels.unmute", {"channelId": channel_id}, direction=direction)

    async def hold(self, channel_id: str) -> None:
        await self.rest.call("channels.hold", {"channelId": channel_id})

    async def unhold(self, channel_id: str) -> None:
        await self.rest.call("channels.unhold", {"channelId": channel_id})

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self.rest.call("channels.startMoh", {"channelId": channel_id}, mohClass=moh_class)

    async def stop_moh(self, channel_id: str) -> None:
        await self.rest.call("channels.stopMoh", {"channelId": channel_id})

    async def play(
        self,
        channel_id: str,
        media: str | Sequence[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> Playback:
        """Play media URIs (sound:..., recording:..., tone:...) in order to the channel."""
        return await self._typed(
            Playback,
            "channels.play",
            {"channelId": channel_id},
            media=_media(media),
            playbackId=playback_id,
            lang=lang,
        )

    async def get_playback(self, playback_id: str) -> Playback:
        return await self._typed(Playback, "playbacks.get", {"playbackId": playback_id})

    async def stop_playback(self, playback_id: str) -> None:
        await self.rest.call("playbacks.stop", {"playbackId": playback_id})

    async def sounds(self, lang: str | None = None, format: str | None = None) -> list[Sound]:
        """The sounds Asterisk has (`sound:<id>`), only those in `lang` / `format` if given:
        a prompt missing here is silence (and a failed playback) on a call."""
        answer = await self.rest.call("sounds.list", lang=lang, format=format)
        if not isinstance(answer, list):
            raise AriProtocolError("sounds.list: expected a list")
        return [_as(Sound, item, "sounds.list") for item in answer]

    async def get_sound(self, sound_id: str) -> Sound:
        """One sound's languages and formats; `AriNotFound` if Asterisk has no such file."""
        return await self._typed(Sound, "sounds.get", {"soundId": sound_id})

    async def get_variable(self, channel_id: str, variable: str) -> str:
        """A channel variable or dialplan function, e.g. CUSTOMER_ID set by caller lookup."""
        answer = await self.rest.call(
            "channels.getChannelVar", {"channelId": channel_id}, variable=variable
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("value"), str):
            raise AriProtocolError("channels.getChannelVar: expected {value}")
        return answer["value"]

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self.rest.call(
            "channels.setChannelVar", {"channelId": channel_id}, variable=variable, value=value
        )

    async def snoop(
        self,
        channel_id: str,
        *,
        spy: SpyDirection | None = None,
        whisper: SpyDirection | None = None,
        app: str | None = None,
        app_args: str | None = None,
        snoop_id: str | None = None,
    ) -> Channel:
        """A snoop channel that listens to (`spy`) or talks into (`whisper`) the channel;
        each is "none" unless given, as in Asterisk."""
        return await self._typed(
            Channel,
            "channels.snoopChannel",
            {"channelId": channel_id},
            spy=spy,
            whisper=whisper,
            app=app or self.app,
            appArgs=app_args,
            snoopId=snoop_id,
        )

    async def record_channel(
        self,
        channel_id: str,
        name: str,
        *,
        format: str = "wav",
        max_duration_seconds: int | None = None,
        max_silence_seconds: int | None = None,
        if_exists: Literal["fail", "overwrite", "append"] | None = None,
        beep: bool | None = None,
        terminate_on: str | None = None,
    ) -> LiveRecording:
        """Start recording what the channel hears (on a snoop channel spying both ways: the
        whole conversation, following the caller from bridge to bridge)."""
        return await self._typed(
            LiveRecording,
            "channels.record",
            {"channelId": channel_id},
            name=name,
            format=format,
            maxDurationSeconds=max_duration_seconds,
            maxSilenceSeconds=max_silence_seconds,
            ifExists=if_exists,
            beep=beep,
            terminateOn=terminate_on,
        )

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        """Leave Stasis and carry on in the dialplan (e.g. a voicemail fallback)."""
        await self.rest.call(
            "channels.continueInDialplan",
            {"channelId": channel_id},
            context=context,
            extension=extension,
            priority=priority,
            label=label,
        )

    async def redirect(self, channel_id: str, endpoint: str) -> None:
        """Blind-transfer the channel to another endpoint."""
        await self.rest.call("channels.redirect", {"channelId": channel_id}, endpoint=endpoint)

    # --- bridges ------------------------------------------------------------------------

    async def list_bridges(self) -> list[Bridge]:
        return await self._typed_list(Bridge, "bridges.list")

    async def create_bridge(
        self, type: str = "mixing", *, bridge_id: str | None = None, name: str | None = None
    ) -> Bridge:
        """A bridge; `type` is a comma-separated list (mixing, holding, dtmf_events, ...)."""
        return await self._typed(
            Bridge, "bridges.create", {}, type=type, bridgeId=bridge_id, name=name
        )

    async def get_bridge(self, bridge_id: str) -> Bridge:
        return await self._typed(Bridge, "bridges.get", {"bridgeId": bridge_id})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.rest.call("bridges.destroy", {"bridgeId": bridge_id})

    async def add_channel(
        self,
        bridge_id: str,
        channel_ids: str | Sequence[str],
        *,
        role: str | None = None,
        mute: bool | None = None,
        absorb_dtmf: bool | None = None,
    ) -> None:
        """Put channels into the bridge; `absorb_dtmf` keeps their digits from the others."""
        await self.rest.call(
            "bridges.addChannel",
            {"bridgeId": bridge_id},
            channel=_ids(channel_ids),
            role=role,
            mute=mute,
            absorbDTMF=absorb_dtmf,
        )

    async def remove_channel(self, bridge_id: str, channel_ids: str | Sequence[str]) -> None:
        await self.rest.call(
            "bridges.removeChannel", {"bridgeId": bridge_id}, channel=_ids(channel_ids)
        )

    async def bridge_start_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        await self.rest.call("bridges.startMoh", {"bridgeId": bridge_id}, mohClass=moh_class)

    async def bridge_stop_moh(self, bridge_id: str) -> None:
        await self.rest.call("bridges.stopMoh", {"bridgeId": bridge_id})

    async def bridge_play(
        self,
        bridge_id: str,
        media: str | Sequence[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> Playback:
        """Play media to everyone in the bridge."""
        return await self._typed(
            Playback,
            "bridges.play",
            {"bridgeId": bridge_id},
            media=_media(media),
            playbackId=playback_id,
            lang=lang,
        )

    async def record_bridge(
        self,
        bridge_id: str,
        name: str,
        *,
        format: str = "wav",
        max_duration_seconds: int | None = None,
        max_silence_seconds: int | None = None,
        if_exists: Literal["fail", "overwrite", "append"] | None = None,
        beep: bool | None = None,
        terminate_on: str | None = None,
    ) -> LiveRecording:
        """Start recording the bridge's mix as `name` (stored under that name when done)."""
        return await self._typed(
            LiveRecording,
            "bridges.record",
            {"bridgeId": bridge_id},
            name=name,
            format=format,
            maxDurationSeconds=max_duration_seconds,
            maxSilenceSeconds=max_silence_seconds,
            ifExists=if_exists,
            beep=beep,
            terminateOn=terminate_on,
        )

    # --- recordings ---------------------------------------------------------------------

    async def get_live_recording(self, name: str) -> LiveRecording:
        return await self._typed(LiveRecording, "recordings.getLive", {"recordingName": name})

    async def stop_recording(self, name: str) -> None:
        """Stop and keep the recording (it becomes a stored recording)."""
        await self.rest.call("recordings.stop", {"recordingName": name})

    async def cancel_recording(self, name: str) -> None:
        """Stop and discard the recording."""
        await self.rest.call("recordings.cancel", {"recordingName": name})

    async def pause_recording(self, name: str) -> None:
        """Pause: the paused time is cut out of the file (e.g. during card capture)."""
        await self.rest.call("recordings.pause", {"recordingName": name})

    async def unpause_recording(self, name: str) -> None:
        await self.rest.call("recordings.unpause", {"recordingName": name})

    async def mute_recording(self, name: str) -> None:
        """Mute: the muted time is kept in the file as silence."""
        await self.rest.call("recordings.mute", {"recordingName": name})

    async def unmute_recording(self, name: str) -> None:
        await self.rest.call("recordings.unmute", {"recordingName": name})

    async def list_stored(self) -> list[StoredRecording]:
        return await self._typed_list(StoredRecording, "recordings.listStored")

    async def get_stored(self, name: str) -> StoredRecording:
        return await self._typed(StoredRecording, "recordings.getStored", {"recordingName": name})

    async def delete_stored(self, name: str) -> None:
        await self.rest.call("recordings.deleteStored", {"recordingName": name})

    async def download_stored(
        self, name: str, *, max_bytes: int = MAX_RECORDING_BYTES, time_limit: float = 300.0
    ) -> bytes:
        """The stored recording's file; `AriProtocolError` if it is over `max_bytes`."""
        return await self.rest.download(
            "recordings.getStoredFile",
            {"recordingName": name},
            max_bytes=max_bytes,
            time_limit=time_limit,
        )

    # --- events socket ------------------------------------------------------------------

    async def connect_events(self, *, heartbeat: float) -> aiohttp.ClientWebSocketResponse:
        """Open the events WebSocket for our app (used by `AriConnection`)."""
        return await self.rest.websocket("events.eventWebsocket", heartbeat=heartbeat, app=self.app)


def _as(cls: type[T], answer: Any, name: str) -> T:
    try:
        return decode(cls, answer, name)
    except MalformedEvent as exc:  # a REST answer, not an event: re-raise as what it is
        raise AriProtocolError(exc.message) from None


def _startup_time(value: Any) -> datetime | None:
    try:
        return parse_time(value, "startup_time") if isinstance(value, str) else None
    except MalformedEvent:
        return None


def _media(media: str | Sequence[str]) -> str:
    return media if isinstance(media, str) else ",".join(media)


def _ids(channel_ids: str | Sequence[str]) -> str:
    return channel_ids if isinstance(channel_ids, str) else ",".join(channel_ids)


def _application(answer: Any, operation: str) -> Application:
    if not isinstance(answer, dict) or not isinstance(answer.get("name"), str):
        raise AriProtocolError(f"{operation}: expected an Application")
    return Application(
        name=answer["name"],
        channel_ids=tuple(answer.get("channel_ids") or ()),
        bridge_ids=tuple(answer.get("bridge_ids") or ()),
    )
