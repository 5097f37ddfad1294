"""A disabled business: its numbers resolve to no business (its calls get the dialplan's
fallback), its users are signed out and cannot sign in or set a password; nothing is deleted,
and enabling it brings it all back."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from agi_scripts.fastagi.server import FastAGIServer
from agi_scripts.handlers.caller_lookup import caller_lookup
from agi_scripts.pop_token import PopTokens
from billing_bridge.identification.cache import NoCache
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.model import Match, NoMatchReason
from billing_bridge.identification.service import CallerIdentification
from pbx.db.models import Customer, InboundNumber, User
from pbx.installation_secret import MemorySecret
from pbx.platform import tenants
from pbx.simulator.fastagi_peer import run_fastagi_call
from tests.factories import make_customer
from tests.platform.conftest import OPERATOR, PASSWORD, Platform

DID = "+97237630100"


def _identification(platform: Platform, default_tenant: str = "") -> CallerIdentification:
    # No DID memory: each call asks the database, as a process does once its entry expires.
    return CallerIdentification(CustomerDirectory(platform.database), NoCache(), "IL",
                                default_tenant=default_tenant, did_ttl_seconds=0)  # fmt: skip


async def test_a_disabled_businesss_number_resolves_to_no_business(platform: Platform) -> None:
    done = await platform.business("ofek", DID)
    await make_customer(platform.database, done.tenant.id, "C-1", "Sara", ["+972502345678"])
    identification = _identification(platform)
    assert (await identification.identify("0502345678", DID)).match is Match.UNIQUE
    await tenants.set_disabled(platform.database, "ofek", True, actor=OPERATOR)
    assert await identification.tenant_for(DID) is None
    result = await identification.identify("0502345678", "037630100")
    assert (result.match, result.reason) == (Match.NONE, NoMatchReason.UNKNOWN_DID)
    await tenants.set_disabled(platform.database, "ofek", False, actor=OPERATOR)
    assert (await identification.identify("0502345678", DID)).match is Match.UNIQUE


async def test_caller_lookup_over_fastagi_finds_no_business_behind_a_disabled_number(
    platform: Platform,
) -> None:
    done = await platform.business("ofek", DID)
    await make_customer(platform.database, done.tenant.id, "C-1", "Sara", ["+972502345678"])
    await tenants.set_disabled(platform.database, "ofek", True, actor=OPERATOR)
    lookup = caller_lookup(_identification(platform), PopTokens(MemorySecret()),
                           lambda: datetime.now(UTC))  # fmt: skip
    server = FastAGIServer({"caller-lookup": lookup}, host="127.0.0.1", port=0,
                           idle_timeout=2.0, max_sessions=10)  # fmt: skip
    await server.start()
    try:
        record = await run_fastagi_call("127.0.0.1", server.port, "caller-lookup",
                                        callerid="050-234-5678", args=(DID,))  # fmt: skip
    finally:
        await server.stop()
    assert (record.variables["LL_MATCH"], record.variables["LL_REASON"]) == ("none", "unknown-did")
    assert record.variables["LL_POP_TOKEN"] == ""  # no business: the dialplan's fallback


async def test_a_disabled_default_business_serves_no_call_without_a_did(
    platform: Platform,
) -> None:
    await platform.business("ofek", DID)
    await tenants.set_disabled(platform.database, "ofek", True, actor=OPERATOR)
    identification = _identification(platform, default_tenant="ofek")
    assert await identification.tenant_for("unknown") is None


async def test_a_disabled_businesss_users_are_signed_out_and_cannot_sign_in(
    platform: Platform,
) -> None:
    admin = await platform.admin_of("ofek", DID)
    api = platform.client(platform.token)
    status, view = await api.call("POST", "/platform/tenants/ofek/disable")
    assert status == 200 and view["disabled"] is True
    status, _ = await admin.call("GET", "/auth/me")
    assert status == 401
    status, answer = await admin.call("POST", "/auth/login", {"tenant": "ofek", "username": "dana",
                                                              "password": PASSWORD})  # fmt: skip
    assert status == 401 and answer["error"]["code"] == "login_failed"
    await api.call("POST", "/platform/tenants/ofek/enable")
    await admin.login("ofek", "dana", PASSWORD)
    await admin.close()
    await api.close()


async def test_a_disabled_businesss_links_set_no_password(platform: Platform) -> None:
    done = await platform.business("ofek", DID)
    await tenants.set_disabled(platform.database, "ofek", True, actor=OPERATOR)
    client = platform.client()
    status, _ = await client.call("POST", "/auth/set-password",
                                  {"token": done.link.token, "password": PASSWORD})  # fmt: skip
    assert status == 410
    await client.close()


async def test_disabling_deletes_nothing(platform: Platform) -> None:
    done = await platform.business("ofek", DID)
    await make_customer(platform.database, done.tenant.id, "C-1", "Sara", ["+972502345678"])
    await tenants.set_disabled(platform.database, "ofek", True, actor=OPERATOR)
    async with platform.database.system_session() as session:
        counts = [await session.scalar(select(func.count()).select_from(model))
                  for model in (Customer, InboundNumber, User)]  # fmt: skip
    assert counts == [1, 1, 1]
    [listed] = await tenants.list_tenants(platform.database)
    assert listed.disabled and listed.dids == (DID,)
