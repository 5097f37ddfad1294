"""The worklist through /api/v1 (no call flow here: placing a call is 503 and counts no
attempt): built and read by supervisors with reasons and score parts, claimed with the
pop by an agent, kept within the business, settings and the do-not-call list audited,
hostile bodies refused with 4xx and nothing written (a call that was not a worklist
call takes no collections outcome). Every answer is checked against the
OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from pbx.auth.passwords import hash_password
from pbx.db.models import Account, AuditEntry, User, WorklistAttempt
from pbx.http.app import build_api
from tests.http.conftest import PASSWORD
from tests.http.support import ApiClient
from tests.ingest.conftest import OFEK_DID, OTHER_DID, Door

OVERDUE_ON = (datetime.now(UTC) - timedelta(days=40)).date().isoformat()
ALL_DAY = {"call_from": "00:00", "call_until": "23:59", "max_attempts": 7,
           "no_contact_days": 10, "claim_minutes": 15}  # fmt: skip


@dataclass
class Desk:
    door: Door
    tenant_id: int
    account: int
    clients: dict[str, ApiClient]

    def __getitem__(self, name: str) -> ApiClient:
        return self.clients[name]


async def _business(door: Door, slug: str, did: str, *users: tuple[str, str]) -> int:
    tenant = await door.business(slug, did)
    machine = await door.key(tenant, "billing:write", "billing:read")
    lines = [
        {"type": "customer", "ref": "C-1", "name": "Dana", "phones": ["+972502345678"],
         "version": 1},
        {"type": "account", "ref": "A-1", "customer": "C-1", "balance": 90_000, "version": 1},
        {"type": "invoice", "ref": "I-1", "account": "A-1", "amount": 90_000,
         "issued": OVERDUE_ON, "due": OVERDUE_ON, "version": 1},
    ]  # fmt: skip
    reply = await machine.batch(lines)
    assert reply.status == 200, reply.body
    async with door.database.tenant_session(tenant) as session, session.begin():
        session.add_all(User(username=name, display_name=name.title(), role=role,
                             password_hash=hash_password(PASSWORD))
                        for name, role in users)  # fmt: skip
    return tenant


async def _client(door: Door, slug: str, name: str) -> ApiClient:
    client = ApiClient(door.url, build_api().document())
    await client.login(slug, name, PASSWORD)
    return client


@pytest.fixture
async def desk(door: Door) -> AsyncIterator[Desk]:
    tenant = await _business(door, "ofek", OFEK_DID, ("avi", "agent"), ("sam", "supervisor"),
                             ("boss", "admin"))  # fmt: skip
    await _business(door, "other", OTHER_DID, ("olga", "agent"))
    async with door.database.tenant_session(tenant) as session:
        account = await session.scalar(select(Account.id).where(Account.account_ref == "A-1"))
    assert account is not None
    clients = {name: await _client(door, "ofek", name) for name in ("avi", "sam", "boss")}
    clients["olga"] = await _client(door, "other", "olga")
    assert (await clients["boss"].call("PUT", "/admin/worklist-settings", ALL_DAY))[0] == 200
    yield Desk(door, tenant, account, clients)
    for client in clients.values():
        await client.close()


async def _audit(desk: Desk) -> list[str]:
    async with desk.door.database.tenant_session(desk.tenant_id) as session:
        return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def test_a_supervisor_builds_and_reads_the_list_with_reasons_and_score_parts(
    desk: Desk,
) -> None:
    assert (await desk["avi"].call("POST", "/worklist/build"))[0] == 403
    status, built = await desk["sam"].call("POST", "/worklist/build")
    assert status == 200 and built == {"listed": 1, "removed": 0}
    assert (await desk["avi"].call("GET", "/worklist"))[0] == 403
    status, listed = await desk["sam"].call("GET", "/worklist")
    [entry] = listed["items"]
    assert entry["account_id"] == desk.account and entry["reasons"] == ["overdue_no_contact"]
    assert entry["score"] == sum(entry["score_parts"].values())
    assert entry["score_parts"]["amount"] == 90


async def test_an_agent_claims_the_next_account_and_gets_its_pop_before_any_call(
    desk: Desk,
) -> None:
    await desk["sam"].call("POST", "/worklist/build")
    status, claimed = await desk["avi"].call("POST", "/worklist/next")
    assert status == 200 and claimed["entry"]["status"] == "claimed"
    assert claimed["pop"]["customer"]["name"] == "Dana"
    assert [a["id"] for a in claimed["pop"]["accounts"]] == [desk.account]
    entry_id = claimed["entry"]["id"]
    # Another business's agent: the entry is not there for them.
    assert (await desk["olga"].call("POST", f"/worklist/entries/{entry_id}/release"))[0] == 404
    assert (await desk["olga"].call("POST", f"/worklist/entries/{entry_id}/call"))[0] == 404
    assert (await desk["olga"].call("POST", "/worklist/next"))[1]["entry"] is None
    # No call flow in this process: 503, and the attempt is not counted.
    assert (await desk["avi"].call("POST", f"/worklist/entries/{entry_id}/call"))[0] == 503
    async with desk.door.database.tenant_session(desk.tenant_id) as session:
        attempts = (await session.scalars(select(WorklistAttempt))).all()
    assert [a.failed for a in attempts] == [True]
    assert (await desk["avi"].call("POST", f"/worklist/entries/{entry_id}/release"))[0] == 204
    assert "worklist.claimed" in await _audit(desk)


async def test_compliance_passes_an_entry_over_and_says_which_rule_and_flags_are_audited(
    desk: Desk,
) -> None:
    await desk["sam"].call("POST", "/worklist/build")
    status, _ = await desk["boss"].call("POST", "/admin/do-not-call",
                                        {"number": "+972502345678", "reason": "asked"})  # fmt: skip
    assert status == 201
    status, claimed = await desk["avi"].call("POST", "/worklist/next")
    assert status == 200 and claimed["entry"] is None
    assert [p["code"] for p in claimed["passed"]] == ["do_not_call_number"]
    status, listed = await desk["sam"].call("GET", "/admin/do-not-call")
    assert [n["number"] for n in listed["items"]] == ["+972502345678"]
    assert (await desk["avi"].call("DELETE", "/admin/do-not-call/+972502345678"))[0] == 403
    assert (await desk["boss"].call("DELETE", "/admin/do-not-call/+972502345678"))[0] == 204
    assert (await desk["boss"].call("DELETE", "/admin/do-not-call/+972502345678"))[0] == 404
    async with desk.door.database.tenant_session(desk.tenant_id) as session:
        customer = await session.scalar(select(Account.customer_id).where(
            Account.id == desk.account))  # fmt: skip
    path = f"/customers/{customer}/do-not-call"
    assert (await desk["avi"].call("PUT", path, {"do_not_call": True}))[0] == 403
    assert (await desk["olga"].call("PUT", path, {"do_not_call": True}))[0] == 403
    status, flagged = await desk["sam"].call("PUT", path, {"do_not_call": True})
    assert status == 200 and flagged["do_not_call_at"] is not None
    assert (await desk["avi"].call("POST", "/worklist/next"))[1]["entry"] is None
    assert (await desk["sam"].call("GET", "/worklist"))[1]["items"] == []  # left the queue
    actions = await _audit(desk)
    assert {"do_not_call.added", "do_not_call.removed", "customer.do_not_call"} <= set(actions)


HOSTILE_FLAGS = ({"do_not_call": 1}, {"do_not_call": "true"}, {}, {"do_not_call": True, "x": 1},
                 [])  # fmt: skip
HOSTILE_SETTINGS = (
    {"call_from": "8:00"}, {"call_until": "24:00"}, {"max_attempts": 0},
    {"max_attempts": 10**30}, {"max_attempts": "7"}, {"max_attempts": 7.0},
    {"no_contact_days": True}, {"claim_minutes": None}, {"surprise": 1},
    {"call_from": "21:00", "call_until": "08:00"},
)  # fmt: skip
HOSTILE_OUTCOMES = (
    {"outcome": "promised"}, {"outcome": "callback"}, {"outcome": ["paid"]},
    {"outcome": "paid", "callback_at": 5}, {"outcome": "paid", "notes": "x" * 4001},
    {"outcome": "paid", "y": 1}, {"outcome": "callback", "callback_at": "tomorrow"},
)  # fmt: skip


async def test_hostile_bodies_are_refused_and_change_nothing(desk: Desk) -> None:
    for body in HOSTILE_FLAGS:
        assert (await desk["sam"].call("PUT", "/customers/1/do-not-call", body))[0] == 422
    for changes in HOSTILE_SETTINGS:
        status, refused = await desk["boss"].call("PUT", "/admin/worklist-settings",
                                                  ALL_DAY | changes)  # fmt: skip
        assert status == 422, (changes, refused)
    assert (await desk["sam"].call("GET", "/admin/worklist-settings"))[1]["call_from"] == "00:00"
    assert (await desk["sam"].call("PUT", "/admin/worklist-settings", ALL_DAY))[0] == 403
    for body in HOSTILE_OUTCOMES:
        status, _ = await desk["avi"].call("PUT", "/calls/1/collections-outcome", body)
        assert status == 422, body
    for body in ({"number": "12345"}, {"number": "+972502345678", "reason": "x" * 201},
                 {"number": 972502345678}):  # fmt: skip
        assert (await desk["boss"].call("POST", "/admin/do-not-call", body))[0] == 422, body
    assert (await desk["sam"].call("GET", "/admin/do-not-call"))[1]["items"] == []
    assert "worklist.settings" in await _audit(desk)  # the fixture's one change, no other
    assert (await _audit(desk)).count("worklist.settings") == 1
    status, answer = await desk["avi"].call("PUT", "/calls/999999/collections-outcome",
                                            {"outcome": "paid"})  # fmt: skip
    assert status == 404 and answer["error"]["code"] == "not_found"  # not a worklist call
    assert (await desk["avi"].call("POST", "/worklist/entries/99999999999999999999/call"))[0] in (
        404, 422)


def test_the_api_document_lists_the_worklist_routes() -> None:
    paths = build_api().document()["paths"]
    for path in ("/worklist", "/worklist/build", "/worklist/next",
                 "/worklist/entries/{entry_id}/call", "/worklist/entries/{entry_id}/release",
                 "/calls/{record_id}/collections-outcome", "/admin/worklist-settings",
                 "/admin/do-not-call", "/admin/do-not-call/{number}",
                 "/customers/{customer_id}/do-not-call"):  # fmt: skip
        assert any(p.endswith(path) for p in paths), path
