"""The running service: FastAGI and HTTP over the services the composition root builds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from pbx.bootstrap import build_services
from pbx.service import Ledgerline
from pbx.settings import load_settings
from pbx.simulator.fastagi_peer import run_fastagi_call
from tests.conftest import REDIS_TEST_URL
from tests.factories import make_customer, make_tenant


def settings_for(database_url: str, redis_url: str = ""):  # type: ignore[no-untyped-def]
    return load_settings(
        environ={
            "LEDGERLINE_DATABASE_URL": database_url,
            "LEDGERLINE_REDIS_URL": redis_url,
            "LEDGERLINE_AGI_PORT": "0",
            "LEDGERLINE_SERVICE_HTTP_PORT": "0",
        }
    )


@pytest.fixture
async def ledgerline(database_url: str, database) -> AsyncIterator[Ledgerline]:  # type: ignore[no-untyped-def]
    service = Ledgerline(build_services(settings_for(database_url, REDIS_TEST_URL)))
    await service.start()
    yield service
    await service.stop()


async def get_health(service: Ledgerline) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{service.http_port}/healthz") as response,
    ):
        return response.status, await response.json()


async def test_health_reports_each_dependency(ledgerline: Ledgerline) -> None:
    status, body = await get_health(ledgerline)
    assert status == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["agi"] == {
        "ok": True, "port": ledgerline.agi.port, "active_sessions": 0, "sessions_served": 0,
        "sessions_timed_out": 0, "sessions_failed": 0, "sessions_rejected": 0,
    }  # fmt: skip


async def test_health_is_503_naming_redis_when_redis_is_gone(database_url: str, database) -> None:  # type: ignore[no-untyped-def]
    service = Ledgerline(build_services(settings_for(database_url, "redis://127.0.0.1:1/0")))
    await service.start()
    try:
        status, body = await get_health(service)
    finally:
        await service.stop()
    assert status == 503
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


async def test_the_service_identifies_callers_through_its_fastagi_port(
    ledgerline: Ledgerline, database
) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    await make_customer(database, tenant, "C-1", "שרה כהן", ["+972502345678"])
    record = await run_fastagi_call(
        "127.0.0.1", ledgerline.agi.port, "caller_lookup",
        callerid="0502345678", dnid="035550100",
    )  # fmt: skip
    assert record.variables["LL_CUSTOMER_NAME"] == "שרה כהן"
    _, body = await get_health(ledgerline)
    assert body["checks"]["agi"]["sessions_served"] == 1


async def test_an_unknown_script_is_told_to_asterisk(ledgerline: Ledgerline) -> None:
    record = await run_fastagi_call("127.0.0.1", ledgerline.agi.port, "pay-by-phone-typo")
    assert record.variables["LL_ERROR"] == "unknown-script"
