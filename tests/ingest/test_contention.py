"""A chunk that loses a deadlock or a serialization conflict to another request is written
again under a fresh savepoint, and refused as a conflict (never a server error) if it keeps
losing; other database errors are not retried."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, ProgrammingError

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
