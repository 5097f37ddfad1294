"""Caller lookups asked at the same moment, answered together (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest

from billing_bridge.identification.directory import CustomerDirectory, TenantInfo
from pbx.db.database import Database
from pbx.db.direct import Pooled
from tests.factories import make_customer, make_tenant

TODAY = date(2026, 11, 23)
SARA = "+972502345678"
HOME = "+97235551234"  # the Levis' household
AVI = "+972509999999"
UNKNOWN = ["+972500000001", "+972500000002"]
ELSEWHERE = "+37061234567"  # a customer of another business


@pytest.fixture
async def ofek(database: Database) -> TenantInfo:
    return await _businesses(database)


async def _businesses(database: Database) -> TenantInfo:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"], "Asia/Jerusalem")
    other = await make_tenant(database, "saule", "LT", "EUR", ["+37052550100"], "Europe/Vilnius")
    await make_customer(
        database, tenant, "C-100", "Sara Cohen", [SARA],
        accounts=[
            {"ref": "ACC-1", "currency": "ILS", "balance_minor": 45_050, "status": "overdue",
             "invoices": [
                 {"amount_minor": 30_000, "due_on": date(2026, 10, 1)},
                 {"amount_minor": 2_500, "due_on": date(2026, 11, 22)},
                 {"amount_minor": 15_050, "due_on": date(2026, 12, 1)},  # not yet due
                 {"amount_minor": 9_999, "due_on": date(2026, 9, 1), "status": "paid"},
             ]},
            {"ref": "ACC-2", "currency": "EUR", "balance_minor": 1_000, "status": "active"},
        ],
    )  # fmt: skip
    await make_customer(database, tenant, "C-2", "Dana Levi", [HOME])
    await make_customer(
        database, tenant, "C-1", "Avi Levi", [HOME, AVI],
        accounts=[{"ref": "ACC-3", "currency": "ILS", "balance_minor": 700}],
    )  # fmt: skip
    await make_customer(database, other, "L-1", "Ona", [ELSEWHERE, SARA])
    directory = CustomerDirectory(database)
    found = await directory.tenant_by_slug("ofek")
    assert found is not None
    return found


async def test_numbers_looked_up_together_get_the_answers_each_gets_alone(
    database: Database, ofek: TenantInfo
) -> None:
    # The first goes at once, alone; the others wait behind it and go in one batch.
    numbers = [UNKNOWN[0], SARA, HOME, UNKNOWN[1], AVI, ELSEWHERE, SARA]
    alone = [await CustomerDirectory(database).owners_of(ofek, n, 10, TODAY) for n in numbers]
    directory = CustomerDirectory(database)
    together = await asyncio.gather(
        *(directory.owners_of(ofek, number, 10, TODAY) for number in numbers)
    )
    assert together == alone
    unknown, sara, home, other_unknown, avi, elsewhere, sara_again = together
    candidates, profile = sara
    assert [c.name for c in candidates] == ["Sara Cohen"]
    assert profile is not None and profile.headline_currency == "ILS"
    accounts = [
        (a.account_ref, a.balance_minor, a.overdue_minor, a.overdue_invoices)
        for a in profile.accounts
    ]
    assert accounts == [("ACC-1", 45_050, 32_500, 2), ("ACC-2", 1_000, 0, 0)]
    assert [c.name for c in home[0]] == ["Avi Levi", "Dana Levi"] and home[1] is None
    assert unknown == other_unknown == elsewhere == ([], None)
    assert avi[1] is not None and [a.account_ref for a in avi[1].accounts] == ["ACC-3"]
    assert sara_again == sara


async def test_each_number_in_a_batch_keeps_its_own_cap_on_holders(
    database: Database, ofek: TenantInfo
) -> None:
    directory = CustomerDirectory(database)
    _, home, sara = await asyncio.gather(
        *(directory.owners_of(ofek, number, 1, TODAY) for number in (UNKNOWN[0], HOME, SARA))
    )
    assert [c.name for c in home[0]] == ["Avi Levi"]
    assert [c.name for c in sara[0]] == ["Sara Cohen"]


async def test_overdue_is_counted_from_each_lookups_own_today(
    database: Database, ofek: TenantInfo
) -> None:
    directory = CustomerDirectory(database)
    before, after = await asyncio.gather(
        directory.owners_of(ofek, SARA, 10, date(2026, 11, 22)),
        directory.owners_of(ofek, SARA, 10, date(2026, 11, 23)),
    )
    assert before[1] is not None and before[1].overdue["ILS"] == 30_000
    assert after[1] is not None and after[1].overdue["ILS"] == 32_500


async def test_lookups_waiting_at_the_same_moment_share_one_statement(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ofek = await _businesses(postgres_database)
    directory = CustomerDirectory(postgres_database)
    await directory.owners_of(ofek, SARA, 10, TODAY)  # the pool opened, the statement prepared
    sent: list[str] = []
    fetch = Pooled.fetch

    async def counted(self: Pooled, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return await fetch(self, query, *args, **kwargs)

    monkeypatch.setattr(Pooled, "fetch", counted)
    numbers = [SARA, HOME, *UNKNOWN, AVI, ELSEWHERE]
    answers = await asyncio.gather(*(directory.owners_of(ofek, n, 10, TODAY) for n in numbers))
    assert len(sent) == 2  # the first alone, at once; all the others behind it together
    assert [len(candidates) for candidates, _ in answers] == [1, 2, 0, 0, 1, 0]
