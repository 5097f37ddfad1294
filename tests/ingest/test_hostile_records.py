"""Hostile input to the billing door: deep JSON, integers no column holds, wrong types, NUL,
hidden characters and oversized bodies are a 4xx naming the field (or that line's error in a
batch), never a 500, and change nothing."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from pbx.db.models import Customer, Invoice
from tests.ingest.conftest import OFEK_DID, Door, Machine

INVOICE = {"account": "A-1", "amount": 1_000, "issued": "2026-11-01", "due": "2026-11-30",
           "version": 1}  # fmt: skip


async def _machine(door: Door) -> Machine:
    tenant = await door.business("ofek", OFEK_DID)
    machine = await door.key(tenant, "billing:write", "billing:read")
    await machine.send("PUT", "/billing/customers/C-1", {"name": "Sara", "version": 1})
    await machine.send("PUT", "/billing/accounts/A-1", {"customer": "C-1", "version": 1})
    return machine


async def _invoices(door: Door) -> int:
    async with door.database.system_session() as session:
        return int(await session.scalar(select(func.count()).select_from(Invoice)) or 0)


BAD_FIELDS = [
    ({"amount": 2**63}, "amount"),
    ({"amount": 10**15 + 1}, "amount"),
    ({"amount": -1}, "amount"),
    ({"amount": True}, "amount"),
    ({"amount": "1000"}, "amount"),
    ({"amount": 1000.0}, "amount"),
    ({"outstanding": 1_001}, "outstanding"),
    ({"version": 2**64}, "version"),
    ({"version": "7"}, "version"),
    ({"version": None}, "version"),
    ({"updated_at": "2026-12-06T10:00:00"}, "version"),  # both given
    ({"version": None, "updated_at": "2026-12-06T10:00:00"}, "updated_at"),  # no offset
    ({"due": "2026-10-01"}, "due"),
    ({"issued": "2026-02-30"}, "issued"),
    ({"issued": "20261101"}, "issued"),
    ({"status": "overdue"}, "status"),
    ({"account": ["A-1"]}, "account"),
    ({"account": "A-1\u202e"}, "account"),
    ({"line_summary": {"text": "x"}}, "line_summary"),
    ({"currency": "XXX"}, "currency"),
    ({"colour": "red"}, "colour"),
]  # fmt: skip


async def test_a_bad_field_is_refused_naming_it(door: Door) -> None:
    """Every change of BAD_FIELDS, one after another against one business and key."""
    machine = await _machine(door)
    for change, field in BAD_FIELDS:
        reply = await machine.send("PUT", "/billing/invoices/I-1", INVOICE | change)

        assert reply.status == 422, (change, reply.body)
        assert reply.body["error"]["details"][0]["field"] == field, (change, reply.body)
        assert await _invoices(door) == 0, change


async def test_deep_json_and_nul_and_non_json_are_refused(door: Door) -> None:
    machine = await _machine(door)
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    shallow_deep = json.dumps(INVOICE | {"line_summary": [[[[[[["x"]]]]]]]}).encode()

    replies = [
        await machine.send("PUT", "/billing/invoices/I-1", raw=deep),
        await machine.send("PUT", "/billing/invoices/I-1", raw=b'{"amount": NaN}'),
        await machine.send("PUT", "/billing/invoices/I-1", INVOICE | {"line_summary": "a\x00b"}),
        await machine.send("PUT", "/billing/invoices/I-1", raw=shallow_deep),
        await machine.send("PUT", "/billing/invoices/I-1", [INVOICE]),
        await machine.send("PUT", "/billing/invoices/I-1", raw=b"\xff\xfe"),
        await machine.send("PUT", "/billing/invoices/I-1", raw=b"{" + b" " * 1_000_001 + b"}"),
    ]

    assert [reply.status for reply in replies] == [400, 400, 422, 422, 422, 400, 413]
    assert replies[2].body["error"]["details"][0]["field"] == "line_summary"
    assert await _invoices(door) == 0


async def test_a_reference_in_the_path_with_nul_or_hidden_characters_names_nothing(
    door: Door,
) -> None:
    machine = await _machine(door)

    nul = await machine.send("PUT", "/billing/invoices/I%001", INVOICE)
    bidi = await machine.send("PUT", "/billing/invoices/I%E2%80%AE1", INVOICE)
    long = await machine.send("PUT", "/billing/invoices/" + "I" * 65, INVOICE)

    assert nul.status == 404
    assert bidi.status == 422 and bidi.body["error"]["details"][0]["field"] == "ref"
    assert long.status == 422
    assert await _invoices(door) == 0


async def test_hostile_lines_in_a_batch_are_each_refused_and_the_rest_applied(
    door: Door,
) -> None:
    machine = await _machine(door)
    good = {"type": "invoice", "ref": "I-ok", **INVOICE}
    lines = [
        "[" * 5_000 + "]" * 5_000,
        json.dumps({"type": "invoice", "ref": "I-1", **INVOICE, "amount": 2**70}),
        json.dumps({"type": "invoice", "ref": "I-\u0000", **INVOICE}),
        json.dumps({"type": "invoice", "ref": "I-2", **INVOICE, "k\u0000": 1}),
        json.dumps({"type": "customer", "ref": "C-2", "name": "x", "phones": "0502345678",
                    "version": 1}),
        json.dumps({"type": "customer", "ref": "C-3", "name": "x", "phones": ["not a number"],
                    "version": 1}),
        json.dumps({"type": "customer", "ref": "C-4", "name": "x",
                    "address": {"line1": {"deep": ["x"]}}, "version": 1}),
        json.dumps({"type": 7, "ref": "I-3"}),
        json.dumps(good),
    ]  # fmt: skip

    reply = await machine.batch(lines)

    results = reply.body["results"]
    assert reply.status == 200 and len(results) == 9
    assert [r.get("error", {}).get("code") for r in results] == [
        "bad_json", "invalid", "invalid", "invalid", "invalid", "invalid", "invalid",
        "invalid", None]  # fmt: skip
    assert results[1]["error"]["field"] == "amount"
    assert results[5]["error"]["field"] == "phones.0"
    assert results[6]["error"]["field"] == "address.line1"
    assert results[8]["outcome"] == "created"
    async with door.database.system_session() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 1
    assert await _invoices(door) == 1


async def test_a_batch_over_16_mib_is_refused_whole(door: Door) -> None:
    machine = await _machine(door)
    line = json.dumps({"type": "invoice", "ref": "I-1", **INVOICE,
                       "line_summary": "x" * 1_900})  # fmt: skip

    reply = await machine.batch([line] * 9_000)  # 9,000 lines of ~2 kB

    assert reply.status == 413
    assert await _invoices(door) == 0
