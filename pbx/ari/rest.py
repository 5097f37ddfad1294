"""ARI over HTTP: the table of operations Ledgerline uses and the one place requests are made.

`OPERATIONS` names each operation `resource.nickname` as in api-docs and declares its method,
path template, query parameters and body parameter. `AriRest.call` refuses anything the table
does not declare, so the table is the whole truth about what the client can send, and a test
checks it against the spec. Every failure becomes one of the typed errors in `pbx.ari.errors`;
credentials travel only in the Authorization header, never in a URL, log or message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp

from pbx.ari.errors import AriError, AriProtocolError, AriUnavailable, error_for_status
from pbx.ari.http1 import Http1Pool, HttpProtocolError, HttpUnavailable

log = logging.getLogger(__name__)

QueryValue = str | int | bool | Sequence[str] | None

MAX_JSON_BYTES = 16 * 1024 * 1024  # GET /channels of a busy node is a few MB at most
_MAX_ERROR_BYTES = 64 * 1024
_CHUNK = 64 * 1024
_WS_CLOSE_SECONDS = 1.0


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as in api-docs, e.g. /channels/{channelId}/dtmf
    query: tuple[str, ...] = ()
    body: str | None = None  # the body parameter, as api-docs name it
    # Asterisk hands an operation its whole JSON body as that parameter: originate reads
    # its variables under their name ({"variables": {...}}); an event filter is the body.
    body_named: bool = True


_CH = "/channels/{channelId}"
_BR = "/bridges/{bridgeId}"
_LIVE = "/recordings/live/{recordingName}"
_STORED = "/recordings/stored/{recordingName}"

OPERATIONS: Mapping[str, Operation] = {
    "asterisk.getInfo": Operation("GET", "/asterisk/info", ("only",)),
    "applications.get": Operation("GET", "/applications/{applicationName}"),
    "applications.filter": Operation(
        "PUT", "/applications/{applicationName}/eventFilter", body="filter", body_named=False
    ),
    "events.eventWebsocket": Operation("GET", "/events", ("app", "subscribeAll")),
    # channels
    "channels.list": Operation("GET", "/channels"),
    "channels.get": Operation("GET", _CH),
    "channels.originate": Operation(
        "POST",
        "/channels",
        ("endpoint", "app", "appArgs", "callerId", "timeout", "channelId", "otherChannelId"),
        body="variables",
    ),
    "channels.create": Operation(
        "POST",
        "/channels/create",
        ("endpoint", "app", "appArgs", "channelId", "otherChannelId", "originator", "formats"),
        body="variables",
    ),
    "channels.dial": Operation("POST", _CH + "/dial", ("caller", "timeout")),
    "channels.hangup": Operation("DELETE", _CH, ("reason",)),
    "channels.answer": Operation("POST", _CH + "/answer"),
    "channels.ring": Operation("POST", _CH + "/ring"),
    "channels.ringStop": Operation("DELETE", _CH + "/ring"),
    "channels.sendDTMF": Operation(
        "POST", _CH + "/dtmf", ("dtmf", "before", "between", "duration", "after")
    ),
    "channels.mute": Operation("POST", _CH + "/mute", ("direction",)),
    "channels.unmute": Operation("DELETE", _CH + "/mute", ("direction",)),
    "channels.hold": Operation("POST", _CH + "/hold"),
    "channels.unhold": Operation("DELETE", _CH + "/hold"),
    "channels.startMoh": Operation("POST", _CH + "/moh", ("mohClass",)),
    "channels.stopMoh": Operation("DELETE", _CH + "/moh"),
    "channels.play": Operation("POST", _CH + "/play", ("media", "lang", "playbackId")),
    "channels.getChannelVar": Operation("GET", _CH + "/variable", ("variable",)),
    "channels.setChannelVar": Operation("POST", _CH + "/variable", ("variable", "value")),
    "channels.snoopChannel": Operation(
        "POST", _CH + "/snoop", ("spy", "whisper", "app", "appArgs", "snoopId")
    ),
    "channels.record": Operation(
        "POST",
        _CH + "/record",
        (
            "name",
            "format",
            "maxDurationSeconds",
            "maxSilenceSeconds",
            "ifExists",
            "beep",
            "terminateOn",
        ),
    ),
    "channels.continueInDialplan": Operation(
        "POST", _CH + "/continue", ("context", "extension", "priority", "label")
    ),
    "channels.redirect": Operation("POST", _CH + "/redirect", ("endpoint",)),
    "playbacks.get": Operation("GET", "/playbacks/{playbackId}"),
    "playbacks.stop": Operation("DELETE", "/playbacks/{playbackId}"),
    # sounds: what Asterisk has on disk, per language and format
    "sounds.list": Operation("GET", "/sounds", ("lang", "format")),
    "sounds.get": Operation("GET", "/sounds/{soundId}"),
    # bridges
    "bridges.list": Operation("GET", "/bridges"),
    "bridges.create": Operation("POST", "/bridges", ("type", "bridgeId", "name")),
    "bridges.get": Operation("GET", _BR),
    "bridges.destroy": Operation("DELETE", _BR),
    "bridges.addChannel": Operation(
        "POST", _BR + "/addChannel", ("channel", "role", "absorbDTMF", "mute")
    ),
    "bridges.removeChannel": Operation("POST", _BR + "/removeChannel", ("channel",)),
    "bridges.startMoh": Operation("POST", _BR + "/moh", ("mohClass",)),
    "bridges.stopMoh": Operation("DELETE", _BR + "/moh"),
    "bridges.play": Operation("POST", _BR + "/play", ("media", "lang", "playbackId")),
    "bridges.record": Operation(
        "POST",
        _BR + "/record",
        (
            "name",
            "format",
            "maxDurationSeconds",
            "maxSilenceSeconds",
            "ifExists",
            "beep",
            "terminateOn",
        ),
    ),
    # recordings
    "recordings.getLive": Operation("GET", _LIVE),
    "recordings.cancel": Operation("DELETE", _LIVE),
    "recordings.stop": Operation("POST", _LIVE + "/stop"),
    "recordings.pause": Operation("POST", _LIVE + "/pause"),
    "recordings.unpause": Operation("DELETE", _LIVE + "/pause"),
    "recordings.mute": Operation("POST", _LIVE + "/mute"),
    "recordings.unmute": Operation("DELETE", _LIVE + "/mute"),
    "recordings.listStored": Operation("GET", "/recordings/stored"),
    "recordings.getStored": Operation("GET", _STORED),
    "recordings.deleteStored": Operation("DELETE", _STORED),
    "recordings.getStoredFile": Operation("GET", _STORED + "/file"),
}


@dataclass(frozen=True)
class _Request:
    operation: Operation
    path: str  # concrete and percent-encoded, e.g. /channels/1795353335.7/dtmf
    params: dict[str, str]

    @property
    def method(self) -> str:
        return self.operation.method


class AriRest:
    """Makes the requests in `OPERATIONS` against one Asterisk and maps every failure."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        http: aiohttp.ClientSession | None = None,
        request_timeout: float = 5.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the ARI URL must be http(s)://host:port/ari")
        if parts.username is not None or parts.password is not None:
            raise ValueError("put ARI credentials in username/password, not in the URL")
        self.url = url.rstrip("/")
        # built by hand: aiohttp >= 3.14 deprecates `auth=BasicAuth(...)`, and a header keeps
        # the password out of every URL aiohttp might put in a log or an exception
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}"}
        self._pool = Http1Pool(self.url, self._headers)  # the JSON requests
        self._http = http  # downloads and the events WebSocket
        self._owns_http = http is None
        self._closed = False
        self.request_timeout = request_timeout
        # Awaited before every request that changes something on Asterisk (all but GET);
        # raises to refuse it. The call flow's owner sets it (`AriClient.guard_changes`).
        self.before_change: Callable[[], Awaitable[None]] | None = None

    def __repr__(self) -> str:
        return f"AriRest({self.url!r})"

    async def close(self) -> None:
        """Close the HTTP session if this object made it; later calls raise AriUnavailable."""
        self._closed = True
        self._pool.close()
        if self._owns_http and self._http is not None:
            await self._http.close()
        self._http = None

    async def call(
        self,
        name: str,
        path_params: Mapping[str, str] | None = None,
        /,
        *,
        body: Mapping[str, Any] | None = None,
        **query: QueryValue,
    ) -> Any:
        """Make operation `name`; returns the decoded JSON answer, or None for 204."""
        request = _prepare(name, path_params or {}, query)
        json_body = _body(request.operation, body)
        self._refuse_if_closed(request)
        if self.before_change is not None and request.method != "GET":
            await self.before_change()
        content = json.dumps(json_body).encode() if json_body is not None else None
        target = request.path + (f"?{urlencode(request.params, quote_via=quote, safe='/,:@')}"
                                 if request.params else "")  # fmt: skip
        try:
            async with asyncio.timeout(self.request_timeout):
                answer = await self._pool.request(
                    request.method, target, content, max_bytes=MAX_JSON_BYTES
                )
        except (HttpUnavailable, TimeoutError) as exc:
            raise _unavailable(request, exc) from exc
        except HttpProtocolError as exc:
            raise AriProtocolError(str(exc), method=request.method, path=request.path) from None
        log.debug("ARI %s %s -> %d", request.method, request.path, answer.status)
        if answer.status >= 300:
            raise _error(request, answer.status, answer.reason, answer.body)
        if not answer.body:
            return None
        try:
            return json.loads(answer.body)
        except (ValueError, UnicodeDecodeError):
            raise AriProtocolError(
                "answer is not JSON",
                method=request.method,
                path=request.path,
                status=answer.status,
            ) from None

    async def download(
        self, name: str, path_params: Mapping[str, str], *, max_bytes: int, time_limit: float
    ) -> bytes:
        """The raw body of a GET (a recording file), refused if larger than `max_bytes`."""
        request = _prepare(name, path_params, {})
        session = self._session(request)
        try:
            async with (
                asyncio.timeout(time_limit),
                session.request(
                    request.method,
                    self.url + request.path,
                    params=request.params,
                    headers=self._headers,
                ) as response,
            ):
                log.debug("ARI %s %s -> %d", request.method, request.path, response.status)
                if response.status >= 300:
                    try:
                        payload = await _read_capped(request, response, _MAX_ERROR_BYTES)
                    except AriProtocolError:
                        payload = b""
                    raise _error(request, response.status, response.reason or "", payload)
                return await _read_capped(request, response, max_bytes)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _unavailable(request, exc) from exc

    async def websocket(
        self, name: str, *, heartbeat: float, **query: QueryValue
    ) -> aiohttp.ClientWebSocketResponse:
        """Open the events WebSocket; the handshake is bounded by the request timeout."""
        request = _prepare(name, {}, query)
        session = self._session(request)
        try:
            async with asyncio.timeout(self.request_timeout):
                return await session.ws_connect(
                    self.url + request.path,
                    params=request.params,
                    headers=self._headers,
                    heartbeat=heartbeat,
                    protocols=("ari",),
                    # stop() must not wait the default 10 s for a dead peer's close frame
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=_WS_CLOSE_SECONDS),
                )
        except aiohttp.WSServerHandshakeError as exc:
            raise _handshake_error(request, exc) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _unavailable(request, exc) from exc

    def _refuse_if_closed(self, request: _Request) -> None:
        if self._closed or (self._http is not None and self._http.closed):
            raise AriUnavailable(
                "the ARI client is closed", method=request.method, path=request.path
            )

    def _session(self, request: _Request) -> aiohttp.ClientSession:
        self._refuse_if_closed(request)
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http


def _prepare(
    name: str, path_params: Mapping[str, str], query: Mapping[str, QueryValue]
) -> _Request:
    operation = OPERATIONS[name]
    undeclared = set(query) - set(operation.query)
    if undeclared:  # a programming error: the table is what the spec test checks
        raise ValueError(f"{name} does not declare query parameters {sorted(undeclared)}")
    path = operation.path.format_map({k: quote(v, safe="") for k, v in path_params.items()})
    params = {k: _query_value(v) for k, v in query.items() if v is not None}
    return _Request(operation, path, params)


def _body(operation: Operation, body: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not body:
        return None
    if operation.body is None:
        raise ValueError(f"{operation.method} {operation.path} takes no body")
    return {operation.body: dict(body)} if operation.body_named else dict(body)


def _query_value(value: str | int | bool | Sequence[str]) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    return ",".join(value)  # allowMultiple parameters take a comma-separated list


async def _read_capped(request: _Request, response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, refused once it passes `limit` bytes: a wrong peer cannot fill memory."""
    too_big = AriProtocolError(
        f"answer is larger than {limit} bytes",
        method=request.method,
        path=request.path,
        status=response.status,
    )
    if response.content_length is not None and response.content_length > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _error(request: _Request, status: int, reason: str, payload: bytes) -> AriError:
    """The typed error for a non-2xx answer, with Asterisk's `message` when it gave one."""
    message = reason or "error"
    try:
        decoded = json.loads(payload) if payload else None
    except (ValueError, UnicodeDecodeError):
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
        message = decoded["message"]
    return error_for_status(status, request.method, request.path, message)


def _handshake_error(request: _Request, exc: aiohttp.WSServerHandshakeError) -> AriError:
    if exc.status < 400:
        return AriProtocolError(
            "events endpoint did not upgrade to a WebSocket",
            method=request.method,
            path=request.path,
            status=exc.status,
        )
    return error_for_status(exc.status, request.method, request.path, exc.message or "refused")


def _unavailable(request: _Request, exc: BaseException) -> AriUnavailable:
    if isinstance(exc, TimeoutError):
        reason = "no answer in time"
    elif isinstance(exc, HttpUnavailable):
        reason = str(exc)
    else:  # aiohttp's messages name host:port and the OS error, never the credentials
        reason = f"{type(exc).__name__}: {exc}"
    return AriUnavailable(
        f"Asterisk unavailable ({reason})", method=request.method, path=request.path
    )
