"""What call control needs from the database: who may act for whom, the audit entry of an
action on a live call, and the queue a call is transferred to."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pbx.audit import Target
from pbx.calls.actions import check_acts_for, queue_keys, record_action, transfer_queue
from pbx.calls.errors import BadReference, Forbidden
from pbx.db.database import Database
from pbx.db.models import AuditEntry
from tests.calls.support import make_office


async def test_an_agent_acts_for_themselves_only_and_a_supervisor_for_anyone(
    database: Database,
) -> None:
    office = await make_office(database)

    check_acts_for(office.dana, office.dana.user_id)
    check_acts_for(office.sam, office.dana.user_id)
    with pytest.raises(Forbidden, match="agents may only act for themselves"):
        check_acts_for(office.dana, office.eli.user_id)


async def test_an_action_on_a_live_call_is_audited_with_who_did_it(database: Database) -> None:
    office = await make_office(database)

    await record_action(database, office.dana, "call.hold", Target("call", "1795352775.1"))
    await record_action(database, office.dana, "call.transfer", Target("call", "1795352775.1"),
                        {"mode": "blind", "queue": None})  # fmt: skip

    async with database.tenant_session(office.tenant_id) as session:
        entries = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [(e.action, e.target_type, e.target_id, e.details) for e in entries] == [
        ("call.hold", "call", "1795352775.1", {}),
        ("call.transfer", "call", "1795352775.1", {"mode": "blind", "queue": None}),
    ]
    assert {(e.tenant_id, e.actor_id, e.actor_label) for e in entries} == {
        (office.tenant_id, office.dana.user_id, "agent:dana")
    }


async def test_a_call_is_transferred_to_a_queue_of_the_business_by_its_acd_key(
    database: Database,
) -> None:
    office = await make_office(database)

    key = await transfer_queue(database, office.tenant_id, office.support)

    assert key == f"{office.tenant_id}:support"


async def test_a_transfer_to_another_businesss_queue_names_the_field_as_no_such_queue(
    database: Database,
) -> None:
    office, other = await make_office(database), await make_office(database, "ramat")

    with pytest.raises(BadReference) as refused:
        await transfer_queue(database, office.tenant_id, other.support)

    assert (refused.value.field, refused.value.problem) == ("queue_id", "no such queue")


async def test_queue_keys_leave_out_ids_that_are_not_the_businesss_queues(
    database: Database,
) -> None:
    office, other = await make_office(database), await make_office(database, "ramat")

    keys = await queue_keys(database, office.tenant_id, (office.support, other.support))

    assert keys == {office.support: f"{office.tenant_id}:support"}
    assert await queue_keys(database, office.tenant_id, ()) == {}
