"""Idempotency-Key on the billing writes: the same key and request get the stored answer (and
the work is done once), another request with the key is refused, requests with one key at
the same moment do the work once, refused work frees its key, and keys expire."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from billing_bridge.ingest import idempotency
from pbx.db.models import AccountEntry, IdempotencyKey, Tenant
from tests.ingest.conftest import OFEK_DID, Door, Machine

CUSTOMER = {"name": "Sara Cohen", "phones": [], "version": 1}
ACCOUNT = {"customer": "C-1", "version": 1}
PAYMENT = {"reference": "BT-1", "account": "A-1", "amount": 5_000, "currency": "ILS",
           "received_at": "2026-12-06T09:00:00Z", "method": "bank_transfer"}  # fmt: skip


async def _machine(door: Door) -> Machine:
    tenant = await door.business("ofek", OFEK_DID)
    machine = await door.key(tenant, "billing:write", "billing:read")
    assert (await machine.send("PUT", "/billing/customers/C-1", CUSTOMER)).status == 200
    assert (await machine.send("PUT", "/billing/accounts/A-1", ACCOUNT)).status == 200
    return machine


async def _entries(door: Door) -> int:
    async with door.database.system_session() as session:
        return int(await session.scalar(select(func.count()).select_from(AccountEntry)) or 0)


async def test_the_same_key_and_request_get_the_same_answer_replayed(door: Door) -> None:
    machine = await _machine(door)

    first = await machine.send("POST", "/billing/external-payments", PAYMENT, key="pay-1")
    second = await machine.send("POST", "/billing/external-payments", PAYMENT, key="pay-1")

    assert (first.status, first.body) == (200, {"ref": "BT-1", "outcome": "created"})
    assert (second.status, second.body) == (first.status, first.body)
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await _entries(door) == 1


async def test_a_batch_sent_again_with_its_key_gets_its_answer_replayed(door: Door) -> None:
    """A batch's answer is written as JSON text: the key keeps it as the JSON it is."""
    machine = await _machine(door)
    lines = [{"type": "customer", "ref": 'C-"\u05d3', "name": "Dana", "version": 1},
             "{not json", PAYMENT | {"type": "external_payment"}]  # fmt: skip

    first = await machine.batch(lines, key="batch-1")
    second = await machine.batch(lines, key="batch-1")

    assert first.status == 200 and first.body["counts"] == {"created": 2, "failed": 1}
    assert first.body["results"][0]["ref"] == 'C-"\u05d3'
    assert [r.get("outcome") or r["error"]["code"] for r in first.body["results"]] == [
        "created", "bad_json", "created"]  # fmt: skip
    assert (second.status, second.body) == (first.status, first.body)
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert await _entries(door) == 1


async def test_the_same_key_with_another_body_is_refused(door: Door) -> None:
    machine = await _machine(door)
    await machine.send("POST", "/billing/external-payments", PAYMENT, key="pay-1")

    other = await machine.send("POST", "/billing/external-payments",
                               PAYMENT | {"amount": 6_000}, key="pay-1")  # fmt: skip
    elsewhere = await machine.send("PUT", "/billing/customers/C-1", CUSTOMER, key="pay-1")

    assert other.status == 422 and other.body["error"]["code"] == "idempotency_key_reused"
    assert elsewhere.status == 422
    assert await _entries(door) == 1


async def test_requests_with_one_key_at_the_same_moment_do_the_work_once(door: Door) -> None:
    machine = await _machine(door)

    replies = await asyncio.gather(*(
        machine.send("POST", "/billing/adjustments",
                     {"reference": "ADJ-1", "account": "A-1", "amount": 700,
                      "reason": "late fee"}, key="adj-1")
        for _ in range(6)
    ))  # fmt: skip

    statuses = sorted(reply.status for reply in replies)
    assert set(statuses) <= {200, 409} and 200 in statuses
    done = [reply for reply in replies if reply.status == 200]
    assert all(reply.body == {"ref": "ADJ-1", "outcome": "created"} for reply in done)
    refused = [reply for reply in replies if reply.status == 409]
    assert all(r.body["error"]["code"] == "idempotency_key_in_progress" for r in refused)
    assert await _entries(door) == 1
    account = (await machine.send("GET", "/billing/accounts/A-1")).body
    assert account["balance"] == 700


async def test_a_refused_request_frees_its_key_for_the_corrected_one(door: Door) -> None:
    machine = await _machine(door)

    refused = await machine.send("POST", "/billing/external-payments",
                                 PAYMENT | {"account": "A-404"}, key="pay-2")  # fmt: skip
    corrected = await machine.send("POST", "/billing/external-payments", PAYMENT, key="pay-2")

    assert refused.status == 422 and refused.body["error"]["code"] == "unknown_account"
    assert corrected.status == 200 and corrected.body["outcome"] == "created"


async def test_a_key_is_kept_a_day_and_then_forgotten(door: Door) -> None:
    machine = await _machine(door)
    await machine.send("PUT", "/billing/customers/C-1", CUSTOMER | {"version": 2}, key="k")
    async with door.database.system_session() as session, session.begin():
        await session.execute(update(IdempotencyKey).values(
            created_at=datetime.now(UTC) - timedelta(hours=24, minutes=1)))  # fmt: skip

    again = await machine.send("PUT", "/billing/customers/C-1",
                               CUSTOMER | {"version": 3}, key="k")  # fmt: skip

    assert again.status == 200 and again.body["outcome"] == "updated"
    assert "Idempotent-Replayed" not in again.headers


async def test_an_idempotency_key_must_be_printable_and_at_most_255_characters(
    door: Door,
) -> None:
    machine = await _machine(door)

    long = await machine.send("PUT", "/billing/customers/C-1", CUSTOMER, key="k" * 256)
    fine = await machine.send("PUT", "/billing/customers/C-1", CUSTOMER, key="k" * 255)

    assert long.status == 422 and long.body["error"]["details"][0]["field"] == "Idempotency-Key"
    assert fine.status == 200


async def test_one_business_s_key_is_not_another_s(door: Door) -> None:
    ours = await _machine(door)
    other = await door.business("other", "+97237630199")
    theirs = await door.key(other, "billing:write")
    await ours.send("PUT", "/billing/customers/C-1", CUSTOMER | {"version": 2}, key="shared")

    reply = await theirs.send("PUT", "/billing/customers/C-1", CUSTOMER, key="shared")

    assert reply.status == 200 and reply.body["outcome"] == "created"
    assert "Idempotent-Replayed" not in reply.headers


async def _claimed(door: Door, tenant: int, body: dict, age: timedelta) -> None:
    """A claim of the key as a request being worked holds it (no answer yet)."""
    async with door.database.tenant_session(tenant) as session, session.begin():
        session.add(IdempotencyKey(
            tenant_id=tenant, key="busy", request_method="PUT",
            request_path="/api/v1/billing/customers/C-1",
            request_sha256=hashlib.sha256(json.dumps(body).encode()).hexdigest(),
            created_at=datetime.now(UTC) - age,
        ))  # fmt: skip


async def test_a_key_being_worked_is_refused_until_its_worker_is_presumed_dead(
    door: Door,
) -> None:
    machine = await _machine(door)
    tenant = await _tenant_of(door)
    body = CUSTOMER | {"version": 5}
    await _claimed(door, tenant, body, timedelta(seconds=1))

    busy = await machine.send("PUT", "/billing/customers/C-1", body, key="busy")
    async with door.database.system_session() as session, session.begin():
        await session.execute(update(IdempotencyKey).values(
            created_at=datetime.now(UTC) - timedelta(minutes=11)))  # fmt: skip
    taken_over = await machine.send("PUT", "/billing/customers/C-1", body, key="busy")
    replayed = await machine.send("PUT", "/billing/customers/C-1", body, key="busy")

    assert busy.status == 409 and busy.body["error"]["code"] == "idempotency_key_in_progress"
    assert taken_over.status == 200 and taken_over.body["outcome"] == "updated"
    assert replayed.headers.get("Idempotent-Replayed") == "true"


async def _tenant_of(door: Door) -> int:
    async with door.database.system_session() as session:
        found = await session.scalar(select(Tenant.id).where(Tenant.slug == "ofek"))
    assert found is not None
    return found


async def test_the_purge_deletes_every_business_s_keys_older_than_a_day(door: Door) -> None:
    machine = await _machine(door)
    await machine.send("PUT", "/billing/customers/C-1", CUSTOMER | {"version": 2}, key="old")
    await machine.send("PUT", "/billing/customers/C-1", CUSTOMER | {"version": 3}, key="new")
    async with door.database.system_session() as session, session.begin():
        await session.execute(
            update(IdempotencyKey).where(IdempotencyKey.key == "old")
            .values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )  # fmt: skip

    purged = await idempotency.purge_expired(door.database, datetime.now(UTC))

    async with door.database.system_session() as session:
        kept = list(await session.scalars(select(IdempotencyKey.key)))
    assert purged == 1 and kept == ["new"]
