"""A chunk that loses a deadlock or a serialization conflict to another request is written
again under a fresh savepoint, and refused as a conflict (never a server error) if it keeps
losing; other database errors are not retried. A chunk the database refuses is halved until
only the records that fail alone are refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError

from billing_bridge.ingest import service
from billing_bridge.ingest.outcomes import IngestRefused, Outcome, Result
from billing_bridge.ingest.records import Business
from pbx.audit import By
from pbx.db.database import Database
from tests.factories import make_tenant

ACTOR = By("key:erp")


class Lost(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def conflicting(losses: int, sqlstate: str = "40P01") -> Any:
    calls = {"n": 0}

    async def writer(session, business, actor, chunk: Sequence[Any]) -> list[Result]:
        calls["n"] += 1
        if calls["n"] <= losses:
            raise DBAPIError("UPDATE accounts ...", {}, Lost(sqlstate))
        return [Result(item.ref, Outcome.CREATED) for item in chunk]

    return writer, calls


def customer(ref: str) -> Any:
    return type("Rec", (), {"ref": ref})()


@pytest.fixture(autouse=True)
def refs_by_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "ref_of", lambda item: item.ref)


async def test_a_chunk_that_lost_a_deadlock_is_written_again(database: Database) -> None:
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    writer, calls = conflicting(losses=2)
    business = Business(tenant_id, "IL", "ILS")
    async with database.tenant_session(tenant_id) as session, session.begin():
        results = await service._write_chunk(session, business, ACTOR, writer,
                                             [customer("c-1"), customer("c-2")])  # fmt: skip
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.CREATED]
    assert calls["n"] == 3


async def test_a_chunk_that_keeps_losing_is_refused_as_a_conflict_record_by_record(
    database: Database,
) -> None:
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    writer, _ = conflicting(losses=100, sqlstate="40001")
    business = Business(tenant_id, "IL", "ILS")
    async with database.tenant_session(tenant_id) as session, session.begin():
        results = await service._write_chunk(session, business, ACTOR, writer,
                                             [customer("c-1"), customer("c-2")])  # fmt: skip
    assert [r.ref for r in results] == ["c-1", "c-2"]
    assert all(isinstance(r.refused, IngestRefused) and r.refused.code == "conflict"
               for r in results)  # fmt: skip


async def test_other_database_errors_are_not_retried(database: Database) -> None:
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    calls = {"n": 0}

    async def broken(session, business, actor, chunk):
        calls["n"] += 1
        raise ProgrammingError("SELECT nonsense", {}, Lost("42601"))

    business = Business(tenant_id, "IL", "ILS")
    async with database.tenant_session(tenant_id) as session, session.begin():
        with pytest.raises(ProgrammingError):
            await service._write_chunk(session, business, ACTOR, broken, [customer("c-1")])
    assert calls["n"] == 1


async def test_a_refused_chunk_is_halved_until_only_its_bad_records_are_refused(
    database: Database,
) -> None:
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    bad, writes = {"c-137", "c-900"}, []

    async def writer(session, business, actor, chunk: Sequence[Any]) -> list[Result]:
        writes.append(len(chunk))
        if any(item.ref in bad for item in chunk):
            raise IntegrityError("COPY customers", {}, Lost("23505"))
        return [Result(item.ref, Outcome.CREATED) for item in chunk]

    chunk = [customer(f"c-{n}") for n in range(1000)]
    business = Business(tenant_id, "IL", "ILS")
    async with database.tenant_session(tenant_id) as session, session.begin():
        results = await service._write_chunk(session, business, ACTOR, writer, chunk)

    assert [r.ref for r in results] == [item.ref for item in chunk]
    refused = {r.ref for r in results if r.refused is not None}
    assert refused == bad
    assert all(r.outcome is Outcome.CREATED for r in results if r.ref not in bad)
    # Each bad record costs two writes a halving (2 x 10), not one write a record.
    assert len(writes) <= 4 * 10 + 1
    assert sum(1 for size in writes if size == 1) <= 2 * len(bad)  # a bad one, a neighbour
