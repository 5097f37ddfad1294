"""Who may read /metrics: loopback, or the bearer token from anywhere else; a wrong token is
refused wherever it comes from; the token is a secret that no shipped value can be."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from pbx.bootstrap import bootstrap, build_services
from pbx.http.metrics_api import is_loopback
from pbx.service import Ledgerline
from pbx.settings import SettingsError, load_settings
from pbx.shipped_secrets import refuse_shipped_secrets
from tests.conftest import REDIS_TEST_URL

TOKEN = "a-long-metrics-token-of-ours"
OUTSIDE = "203.0.113.9"  # what the trusted proxy on loopback says the client is


def _settings(database_url: str, token: str):  # type: ignore[no-untyped-def]
    return load_settings(environ={
        "LEDGERLINE_DATABASE_URL": database_url, "LEDGERLINE_REDIS_URL": REDIS_TEST_URL,
        "LEDGERLINE_AGI_PORT": "0", "LEDGERLINE_SERVICE_HTTP_PORT": "0",
        "LEDGERLINE_SERVICE_TRUSTED_PROXIES": "127.0.0.1/32",
        "LEDGERLINE_SERVICE_METRICS_TOKEN": token,
    })  # fmt: skip


@pytest.fixture
async def services(database_url: str, database) -> AsyncIterator[dict[str, Ledgerline]]:  # type: ignore[no-untyped-def]
    """Two processes: one with a metrics token, one without (loopback only)."""
    started = {}
    try:
        for name, token in (("token", TOKEN), ("loopback", "")):
            service = Ledgerline(bootstrap(build_services(_settings(database_url, token))))
            await service.start()
            started[name] = service
        yield started
    finally:
        for service in started.values():
            await service.stop()


async def get(service: Ledgerline, *, outside: bool, token: str | None = None
              ) -> tuple[int, dict[str, str], str]:  # fmt: skip
    headers = {"X-Forwarded-For": OUTSIDE} if outside else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"http://127.0.0.1:{service.http_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


async def test_from_outside_only_the_right_token_reads_the_metrics(
    services: dict[str, Ledgerline],
) -> None:
    service = services["token"]
    status, headers, _ = await get(service, outside=True)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert (await get(service, outside=True, token="a-long-metrics-token-of-yours"))[0] == 401
    assert (await get(service, outside=True, token=TOKEN + "x"))[0] == 401
    status, headers, body = await get(service, outside=True, token=TOKEN)
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert 'ledgerline_process{role="none"} 1.0' in body  # no Asterisk configured


async def test_loopback_reads_freely_but_a_wrong_token_is_refused_there_too(
    services: dict[str, Ledgerline],
) -> None:
    assert (await get(services["token"], outside=False))[0] == 200
    assert (await get(services["token"], outside=False, token="wrong-but-long-enough"))[0] == 401
    assert (await get(services["loopback"], outside=False))[0] == 200


async def test_without_a_token_configured_the_metrics_stay_on_loopback(
    services: dict[str, Ledgerline],
) -> None:
    status, _, body = await get(services["loopback"], outside=True)
    assert status == 403 and "loopback_only" in body
    # No token configured: no token opens them, not even an empty one.
    assert (await get(services["loopback"], outside=True, token=""))[0] == 401


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
