"""Attaching the caller to the call: a household's member picked on the pop, or a customer
found by search; only by the agent on the call or a supervisor."""

from __future__ import annotations

import pytest

from pbx.desk.commands import AttachCustomer
from pbx.desk.errors import Forbidden, Invalid, NotFound
from pbx.desk.results import CustomerAttached
from tests.desk.fakes import OTHER_BUSINESS, a_call, avi, dana, desk_with, sam


async def test_picking_a_household_member_makes_the_live_call_and_its_log_theirs() -> None:
    desk, live, money = desk_with(a_call("c-1", customer_id=None, record_id=100))

    attached = await desk.run(AttachCustomer("c-1", 9), dana)

    assert attached == CustomerAttached("c-1", 9, None)
    assert live.live["c-1"].customer_id == 9 and live.done == [("attach_customer", 9)]
    assert money.call_customers == {100: 9}
    assert [(a.customer_id, a.via, a.actor) for a in money.attachments] == [(9, "household", dana)]


async def test_a_wrong_pick_is_corrected_and_both_picks_are_kept() -> None:
    desk, live, money = desk_with(a_call("c-1", customer_id=None))

    await desk.run(AttachCustomer("c-1", 9), dana)
    attached = await desk.run(AttachCustomer("c-1", 7), dana)

    assert attached == CustomerAttached("c-1", 7, 9)
    assert live.live["c-1"].customer_id == 7
    assert [a.customer_id for a in money.attachments] == [9, 7]


async def test_a_customer_who_does_not_share_the_number_is_refused_as_a_household_pick() -> None:
    desk, live, money = desk_with(a_call("c-1", customer_id=None))

    with pytest.raises(Invalid) as refused:
        await desk.run(AttachCustomer("c-1", 8), dana)

    assert refused.value.code == "not_of_household"
    assert live.live["c-1"].customer_id is None and live.done == [] and money.attachments == []


async def test_a_customer_found_by_search_is_attached_whatever_number_calls() -> None:
    desk, live, money = desk_with(a_call("c-1", customer_id=None))

    await desk.run(AttachCustomer("c-1", 8, "search"), dana)

    assert live.live["c-1"].customer_id == 8 and money.attachments[0].via == "search"


async def test_another_agents_call_is_forbidden_and_a_supervisor_may_attach() -> None:
    desk, live, money = desk_with(a_call("c-1", customer_id=None))

    with pytest.raises(Forbidden):
        await desk.run(AttachCustomer("c-1", 9), avi)
    assert live.done == [] and money.attachments == []

    await desk.run(AttachCustomer("c-1", 9), sam)
    assert live.live["c-1"].customer_id == 9


async def test_an_unknown_customer_or_another_businesss_call_is_not_found() -> None:
    desk, live, money = desk_with(a_call("c-1", customer_id=None),
                                  a_call("c-2", tenant_id=OTHER_BUSINESS))  # fmt: skip

    with pytest.raises(NotFound):
        await desk.run(AttachCustomer("c-1", 12345, "search"), dana)
    with pytest.raises(NotFound):
        await desk.run(AttachCustomer("c-2", 9), sam)
    with pytest.raises(NotFound):
        await desk.run(AttachCustomer("gone", 9), dana)
    assert live.done == [] and money.attachments == []


def test_the_command_takes_only_strict_ids_and_a_known_way() -> None:
    for bad in ({"customer_id": True}, {"customer_id": "9"}, {"via": "guess"}):
        fields = {"call_id": "c-1", "customer_id": 9} | bad
        with pytest.raises(ValueError):
            AttachCustomer(**fields)  # type: ignore[arg-type]
