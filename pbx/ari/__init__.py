"""The Asterisk ARI client: typed REST calls (`AriClient`), typed events (`pbx.ari.events`)
and the events WebSocket that reconnects by itself (`AriConnection`)."""

from pbx.ari.client import AriClient
from pbx.ari.connection import AriConnection
from pbx.ari.errors import (
    AriAuthError,
    AriBadRequest,
    AriConflict,
    AriError,
    AriNotFound,
    AriProtocolError,
    AriUnavailable,
    MalformedEvent,
)
from pbx.ari.events import Event, UnknownEvent, parse_event

__all__ = [
    "AriAuthError",
    "AriBadRequest",
    "AriClient",
    "AriConflict",
    "AriConnection",
    "AriError",
    "AriNotFound",
    "AriProtocolError",
    "AriUnavailable",
    "Event",
    "MalformedEvent",
    "UnknownEvent",
    "parse_event",
]
