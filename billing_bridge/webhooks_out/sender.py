"""One signed POST of an event to a receiver, and what came of it: a status code and the
time it took, or why there was none (a timeout, a refused connection, a name that does not
resolve). The response's body is never kept: it is the receiver's, and may hold anything."""

from __future__ import annotations

import errno
import ipaddress
import socket
import time
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from billing_bridge.webhooks_out.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, signature
from pbx.free_text import cap

USER_AGENT = "Ledgerline-Webhooks/1.0"
ERROR_LENGTH = 300  # webhook_deliveries.last_error, webhook_attempts.error
_DRAIN_BYTES = 64 * 1024  # read this much of an answer to keep the connection; beyond, drop it


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class PublicOnly(AbstractResolver):
    """Resolves names to public addresses only: a subscription's name that resolves (or is
    later pointed) to loopback, a private network or a cloud's metadata address is refused
    at connection time, as `urls.check_url` refuses such addresses written in the URL."""

    def __init__(self) -> None:
        self._resolver = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        public = [entry for entry in found if ipaddress.ip_address(entry["host"]).is_global]
        if not public:
            raise OSError(errno.EADDRNOTAVAIL, f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._resolver.close()


class Sender:
    """Posts events over one pooled HTTP client (made on first use, in the running loop);
    unless `allow_private`, only to public addresses."""

    def __init__(self, *, timeout_s: float = 10.0, connections: int = 64,
                 allow_private: bool = False) -> None:  # fmt: skip
        self.timeout_s = timeout_s
        self._connections = connections
        self._allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, secret: str, event_id: str, body: bytes,
                   timestamp: int) -> Outcome:  # fmt: skip
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event_id,
            SIGNATURE_HEADER: signature(secret, timestamp, body),
        }
        started = time.perf_counter()
        try:
            # A redirect is an answer, not a delivery: following it would let a receiver
            # point our signed POSTs anywhere.
            async with self._client().post(url, data=body, headers=headers,
                                           allow_redirects=False) as response:  # fmt: skip
                await response.content.read(_DRAIN_BYTES)
                status = response.status
        except TimeoutError:
            return Outcome(None, _since(started), f"no answer within {self.timeout_s:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Outcome(None, _since(started), cap(_reason(exc), ERROR_LENGTH))
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return Outcome(status, _since(started), error)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                connector=aiohttp.TCPConnector(
                    limit=self._connections,
                    resolver=None if self._allow_private else PublicOnly(),
                ),
                cookie_jar=aiohttp.DummyCookieJar(),  # a receiver's cookies mean nothing here
            )
        return self._session


def _since(started: float) -> int:
    return max(0, round((time.perf_counter() - started) * 1000))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {text[0]}" if text and text[0] else name
