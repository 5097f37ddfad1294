"""Two businesses with a customer each, alike but for the business: what one may read or
change of the other's is what the tenancy tests look at."""

from __future__ import annotations

import pytest

from pbx.db.database import Database
from tests.factories import make_customer, make_tenant


@pytest.fixture
async def two_tenants(database: Database) -> tuple[int, int]:
    return await _two_tenants(database)


@pytest.fixture
async def postgres_two_tenants(postgres_database: Database) -> tuple[int, int]:
    """`two_tenants` on PostgreSQL alone (statements only it runs)."""
    return await _two_tenants(postgres_database)


async def _two_tenants(database: Database) -> tuple[int, int]:
    first = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    second = await make_tenant(database, "saule", "LT", "EUR", ["+37052550100"])
    for tenant, name in ((first, "Avi"), (second, "Ona")):
        await make_customer(
            database, tenant, "C-1", name, ["+97235551234"],
            accounts=[{"ref": "A-1", "currency": "EUR", "balance_minor": 100}],
        )  # fmt: skip
    return first, second
