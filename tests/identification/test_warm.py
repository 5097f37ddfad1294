"""The caller lookup made ready before the first caller (`CallerIdentification.warm`): opened
on first use instead, the first callers after a start waited 20-90 ms behind the pool's
connects and each PostgreSQL backend's first statement."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import pytest

from billing_bridge.identification.directory import CustomerDirectory
from pbx.db.database import Database
from pbx.db.direct import Pooled
from tests.factories import make_customer, make_tenant

TODAY = date(2026, 11, 23)
SARA = "+972502345678"


async def test_warming_runs_the_lookups_once_on_every_direct_connection(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(postgres_database, "ofek", "IL", "ILS", ["+97235550100"])
    await make_customer(postgres_database, tenant, "C-1", "Sara Cohen", [SARA])
    ran: dict[int, list[str]] = defaultdict(list)  # connection -> the queries it ran
    fetch = Pooled.fetch

    async def recorded(self: Pooled, query: str, *args: Any, **kwargs: Any) -> Any:
        ran[id(self)].append(query)
        return await fetch(self, query, *args, **kwargs)

    monkeypatch.setattr(Pooled, "fetch", recorded)
    directory = CustomerDirectory(postgres_database)
    await directory.warm()

    assert len(ran) == 10  # the pool's every connection (Database's default size)
    shapes = {tuple(queries) for queries in ran.values()}
    assert len(shapes) == 1  # each ran the same statements: the one-number lookup, the many
    (warmed,) = shapes
    assert len(warmed) == 2 and "json_array_elements_text" in warmed[1]
    warmed_connections = set(ran)

    ran.clear()
    business = await directory.tenant_by_slug("ofek")
    assert business is not None
    candidates, profile = await directory.owners_of(business, SARA, 10, TODAY)
    assert [c.name for c in candidates] == ["Sara Cohen"] and profile is not None
    assert set(ran) <= warmed_connections  # no connection opened for the first caller
    assert list(ran.values()) == [[warmed[0]]]  # the statement warmed, not another


async def test_warming_changes_no_answer(database: Database) -> None:
    """On SQLite (no direct pool) and PostgreSQL alike: a lookup after warming finds what
    it finds without, and warming twice is harmless."""
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    await make_customer(database, tenant, "C-1", "Sara Cohen", [SARA])
    directory = CustomerDirectory(database)
    business = await directory.tenant_by_slug("ofek")
    assert business is not None
    before = await directory.owners_of(business, SARA, 10, TODAY)

    await directory.warm()
    await directory.warm()

    assert await directory.owners_of(business, SARA, 10, TODAY) == before
    assert await directory.owners_of(business, "+972500000001", 10, TODAY) == ([], None)
