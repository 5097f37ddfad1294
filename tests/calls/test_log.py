"""The call log as agents and supervisors read it and close it at wrap-up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from pbx.calls.errors import Forbidden, NotFound
from pbx.calls.log import CallQuery, Disposition, calls_seen_by, set_disposition
from pbx.db.database import Database
from pbx.db.models import AuditEntry, Call
from tests.calls.support import NOON, log_call, make_office


async def _audit_entries(database: Database, tenant: int) -> list[AuditEntry]:
    async with database.tenant_session(tenant) as session:
        return list(await session.scalars(select(AuditEntry)))


async def test_an_agent_sees_only_the_calls_they_took(database: Database) -> None:
    office = await make_office(database)
    mine = await log_call(database, office, office.dana, minutes=1)
    await log_call(database, office, office.eli, minutes=2)
    await log_call(database, office, None, minutes=3, outcome="abandoned")

    page = await calls_seen_by(database, office.dana, CallQuery())

    assert [row.id for row in page.rows] == [mine]


async def test_a_supervisor_sees_every_call_of_the_business_newest_first(
    database: Database,
) -> None:
    office = await make_office(database)
    calls = [await log_call(database, office, agent, minutes=n)
             for n, agent in enumerate((office.dana, office.eli, None))]  # fmt: skip
    other = await make_office(database, "ramat")
    await log_call(database, other, other.dana)

    page = await calls_seen_by(database, office.sam, CallQuery())

    assert [row.id for row in page.rows] == calls[::-1]
    assert page.next_before_id is None


async def test_filters_narrow_the_log_by_agent_queue_outcome_and_time_of_arrival(
    database: Database,
) -> None:
    office = await make_office(database)
    first = await log_call(database, office, office.dana, minutes=0)
    second = await log_call(database, office, office.dana, minutes=10, outcome="abandoned")
    third = await log_call(database, office, office.eli, minutes=20, queue=False)

    async def seen(**query: object) -> list[int]:
        return [row.id for row in (await calls_seen_by(database, office.sam,
                                                       CallQuery(**query))).rows]  # fmt: skip

    assert await seen(agent_id=office.dana.user_id) == [second, first]
    assert await seen(queue_id=office.support) == [second, first]
    assert await seen(outcome="abandoned") == [second]
    # From is at or after, to is before: a call at either bound is in the first only.
    assert await seen(arrived_from=NOON + timedelta(minutes=10)) == [third, second]
    assert await seen(arrived_before=NOON + timedelta(minutes=10)) == [first]
    assert await seen(before_id=third) == [second, first]


async def test_a_full_page_says_where_the_next_begins_and_the_last_page_does_not(
    database: Database,
) -> None:
    office = await make_office(database)
    calls = [await log_call(database, office, office.dana, minutes=n) for n in range(3)]

    full = await calls_seen_by(database, office.dana, CallQuery(limit=2))
    rest = await calls_seen_by(database, office.dana,
                               CallQuery(limit=2, before_id=full.next_before_id))  # fmt: skip

    assert [row.id for row in full.rows] == [calls[2], calls[1]]
    assert full.next_before_id == calls[1]
    assert [row.id for row in rest.rows] == [calls[0]] and rest.next_before_id is None


async def test_an_agent_closes_their_own_call_and_the_disposition_is_audited(
    database: Database,
) -> None:
    office = await make_office(database)
    record = await log_call(database, office, office.dana)

    row = await set_disposition(database, office.dana, Disposition(record, "resolved", "paid"))

    assert (row.disposition, row.notes) == ("resolved", "paid")
    [entry] = await _audit_entries(database, office.tenant_id)
    assert (entry.action, entry.target_type, entry.target_id) == ("call.disposition", "call",
                                                                  str(record))  # fmt: skip
    assert (entry.actor_id, entry.actor_label) == (office.dana.user_id, "agent:dana")
    assert entry.details == {"disposition": "resolved"}


async def test_an_agent_may_not_close_another_agents_call_and_nothing_changes(
    database: Database,
) -> None:
    office = await make_office(database)
    record = await log_call(database, office, office.eli)

    with pytest.raises(Forbidden, match="this is not your call"):
        await set_disposition(database, office.dana, Disposition(record, "resolved"))

    async with database.tenant_session(office.tenant_id) as session:
        assert (await session.get(Call, record)).disposition is None  # type: ignore[union-attr]
    assert await _audit_entries(database, office.tenant_id) == []


async def test_a_supervisor_closes_any_call_of_the_business(database: Database) -> None:
    office = await make_office(database)
    record = await log_call(database, office, office.eli)

    row = await set_disposition(database, office.sam, Disposition(record, "callback"))

    assert (row.disposition, row.notes) == ("callback", None)
    assert [e.actor_label for e in await _audit_entries(database, office.tenant_id)] == [
        "supervisor:sam"
    ]


async def test_closing_a_call_the_business_has_not_logged_is_not_found(
    database: Database,
) -> None:
    office = await make_office(database)
    other = await make_office(database, "ramat")
    theirs = await log_call(database, other, other.dana)

    with pytest.raises(NotFound) as refused:
        await set_disposition(database, office.sam, Disposition(theirs, "resolved"))

    assert refused.value.what == "call"
