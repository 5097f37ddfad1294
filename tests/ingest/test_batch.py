"""The NDJSON batch: one result a line, bad lines refused alone and good ones applied, records
that build on earlier lines of the same batch, limits of size and lines."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from pbx.db.models import Customer, Invoice
from tests.ingest.conftest import OFEK_DID, Door, Machine


async def _machine(door: Door) -> Machine:
    tenant = await door.business("ofek", OFEK_DID)
    return await door.key(tenant, "billing:write", "billing:read")


def _customer(ref: str, version: int = 1, **extra: object) -> dict:
    return {"type": "customer", "ref": ref, "name": f"Customer {ref}", "phones": [],
            "version": version, **extra}  # fmt: skip


def _account(ref: str, customer: str, version: int = 1) -> dict:
    return {"type": "account", "ref": ref, "customer": customer, "version": version}


def _invoice(ref: str, account: str, amount: int = 1000, version: int = 1) -> dict:
    return {"type": "invoice", "ref": ref, "account": account, "amount": amount,
            "issued": "2026-11-01", "due": "2026-11-30", "version": version}  # fmt: skip


async def test_bad_lines_are_refused_alone_and_good_ones_applied(door: Door) -> None:
    machine = await _machine(door)
    lines = [
        _customer("C-1"),
        "{not json",
        _account("A-1", "C-1"),
        _account("A-2", "C-404"),  # no such customer
        {"type": "invoice", "ref": "I-1"},  # fields missing
        _invoice("I-2", "A-1", amount=-5),
        _invoice("I-3", "A-1"),
        {"type": "refund", "ref": "X"},
        "",  # blank: skipped, still counted
        [1, 2],
        _invoice("I-4", "A-1"),
    ]

    reply = await machine.batch(lines)

    results = reply.body["results"]
    assert reply.status == 200
    assert [r["line"] for r in results] == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11]
    outcomes = {r["line"]: r.get("outcome") or r["error"]["code"] for r in results}
    assert outcomes == {1: "created", 2: "bad_json", 3: "created", 4: "unknown_customer",
                        5: "invalid", 6: "invalid", 7: "created", 8: "invalid", 10: "invalid",
                        11: "created"}  # fmt: skip
    assert results[4]["error"]["field"] == "account" and results[5]["error"]["field"] == "amount"
    assert reply.body["counts"] == {"created": 4, "failed": 6}
    async with door.database.system_session() as session:
        refs = set(await session.scalars(select(Invoice.invoice_ref)))
    assert refs == {"I-3", "I-4"}


async def test_a_ref_sent_twice_in_one_batch_keeps_the_newer_version(door: Door) -> None:
    machine = await _machine(door)

    reply = await machine.batch([
        _customer("C-1", 2, name="Second"), _customer("C-2"), _customer("C-1", 1, name="First"),
        _customer("C-1", 3, name="Third"),
    ])  # fmt: skip

    outcomes = [r["outcome"] for r in reply.body["results"]]
    assert outcomes == ["created", "created", "stale", "updated"]
    customer = (await machine.send("GET", "/billing/customers/C-1")).body
    assert customer["name"] == "Third" and customer["version"] == 3


async def test_thousands_of_records_in_one_batch_are_each_applied(door: Door) -> None:
    machine = await _machine(door)
    lines: list[dict] = []
    for n in range(300):
        lines += [_customer(f"C-{n}"), _account(f"A-{n}", f"C-{n}")]
    lines += [_invoice(f"I-{n}", f"A-{n % 300}", amount=n + 1) for n in range(2400)]

    reply = await machine.batch(lines)
    again = await machine.batch(lines)

    assert reply.body["counts"] == {"created": 3000}
    assert again.body["counts"] == {"unchanged": 3000}
    async with door.database.system_session() as session:
        invoices = await session.scalar(select(func.count()).select_from(Invoice))
        customers = await session.scalar(select(func.count()).select_from(Customer))
    assert (invoices, customers) == (2400, 300)


async def test_a_batch_over_the_line_limit_is_refused_whole(door: Door) -> None:
    machine = await _machine(door)
    line = json.dumps(_customer("C-1"))

    reply = await machine.batch([line] * 10_001)

    assert reply.status == 413
    async with door.database.system_session() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 0


async def test_a_batch_must_be_ndjson(door: Door) -> None:
    machine = await _machine(door)

    reply = await machine.send("POST", "/billing/batch", [_customer("C-1")])

    assert reply.status == 415


async def test_batches_at_the_same_moment_with_the_same_new_refs_write_each_once(
    door: Door,
) -> None:
    machine = await _machine(door)
    lines = [_customer(f"C-{n}") for n in range(200)]

    replies = await asyncio.gather(*(machine.batch(lines) for _ in range(3)))

    assert all(reply.status == 200 for reply in replies)
    outcomes = [r["outcome"] for reply in replies for r in reply.body["results"]]
    assert outcomes.count("created") == 200  # each ref created by exactly one batch
    assert set(outcomes) <= {"created", "unchanged"}
    async with door.database.system_session() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 200


async def test_refs_with_quotes_backslashes_and_wildcards_are_found_as_written(
    door: Door,
) -> None:
    machine = await _machine(door)
    refs = ["C-O'Brien", "C-\\x27", "C-%", "C-_", "C-'; DROP TABLE customers; --"]

    first = await machine.batch([_customer(ref) for ref in refs])
    again = await machine.batch([_customer(ref) for ref in refs])

    assert first.body["counts"] == {"created": 5} and again.body["counts"] == {"unchanged": 5}
    async with door.database.system_session() as session:
        stored = set(await session.scalars(select(Customer.customer_ref)))
    assert stored == set(refs)


async def test_invoice_batches_at_the_same_moment_with_the_same_new_refs_write_each_once(
    door: Door,
) -> None:
    machine = await _machine(door)
    await machine.batch([_customer("C-1"), _account("A-1", "C-1")])
    lines = [_invoice(f"I-{n}", "A-1") for n in range(300)]

    replies = await asyncio.gather(*(machine.batch(lines) for _ in range(3)))

    assert all(reply.status == 200 for reply in replies)
    outcomes = [r["outcome"] for reply in replies for r in reply.body["results"]]
    assert outcomes.count("created") == 300  # each ref created by exactly one batch
    assert set(outcomes) <= {"created", "unchanged"}
    async with door.database.system_session() as session:
        assert await session.scalar(select(func.count()).select_from(Invoice)) == 300


async def test_a_batch_of_customers_and_accounts_reads_back_as_sent(door: Door) -> None:
    machine = await _machine(door)
    lines = []
    for n in range(5):
        lines.append(_customer(f"C-{n}", phones=[f"+97253000000{n}", "03-555 1234"],
                               email=f"c{n}@example.com", language="he",
                               date_of_birth="1980-02-0" + str(n + 1),
                               address={"line1": f"  {n} Herzl   St ", "city": "Tel Aviv",
                                        "country": "IL"}))  # fmt: skip
        lines.append({**_account(f"A-{n}", f"C-{n}"), "vip": n == 2, "status": "overdue"})

    reply = await machine.batch(lines)

    assert reply.body["counts"] == {"created": 10}
    customer = (await machine.send("GET", "/billing/customers/C-3")).body
    assert customer["phones"] == ["+972530000003", "+97235551234"]
    assert (customer["email"], customer["language"], customer["date_of_birth"]) == (
        "c3@example.com", "he", "1980-02-04")  # fmt: skip
    assert customer["address"] == {"line1": "3 Herzl St", "line2": None, "city": "Tel Aviv",
                                   "postal_code": None, "country": "IL"}  # fmt: skip
    account = (await machine.send("GET", "/billing/accounts/A-2")).body
    assert (account["customer"], account["vip"], account["status"], account["balance"]) == (
        "C-2", True, "overdue", 0)  # fmt: skip
