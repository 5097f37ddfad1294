"""Just enough HTTP/1.1 for ARI's JSON requests, over kept-alive connections to one Asterisk.

A call makes about a dozen ARI requests, and aiohttp's client spends several times the CPU
of the exchange itself on each (URL objects, header multidicts, tracing, timers). ARI's
answers are small JSON bodies with a Content-Length, so this client writes one request and
reads one answer per connection turn: Content-Length, chunked (should a proxy sit between)
or close-delimited bodies; anything else is a protocol error. Recording downloads and the
events WebSocket stay on aiohttp.

Connections are reused while Asterisk keeps them open; one idle longer than Asterisk's
keep-alive (`session_keep_alive`, 15 s by default) is not reused, and a request that finds
its reused connection closed before any answer byte is sent again once on a new one.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

# Below Asterisk's default keep-alive, so a reused connection is rarely one it just closed.
IDLE_SECONDS = 10.0
# Asterisk serves at most `sessionlimit` (100 by default) HTTP sessions at once.
MAX_CONNECTIONS = 32
_MAX_HEAD_BYTES = 64 * 1024


class HttpUnavailable(Exception):
    """No connection, or it broke before the whole answer arrived."""


class HttpProtocolError(Exception):
    """The peer's answer is not HTTP/1.x as this client reads it, or is too large."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    reason: str
    body: bytes


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float) -> bool:
        return (
            now - self.idle_since < IDLE_SECONDS
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()


class _Reused(HttpUnavailable):
    """A kept-alive connection was found closed before any answer: safe to send again."""


class Http1Pool:
    """Requests to one origin (`http://host:port` or `https://...`) with fixed headers."""

    def __init__(
        self, url: str, headers: dict[str, str], *, max_connections: int = MAX_CONNECTIONS
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.base_path = parts.path.rstrip("/")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        fixed = {"Host": f"{host}:{self.port}", "Accept": "application/json", **headers}
        self._head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self.closed = False

    async def request(
        self, method: str, target: str, body: bytes | None, *, max_bytes: int
    ) -> Answer:
        """`target` is the path under the URL's own, with its query; percent-encoded."""
        message = self._message(method, self.base_path + target, body)
        async with self._slots:
            connection = self._reuse()
            if connection is not None:
                try:
                    return await self._exchange(connection, method, message, max_bytes, True)
                except _Reused:
                    pass  # Asterisk closed it while idle; it never saw this request
            connection = await self._connect()
            return await self._exchange(connection, method, message, max_bytes, False)

    def close(self) -> None:
        self.closed = True
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    def _message(self, method: str, target: str, body: bytes | None) -> bytes:
        head = f"{method} {target} HTTP/1.1\r\n{self._head}"
        if body is None:
            return f"{head}Content-Length: 0\r\n\r\n".encode("latin-1")
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode("latin-1") + body

    def _reuse(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the least likely stale
            if connection.usable(now):
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        if self.closed:
            raise HttpUnavailable("the client is closed")
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self._ssl, limit=_MAX_HEAD_BYTES
            )
        except OSError as exc:
            raise HttpUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return _Connection(reader, writer)

    async def _exchange(
        self, connection: _Connection, method: str, message: bytes, max_bytes: int, reused: bool
    ) -> Answer:
        keep = False
        try:
            connection.writer.write(message)
            try:
                head = await connection.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if reused and not exc.partial:
                    raise _Reused("closed while idle") from exc
                raise HttpUnavailable("connection closed before the answer") from exc
            status, reason, headers, version = _parse_head(head)
            body, keep = await _read_body(connection.reader, method, status, headers, max_bytes)
            keep = keep and _keeps_alive(version, headers)
            return Answer(status, reason, body)
        except asyncio.IncompleteReadError as exc:
            raise HttpUnavailable("connection closed in the middle of the answer") from exc
        except asyncio.LimitOverrunError as exc:
            raise HttpProtocolError("answer headers are too large") from exc
        except OSError as exc:  # ConnectionError among them
            if reused and isinstance(exc, ConnectionResetError | BrokenPipeError):
                raise _Reused("reset while idle") from exc
            raise HttpUnavailable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            # Cancelled or failed mid-way, the connection's state is unknown: never reused.
            if keep and not self.closed:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str], str]:
    try:
        lines = head.decode("latin-1").split("\r\n")
        version, status, *rest = lines[0].split(" ", 2)
        if not version.startswith("HTTP/1.") or len(status) != 3:
            raise ValueError(lines[0])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return int(status), rest[0] if rest else "", headers, version
    except (ValueError, IndexError) as exc:
        raise HttpProtocolError(f"not an HTTP/1.x answer: {head[:80]!r}") from exc


async def _read_body(
    reader: asyncio.StreamReader, method: str, status: int, headers: dict[str, str], limit: int
) -> tuple[bytes, bool]:
    """The body, and whether the connection may carry another request after it."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b"", True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader, limit), True
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise HttpProtocolError(f"bad Content-Length {length!r}")
        if int(length) > limit:
            raise HttpProtocolError(f"answer is larger than {limit} bytes")
        return await reader.readexactly(int(length)), True
    body = await reader.read(limit + 1)  # no length: the body ends with the connection
    while len(body) <= limit and not reader.at_eof():
        body += await reader.read(limit + 1 - len(body))
    if len(body) > limit:
        raise HttpProtocolError(f"answer is larger than {limit} bytes")
    return body, False


async def _read_chunked(reader: asyncio.StreamReader, limit: int) -> bytes:
    body = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise HttpProtocolError(f"bad chunk size {line[:20]!r}") from exc
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return bytes(body)
        if len(body) + size > limit:
            raise HttpProtocolError(f"answer is larger than {limit} bytes")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _keeps_alive(version: str, headers: dict[str, str]) -> bool:
    connection = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection
