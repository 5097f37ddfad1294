"""The ARI client's own HTTP/1.1 against raw peers that answer byte for byte as scripted:
body framings, kept-alive connections, a connection closed while idle, bad answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from pbx.ari.http1 import Http1Pool, HttpProtocolError, HttpUnavailable

Answer = Callable[[bytes], bytes | None]  # the request's head -> the raw answer (None: hang up)


class Peer:
    """A TCP server that reads one request at a time and writes the scripted answer."""

    def __init__(self, answer: Answer, *, close_after: int | None = None) -> None:
        self.answer, self.close_after = answer, close_after
        self.requests: list[bytes] = []
        self.connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                raw = self.answer(head)
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def peer(answer: Answer, **options: int) -> AsyncIterator[tuple[Peer, Http1Pool]]:
    script = Peer(answer, **options)
    server = await asyncio.start_server(script._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Http1Pool(f"http://127.0.0.1:{port}/ari", {"Authorization": "Basic dTpw"})
    try:
        yield script, pool
    finally:
        pool.close()
        server.close()
        await server.wait_closed()


def fixed(raw: bytes) -> Answer:
    return lambda head: raw


OK_JSON = b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"ok": true}'


async def test_a_request_carries_the_path_under_the_url_the_headers_and_the_json_body() -> None:
    async with peer(fixed(OK_JSON)) as (script, pool):
        answer = await pool.request("POST", "/bridges?type=mixing", b'{"a": 1}', max_bytes=1000)

    assert (answer.status, answer.reason, answer.body) == (200, "OK", b'{"ok": true}')
    sent = script.requests[0]
    assert sent.startswith(b"POST /ari/bridges?type=mixing HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Basic dTpw\r\n" in sent
    assert b"\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n" in sent
    assert sent.endswith(b'{"a": 1}')


async def test_answers_reuse_one_kept_alive_connection() -> None:
    async with peer(fixed(b"HTTP/1.1 204 No Content\r\n\r\n")) as (script, pool):
        for _ in range(5):
            answer = await pool.request("DELETE", "/channels/1", None, max_bytes=1000)
            assert (answer.status, answer.body) == (204, b"")

    assert script.connections == 1 and len(script.requests) == 5


async def test_a_chunked_body_is_joined_and_the_connection_kept() -> None:
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4\r\n[1, \r\n3;x=y\r\n2]\n\r\n0\r\nTrailer: 1\r\n\r\n")  # fmt: skip
    async with peer(fixed(raw)) as (script, pool):
        first = await pool.request("GET", "/channels", None, max_bytes=1000)
        second = await pool.request("GET", "/channels", None, max_bytes=1000)

    assert first.body == second.body == b"[1, 2]\n"
    assert script.connections == 1


async def test_a_body_without_length_ends_with_the_connection_which_is_not_reused() -> None:
    raw = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[]"
    async with peer(fixed(raw), close_after=1) as (script, pool):
        assert (await pool.request("GET", "/bridges", None, max_bytes=1000)).body == b"[]"
        assert (await pool.request("GET", "/bridges", None, max_bytes=1000)).body == b"[]"

    assert script.connections == 2


async def test_connection_close_is_honoured() -> None:
    raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    async with peer(fixed(raw), close_after=1) as (script, pool):
        for _ in range(3):
            assert (await pool.request("GET", "/asterisk/info", None, max_bytes=100)).body == b"{}"

    assert script.connections == 3


async def test_a_kept_connection_found_closed_is_replaced_and_the_request_sent_again() -> None:
    # The peer closes each connection at its second request without answering, as Asterisk
    # does when its keep-alive ran out as the request arrived.
    def answer(head: bytes) -> bytes | None:
        return OK_JSON if b"/channels/1/" in head or script.requests.count(head) == 2 else None

    async with peer(answer) as (script, pool):
        await pool.request("POST", "/channels/1/answer", None, max_bytes=1000)
        second = await pool.request("POST", "/channels/2/answer", None, max_bytes=1000)

    assert second.body == b'{"ok": true}'
    assert script.connections == 2
    assert [r.split(b" ")[1] for r in script.requests] == [
        b"/ari/channels/1/answer",
        b"/ari/channels/2/answer",
        b"/ari/channels/2/answer",
    ]


async def test_a_connection_seen_closed_while_idle_is_not_reused() -> None:
    async with peer(fixed(OK_JSON), close_after=1) as (script, pool):
        await pool.request("POST", "/channels/1/answer", None, max_bytes=1000)
        await asyncio.sleep(0.05)  # the close reaches us
        await pool.request("POST", "/channels/2/answer", None, max_bytes=1000)

    assert script.connections == 2 and len(script.requests) == 2


async def test_an_answer_larger_than_the_limit_is_refused() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    async with peer(fixed(raw)) as (_, pool):
        with pytest.raises(HttpProtocolError, match="larger than 1000 bytes"):
            await pool.request("GET", "/channels", None, max_bytes=1000)


@pytest.mark.parametrize(
    "raw",
    [
        b"SIP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
async def test_an_answer_that_is_not_http_is_a_protocol_error(raw: bytes) -> None:
    async with peer(fixed(raw)) as (_, pool):
        with pytest.raises(HttpProtocolError):
            await pool.request("GET", "/channels", None, max_bytes=1000)


async def test_a_peer_that_hangs_up_mid_answer_leaves_the_request_unavailable() -> None:
    async with peer(fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"), close_after=1) as (
        _,
        pool,
    ):
        with pytest.raises(HttpUnavailable, match="middle of the answer"):
            await pool.request("GET", "/channels", None, max_bytes=1000)


async def test_a_first_request_the_peer_drops_is_not_sent_again() -> None:
    async with peer(lambda head: None) as (script, pool):
        with pytest.raises(HttpUnavailable, match="before the answer"):
            await pool.request("POST", "/channels", b"{}", max_bytes=1000)

    assert len(script.requests) == 1  # only a reused connection's failure is retried


async def test_a_cancelled_request_does_not_leave_its_connection_for_the_next() -> None:
    async with peer(fixed(OK_JSON)) as (script, pool):
        script.answer = lambda head: (b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"
                                      if b"/slow" in head else OK_JSON)  # fmt: skip
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await pool.request("GET", "/slow", None, max_bytes=1000)  # body never comes
        answer = await pool.request("GET", "/channels", None, max_bytes=1000)

    assert answer.body == b'{"ok": true}'
    assert script.connections == 2


async def test_a_closed_pool_refuses_new_connections() -> None:
    async with peer(fixed(OK_JSON)) as (_, pool):
        pool.close()
        with pytest.raises(HttpUnavailable, match="closed"):
            await pool.request("GET", "/channels", None, max_bytes=1000)
