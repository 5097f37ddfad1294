"""Who may read /metrics: loopback, or the bearer token from anywhere else; a wrong token is
refused wherever it comes from; with no token configured, loopback only. The rule is tested
on the route alone (the peer set as a trusted proxy would set it), then through a process
wired as `serve` wires it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pbx.bootstrap import bootstrap, build_services
from pbx.http.metrics_api import MetricsPage, add_route, is_loopback
from pbx.metrics.prometheus import CONTENT_TYPE
from pbx.service import Ledgerline
from pbx.settings import SettingsError, load_settings
from pbx.shipped_secrets import refuse_shipped_secrets
from pbx.simulator.fastagi_peer import run_fastagi_call
from tests.conftest import REDIS_TEST_URL

TOKEN = "a-long-metrics-token-of-ours"
OUTSIDE = "203.0.113.9"
Get = Callable[..., Awaitable[tuple[int, dict[str, str], str]]]


class _Rendered:
    async def render(self) -> bytes:
        return b"ledgerline_process{role=\"none\"} 1.0\n"


@web.middleware
async def _peer(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:  # fmt: skip
    """The peer as `client_behind_proxies` would leave it."""
    return await handler(request.clone(remote=request.headers.get("X-Peer", "127.0.0.1")))


@pytest.fixture
async def route() -> AsyncIterator[Callable[[str], Awaitable[Get]]]:
    clients: list[TestClient] = []

    async def serving(token: str) -> Get:
        app = web.Application(middlewares=[_peer])
        add_route(app, MetricsPage(_Rendered(), token, CONTENT_TYPE))
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)

        async def get(peer: str, token: str | None = None) -> tuple[int, dict[str, str], str]:
            headers = {"X-Peer": peer}
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            response = await client.get("/metrics", headers=headers)
            return response.status, dict(response.headers), await response.text()

        return get

    yield serving
    for client in clients:
        await client.close()


async def test_from_outside_only_the_right_token_reads_the_metrics(route) -> None:  # type: ignore[no-untyped-def]
    get = await route(TOKEN)
    status, headers, _ = await get(OUTSIDE)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert (await get(OUTSIDE, "a-long-metrics-token-of-yours"))[0] == 401
    assert (await get(OUTSIDE, TOKEN + "x"))[0] == 401
    status, headers, body = await get(OUTSIDE, TOKEN)
    assert (status, headers["Content-Type"]) == (200, CONTENT_TYPE)
    assert body.startswith("ledgerline_process")


async def test_loopback_reads_freely_but_a_wrong_token_is_refused_there_too(route) -> None:  # type: ignore[no-untyped-def]
    with_token, without = await route(TOKEN), await route("")
    assert (await with_token("127.0.0.1"))[0] == 200
    assert (await with_token("::1", "wrong-but-long-enough"))[0] == 401
    assert (await without("127.0.0.1"))[0] == 200


async def test_without_a_token_configured_the_metrics_stay_on_loopback(route) -> None:  # type: ignore[no-untyped-def]
    get = await route("")
    status, _, body = await get(OUTSIDE)
    assert status == 403 and "loopback_only" in body
    assert (await get(OUTSIDE, ""))[0] == 401  # no token configured: none opens them


def test_loopback_is_127_8_and_ipv6_loopback_and_their_mapped_forms_only() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1")))
    assert not any(map(is_loopback, ("10.0.0.1", "::ffff:10.0.0.1", "", None, "localhost")))


def test_the_metrics_token_is_at_least_16_characters_and_never_the_shipped_one() -> None:
    with pytest.raises(SettingsError) as short:
        load_settings(environ={"LEDGERLINE_SERVICE_METRICS_TOKEN": "short"})
    assert short.value.setting == "service.metrics_token"
    shipped = load_settings(environ={
        "LEDGERLINE_SERVICE_METRICS_TOKEN": "CHANGE-ME-TO-A-LONG-TOKEN"})
    with pytest.raises(SettingsError) as refused:
        refuse_shipped_secrets(shipped)
    assert refused.value.setting == "service.metrics_token"


# --- a process wired as `serve` wires it ---------------------------------------------------


@pytest.fixture
async def service(database_url: str, database) -> AsyncIterator[Ledgerline]:  # type: ignore[no-untyped-def]
    """Behind a trusted proxy on loopback, with a metrics token, collecting every 60 ms."""
    settings = load_settings(environ={
        "LEDGERLINE_DATABASE_URL": database_url, "LEDGERLINE_REDIS_URL": REDIS_TEST_URL,
        "LEDGERLINE_AGI_PORT": "0", "LEDGERLINE_SERVICE_HTTP_PORT": "0",
        "LEDGERLINE_SERVICE_TRUSTED_PROXIES": "127.0.0.1/32",
        "LEDGERLINE_SERVICE_METRICS_TOKEN": TOKEN,
        "LEDGERLINE_PAYMENTS_COLLECT_EVERY_MINUTES": "0.001",
    })  # fmt: skip
    process = Ledgerline(bootstrap(build_services(settings)))
    await process.start()
    yield process
    await process.stop()


async def scrape(service: Ledgerline, *, outside: bool, token: str | None = None
                 ) -> tuple[int, str]:  # fmt: skip
    headers = {"X-Forwarded-For": OUTSIDE} if outside else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"http://127.0.0.1:{service.http_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.text()


async def test_serve_counts_collection_runs_and_fastagi_sessions_behind_its_token(
    service: Ledgerline,
) -> None:
    assert (await scrape(service, outside=True))[0] == 401  # the proxy's client is outside
    await run_fastagi_call("127.0.0.1", service.agi.port, "caller-lookup-typo-0502345678")

    async def counted() -> str | None:
        status, body = await scrape(service, outside=True, token=TOKEN)
        assert status == 200
        run = 'ledgerline_collection_runs_total{result="completed",role="none"}'
        return body if run in body else None

    async with asyncio.timeout(20):  # the collection's loop: wait for its first run's count
        while (body := await counted()) is None:  # noqa: ASYNC110 - polling the scrape
            await asyncio.sleep(0.02)
    assert ('ledgerline_fastagi_session_seconds_count{outcome="failed",role="none",'
            'script="unknown"} 1.0') in body  # a script nobody registered: one bounded label
    assert "typo" not in body and "0502345678" not in body
    assert 'ledgerline_process{role="none"} 1.0' in body  # no Asterisk configured
