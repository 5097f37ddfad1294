from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest

from agi_scripts.fastagi.server import FastAGIServer
from agi_scripts.handlers.caller_lookup import caller_lookup
from agi_scripts.pop_token import PopTokens
from billing_bridge.identification.cache import NoCache
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.service import CallerIdentification
from pbx.db.database import Database
from pbx.installation_secret import MemorySecret
from tests.factories import make_customer, make_tenant

TEL_AVIV_DID = "+97235550100"
VILNIUS_DID = "+37052550100"
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@pytest.fixture
def pop_tokens() -> PopTokens:
    """Shared by the lookup and the screen-pop servers, as one installation's processes are."""
    return PopTokens(MemorySecret())


@pytest.fixture
async def customers(database: Database) -> dict[str, int]:
    """Two businesses with the customers the AGI tests call as."""
    il = await make_tenant(database, "ofek", "IL", "ILS", [TEL_AVIV_DID], "Asia/Jerusalem")
    lt = await make_tenant(database, "saule", "LT", "EUR", [VILNIUS_DID], "Europe/Vilnius")
    sara = await make_customer(
        database, il, "C-1", 'שרה "השרה" כהן\\', ["+972502345678"],
        accounts=[{"ref": "A-1", "currency": "ILS", "balance_minor": 45_050, "status": "overdue",
                   "invoices": [{"amount_minor": 45_050, "due_on": date(2026, 1, 1)}]}],
    )  # fmt: skip
    zygis = await make_customer(
        database, lt, "L-1", "Žygimantas Šimkūnas", ["+37061234567"],
        accounts=[{"ref": "L-A-1", "currency": "EUR", "balance_minor": 8_450, "vip": True}],
    )  # fmt: skip
    await make_customer(database, il, "C-2", "Avi Levi", ["+97235551234"])
    await make_customer(database, il, "C-3", "Dana Levi", ["+97235551234"])
    return {"il": il, "lt": lt, "sara": sara, "zygis": zygis}


@pytest.fixture
async def agi_server(database: Database, pop_tokens: PopTokens) -> AsyncIterator[FastAGIServer]:
    identification = CallerIdentification(CustomerDirectory(database), NoCache(), "IL")
    server = FastAGIServer(
        {"caller-lookup": caller_lookup(identification, pop_tokens, lambda: NOW)},
        host="127.0.0.1", port=0,
        idle_timeout=2.0, max_sessions=100,
    )  # fmt: skip
    await server.start()
    yield server
    await server.stop()
