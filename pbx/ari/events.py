"""Typed ARI events and the object snapshots they carry, decoded from events-socket JSON.

Every dataclass field is named exactly as in Asterisk's api-docs (events.json and the
channels/bridges/playbacks/recordings models), so one generic decoder reads them all and a
test checks the names against the spec. A field without a default is required: if Asterisk
omits it the frame is a `MalformedEvent`, which the reader logs and skips.

Error messages name the field, never its value: DTMF digits (a card number during secure
capture) must not reach a log through a decoding error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import datetime
from functools import cache
from typing import Any, ClassVar, TypeVar, get_args, get_origin, get_type_hints

from pbx.ari.errors import MalformedEvent
from pbx.type_hints import without_none

T = TypeVar("T")

_frozen = dataclass(frozen=True, kw_only=True)

# --- snapshots of Asterisk objects ----------------------------------------------------------


@_frozen
class CallerId:
    ari_model: ClassVar[str] = "CallerID"
    name: str
    number: str


@_frozen
class DialplanCep:
    ari_model: ClassVar[str] = "DialplanCEP"
    context: str
    exten: str
    priority: int
    # Required in Asterisk 22, absent before 16: tolerate their absence.
    app_name: str = ""
    app_data: str = ""


@_frozen
class Channel:
    ari_model: ClassVar[str] = "Channel"
    id: str
    name: str
    state: str
    caller: CallerId
    connected: CallerId
    dialplan: DialplanCep
    creationtime: datetime
    language: str
    protocol_id: str = ""
    accountcode: str = ""
    channelvars: Mapping[str, Any] | None = None


@_frozen
class Bridge:
    ari_model: ClassVar[str] = "Bridge"
    id: str
    technology: str
    bridge_type: str
    bridge_class: str
    creator: str
    name: str
    channels: tuple[str, ...]
    creationtime: datetime | None = None
    video_mode: str | None = None


@_frozen
class Playback:
    ari_model: ClassVar[str] = "Playback"
    id: str
    media_uri: str
    target_uri: str
    state: str
    language: str | None = None
    next_media_uri: str | None = None


@_frozen
class LiveRecording:
    ari_model: ClassVar[str] = "LiveRecording"
    name: str
    format: str
    state: str
    target_uri: str
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str | None = None


@_frozen
class StoredRecording:
    ari_model: ClassVar[str] = "StoredRecording"
    name: str
    format: str


@_frozen
class FormatLangPair:
    ari_model: ClassVar[str] = "FormatLangPair"
    language: str
    format: str


@_frozen
class Sound:
    """A sound file Asterisk can play (`sound:<id>`), in the languages and formats it has."""

    ari_model: ClassVar[str] = "Sound"
    id: str
    formats: tuple[FormatLangPair, ...]
    text: str | None = None

    def in_language(self, language: str) -> bool:
        return any(pair.language == language for pair in self.formats)


# --- events -------------------------------------------------------------------------------


@_frozen
class Event:
    """What every ARI event carries; `type` is the event's name in events.json."""

    application: str
    timestamp: datetime
    asterisk_id: str | None = None

    @property
    def type(self) -> str:
        return type(self).__name__


@_frozen
class StasisStart(Event):
    args: tuple[str, ...]
    channel: Channel
    replace_channel: Channel | None = None


@_frozen
class StasisEnd(Event):
    channel: Channel


@_frozen
class ChannelStateChange(Event):
    channel: Channel


@_frozen
class ChannelDtmfReceived(Event):
    digit: str = field(repr=False)  # may be a card digit: keep it out of logs
    duration_ms: int
    channel: Channel


@_frozen
class ChannelHangupRequest(Event):
    channel: Channel
    cause: int | None = None
    tech_cause: int | None = None
    soft: bool = False


@_frozen
class ChannelDestroyed(Event):
    cause: int
    cause_txt: str
    channel: Channel
    tech_cause: int | None = None


@_frozen
class ChannelEnteredBridge(Event):
    bridge: Bridge
    channel: Channel | None = None


@_frozen
class ChannelLeftBridge(Event):
    bridge: Bridge
    channel: Channel


@_frozen
class ChannelVarset(Event):
    variable: str
    value: str
    channel: Channel | None = None  # None for a global variable


@_frozen
class ChannelHold(Event):
    channel: Channel
    musicclass: str | None = None


@_frozen
class ChannelUnhold(Event):
    channel: Channel


@_frozen
class Dial(Event):
    peer: Channel
    dialstatus: str
    caller: Channel | None = None
    dialstring: str | None = None
    forward: str | None = None
    forwarded: Channel | None = None


@_frozen
class BridgeCreated(Event):
    bridge: Bridge


@_frozen
class BridgeDestroyed(Event):
    bridge: Bridge


@_frozen
class PlaybackStarted(Event):
    playback: Playback


@_frozen
class PlaybackFinished(Event):
    playback: Playback


@_frozen
class RecordingStarted(Event):
    recording: LiveRecording


@_frozen
class RecordingFinished(Event):
    recording: LiveRecording


@_frozen
class RecordingFailed(Event):
    recording: LiveRecording


@_frozen
class ApplicationReplaced(Event):
    """Another WebSocket took our Stasis app over: this socket gets no more of its events."""


@_frozen
class UnknownEvent:
    """An event type Ledgerline does not use, kept with its name; consumers skip it."""

    event_type: str
    raw: Mapping[str, Any]

    @property
    def type(self) -> str:
        return self.event_type


EVENT_TYPES: Mapping[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        StasisStart,
        StasisEnd,
        ChannelStateChange,
        ChannelDtmfReceived,
        ChannelHangupRequest,
        ChannelDestroyed,
        ChannelEnteredBridge,
        ChannelLeftBridge,
        ChannelVarset,
        ChannelHold,
        ChannelUnhold,
        Dial,
        BridgeCreated,
        BridgeDestroyed,
        PlaybackStarted,
        PlaybackFinished,
        RecordingStarted,
        RecordingFinished,
        RecordingFailed,
        ApplicationReplaced,
    )
}


def parse_event(
    data: str | bytes | Mapping[str, Any], wanted: Container[str] | None = None
) -> Event | UnknownEvent | None:
    """One events-socket frame (text, bytes or already-decoded JSON) as a typed event; None
    for a known type not in `wanted` (when given; `ApplicationReplaced` is always wanted).

    Raises `MalformedEvent` if the frame is not a JSON object with a string `type`, or a
    known event lacks a required field or has one of the wrong kind.
    """
    message = _json_object(data)
    event_type = message.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent("event has no 'type'")
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        return UnknownEvent(event_type=event_type, raw=message)
    if wanted is not None and event_type not in wanted and cls is not ApplicationReplaced:
        return None
    return decode(cls, message, event_type)


def decode(cls: type[T], data: Any, where: str) -> T:
    """`data` (decoded JSON) as the dataclass `cls`; `where` names it in error messages."""
    if not isinstance(data, Mapping):
        raise MalformedEvent(f"{where}: expected an object")
    values: dict[str, Any] = {}
    for name, required, scalar, convert in _plan(cls):
        value = data.get(name)
        if value is None:
            if required:
                raise MalformedEvent(f"{where}.{name}: missing")
            continue
        # A scalar is checked here (JSON gives exactly str, int or bool; a bool is not an
        # int): most fields are, and a call's events have a few hundred of them.
        values[name] = value if type(value) is scalar else convert(value, where, name)
    return cls(**values)


def _json_object(data: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        # json's message gives a position, not the content
        raise MalformedEvent(f"frame is not JSON ({type(exc).__name__})") from None
    if not isinstance(message, dict):
        raise MalformedEvent("frame is not a JSON object")
    return message


# Converts one field's value: (value, where its object is, the field's name). The path for an
# error message is only put together when there is an error.
Converter = Callable[[Any, str, str], Any]


@cache
def _plan(cls: type) -> tuple[tuple[str, bool, type | None, Converter], ...]:
    """Each field of `cls` with whether it is required, its scalar type if it is one (a
    value of exactly that type is taken as it is) and its converter, worked out once per
    class: about thirty events a call are decoded on the path of every call."""
    hints = get_type_hints(cls)
    return tuple(
        (spec.name, spec.default is MISSING and spec.default_factory is MISSING,
         _scalar(hints[spec.name]), _converter(hints[spec.name]))
        for spec in fields(cls)
    )  # fmt: skip


def _scalar(hint: Any) -> type | None:
    inner, _ = without_none(hint)
    return inner if inner in _SCALARS else None


def _converter(hint: Any) -> Converter:
    hint, _ = without_none(hint)  # `X | None`: None was handled by the caller
    origin = get_origin(hint)
    if origin is tuple:
        return _tuple_of(_converter(get_args(hint)[0]))
    if origin is Mapping:
        return _mapping
    if is_dataclass(hint):
        return lambda value, where, name: decode(hint, value, f"{where}.{name}")
    if hint is datetime:
        return _time
    accepts = _SCALARS[hint]

    def convert(value: Any, where: str, name: str) -> Any:
        if accepts(value):
            return value
        raise MalformedEvent(f"{where}.{name}: expected {hint.__name__}")

    return convert


def _tuple_of(item: Converter) -> Converter:
    def convert(value: Any, where: str, name: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise MalformedEvent(f"{where}.{name}: expected a list")
        return tuple(item(element, where, f"{name}[{i}]") for i, element in enumerate(value))

    return convert


def _mapping(value: Any, where: str, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedEvent(f"{where}.{name}: expected an object")
    return dict(value)


_SCALARS: dict[type, Callable[[Any], bool]] = {
    str: lambda value: isinstance(value, str),
    bool: lambda value: isinstance(value, bool),
    int: lambda value: isinstance(value, int) and not isinstance(value, bool),
}


def _time(value: Any, where: str, name: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedEvent(f"{where}.{name}: expected datetime")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        return parse_time(value, f"{where}.{name}")  # says what is wrong with it
    return moment


def parse_time(value: str, where: str) -> datetime:
    """Asterisk's `2026-11-22T13:15:35.020+0000` as an aware datetime."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedEvent(f"{where}: not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise MalformedEvent(f"{where}: time has no UTC offset")
    return moment
