"""The running service: FastAGI and HTTP over the services the composition root builds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import update

from billing_bridge.identification.service import CallerIdentification
from pbx.bootstrap import bootstrap, build_services
from pbx.db.models import Tenant
from pbx.http.context import CONFIG_TOPIC
from pbx.service import Ledgerline
from pbx.settings import load_settings
from pbx.simulator.ari import AsteriskSimulator
from pbx.simulator.fastagi_peer import run_fastagi_call
from tests.conftest import REDIS_TEST_URL
from tests.factories import make_customer, make_tenant


def settings_for(database_url: str, redis_url: str = "", **environ: str):  # type: ignore[no-untyped-def]
    return load_settings(
        environ={
            "LEDGERLINE_DATABASE_URL": database_url,
            "LEDGERLINE_REDIS_URL": redis_url,
            "LEDGERLINE_AGI_PORT": "0",
            "LEDGERLINE_SERVICE_HTTP_PORT": "0",
            **environ,
        }
    )


def _ledgerline(settings) -> Ledgerline:  # type: ignore[no-untyped-def]
    """A Ledgerline process wired by the composition root, as `ledgerline serve` wires it."""
    return Ledgerline(bootstrap(build_services(settings)))


@pytest.fixture
async def ledgerline(database_url: str, database) -> AsyncIterator[Ledgerline]:  # type: ignore[no-untyped-def]
    service = _ledgerline(settings_for(database_url, REDIS_TEST_URL))
    await service.start()
    yield service
    await service.stop()


async def get_health(service: Ledgerline, path: str = "/healthz") -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{service.http_port}{path}") as response,
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
    service = _ledgerline(settings_for(database_url, "redis://127.0.0.1:1/0"))
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


async def test_a_configuration_change_makes_fastagi_resolve_the_business_number_anew(
    ledgerline: Ledgerline, database
) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    await make_customer(database, tenant, "C-1", "שרה כהן", ["+972502345678"])

    async def lookup() -> dict[str, str]:
        record = await run_fastagi_call(
            "127.0.0.1", ledgerline.agi.port, "caller_lookup",
            callerid="0502345678", dnid="035550100",
        )  # fmt: skip
        return record.variables

    assert (await lookup())["LL_MATCH"] == "unique"  # the number's business is now known
    async with database.system_session() as session, session.begin():
        await session.execute(update(Tenant).where(Tenant.id == tenant).values(disabled=True))
    await ledgerline.services.bus.publish(CONFIG_TOPIC, {"tenant_id": tenant, "what": "tenant"})
    async with asyncio.timeout(10):  # the message crosses Redis: wait for it, not for a time
        while (variables := await lookup())["LL_MATCH"] != "none":  # noqa: ASYNC110 - polling FastAGI
            await asyncio.sleep(0.02)
    assert variables["LL_REASON"] == "unknown-did"


async def test_a_process_whose_lookup_warm_up_fails_starts_and_identifies_all_the_same(
    database_url: str, database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    """Readying the caller lookup at start is a head start only: the database refusing it
    then is one warning line, and the first caller's lookup opens what it needs. (A number
    of its own: the identification cache in Redis is shared with the other tests.)"""
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    await make_customer(database, tenant, "C-1", "Sara Cohen", ["+972502345999"])

    async def refused(self) -> None:  # type: ignore[no-untyped-def]
        raise OSError("connection refused")

    monkeypatch.setattr(CallerIdentification, "warm", refused)
    service = _ledgerline(settings_for(database_url, REDIS_TEST_URL))
    await service.start()
    try:
        record = await run_fastagi_call(
            "127.0.0.1", service.agi.port, "caller_lookup",
            callerid="0502345999", dnid="035550100",
        )  # fmt: skip
    finally:
        await service.stop()
    assert record.variables["LL_CUSTOMER_NAME"] == "Sara Cohen"
    warnings = [r.getMessage() for r in caplog.records if "not warmed" in r.getMessage()]
    assert warnings == ["caller lookup not warmed at start (OSError: connection refused); the "
                        "first lookups will open their connections"]  # fmt: skip


async def test_an_unknown_script_is_told_to_asterisk(ledgerline: Ledgerline) -> None:
    record = await run_fastagi_call("127.0.0.1", ledgerline.agi.port, "pay-by-phone-typo")
    assert record.variables["LL_ERROR"] == "unknown-script"


async def test_a_standby_is_healthy_in_its_role_and_only_the_owner_is_ready_for_the_call_flow(
    database_url: str, database, redis, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    """Two processes share one Asterisk: the one without the ARI lease serves desks and the
    API, so a load balancer must keep it; `/healthz/owner` is for those who want the owner."""
    sim = AsteriskSimulator()
    await sim.start()
    environ = {
        "LEDGERLINE_ARI_URL": sim.url, "LEDGERLINE_ARI_PASSWORD": "secret",
        "LEDGERLINE_ARI_NODE": "east", "LEDGERLINE_ARI_OTHER_NODES": "west=http://127.0.0.1:9/ari",
        "LEDGERLINE_RECORDINGS_LOCAL_PATH": str(tmp_path / "recordings"),
        "LEDGERLINE_RECORDINGS_SPOOL_PATH": str(tmp_path / "spool"),
    }  # fmt: skip
    owner = _ledgerline(settings_for(database_url, REDIS_TEST_URL, **environ))
    standby = _ledgerline(settings_for(database_url, REDIS_TEST_URL, **environ))
    try:
        await owner.start()
        assert owner.flow is not None and owner.ownership is not None
        await owner.flow.wait_ready(5)
        await standby.start()
        assert standby.ownership is not None and not standby.ownership.owner

        for service, role in ((owner, "owner"), (standby, "standby")):
            status, body = await get_health(service)
            assert (status, body["status"], body["role"]) == (200, "ok", role)
            asterisk = body["checks"]["asterisk"]
            assert asterisk["role"] == role and asterisk["node"] == "east"
            assert asterisk["owners"]["east"]["process"] == owner.ownership.lease.owner
            assert asterisk["owners"]["west"] is None  # nobody serves that node now
        assert (await get_health(owner, "/healthz/owner"))[0] == 200
        status, body = await get_health(standby, "/healthz/owner")
        assert (status, body["role"]) == (503, "standby")
    finally:
        await standby.stop()
        await owner.stop()
        await sim.stop()
