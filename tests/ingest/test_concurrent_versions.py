"""Two requests writing the same record at the same moment: the newer version is kept
whichever commits first. The later request waits for the earlier one's row, then meets the
version it committed (`stale`), never writes its older version over it (PostgreSQL: SQLite
lets one writer in at a time, so it cannot race)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from billing_bridge.ingest.outcomes import Outcome, Result
from billing_bridge.ingest.records import (
    Business,
    Record,
    read_account,
    read_customer,
    read_invoice,
)
from billing_bridge.ingest.service import apply_records
from pbx.audit import By
from pbx.db.database import Database
from pbx.db.models import Account, Customer, CustomerPhone, Invoice
from tests.factories import make_tenant
from tests.locks import until_a_statement_waits_on_a_lock

ACTOR = By("key:erp")
ISSUED = {"issued": "2026-11-01", "due": "2026-11-30"}


def _customer(version: int, name: str, phone: str) -> dict[str, Any]:
    return {"ref": "C-1", "name": name, "phones": [phone], "version": version}


def _account(version: int, status: str) -> dict[str, Any]:
    return {"ref": "A-1", "customer": "C-1", "status": status, "version": version}


def _invoice(version: int, amount: int) -> dict[str, Any]:
    return {"ref": "I-1", "account": "A-1", "amount": amount, "version": version, **ISSUED}


async def _apply(database: Database, business: Business, records: list[Record]) -> list[Result]:
    async with database.tenant_session(business.tenant_id) as session, session.begin():
        return await apply_records(session, business, records, ACTOR)


async def _stored(database: Database, tenant_id: int, kind: str) -> tuple[Any, ...]:
    async with database.tenant_session(tenant_id) as session:
        if kind == "customer":
            name, version = (await session.execute(
                select(Customer.name, Customer.source_version))).one()  # fmt: skip
            phones = set(await session.scalars(select(CustomerPhone.e164)))
            return name, version, phones
        if kind == "account":
            return tuple((await session.execute(
                select(Account.status, Account.source_version))).one())  # fmt: skip
        return tuple((await session.execute(
            select(Invoice.amount_minor, Invoice.source_version))).one())  # fmt: skip


CASES = {
    # kind: (the newer record, the older one, what stays stored)
    "customer": (
        lambda b: read_customer(_customer(3, "Newer", "+972549876543"), b),
        lambda b: read_customer(_customer(2, "Older", "+972528765432"), b),
        ("Newer", 3, {"+972549876543"}),
    ),
    "account": (
        lambda b: read_account(_account(3, "closed"), b),
        lambda b: read_account(_account(2, "suspended"), b),
        ("closed", 3),
    ),
    "invoice": (
        lambda b: read_invoice(_invoice(3, 3000), b),
        lambda b: read_invoice(_invoice(2, 2000), b),
        (3000, 3),
    ),
}


@pytest.mark.parametrize("kind", list(CASES))
async def test_an_older_version_written_at_the_same_moment_never_overwrites_a_newer(
    postgres_database: Database, kind: str
) -> None:
    database = postgres_database
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    business = Business(tenant_id, "IL", "ILS")
    await _apply(database, business, [
        read_customer(_customer(1, "First", "+972523456789"), business),
        read_account(_account(1, "active"), business),
        read_invoice(_invoice(1, 1000), business),
    ])  # fmt: skip
    newer, older, kept = CASES[kind]

    async with database.tenant_session(tenant_id) as session, session.begin():
        (first,) = await apply_records(session, business, [newer(business)], ACTOR)
        second = asyncio.create_task(_apply(database, business, [older(business)]))
        await until_a_statement_waits_on_a_lock(database, second, what="the newer version's row")
    (late,) = await second  # the newer version committed; the older meets it

    assert first.outcome is Outcome.UPDATED
    assert late.outcome is Outcome.STALE and not late.changed
    assert await _stored(database, tenant_id, kind) == kept
