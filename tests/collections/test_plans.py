"""Payment plans: the overdue amount in instalments that add up exactly, consent recorded
(in a call, never while its recording is paused), instalments kept by payments in date
order, broken by the sweep, arrears paid late, the plan completed or cancelled."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from billing_bridge.collections import sweep
from billing_bridge.collections.access import Staff
from billing_bridge.collections.errors import Conflict, Invalid
from billing_bridge.collections.plans import PlanOrder, cancel_plan, make_plan
from billing_bridge.collections.promises import PromiseOrder, make_promise
from billing_bridge.payments import ledger
from pbx.db.database import Database
from pbx.db.models import Mandate, PaymentPlan, Recording
from tests.collections.support import (
    NOW,
    OWED,
    Shop,
    answered_call,
    audit_actions,
    event_types,
    open_shop,
    plan,
)

FIRST = date(2027, 3, 28)  # then 28 April, 28 May


async def _plan(shop: Shop, count: int = 3, *, call: str | None = None,
                staff: Staff | None = None, method: str = "pay_link",
                mandate_id: int | None = None) -> int:  # fmt: skip
    async with shop.database.tenant_session(shop.tenant_id) as session, session.begin():
        made, _ = await make_plan(
            session, shop.tenant_id,
            PlanOrder(shop.account_id, count, "monthly", FIRST, method, mandate_id),
            staff=staff or shop.supervisor, now=NOW, call_id=call,
        )  # fmt: skip
        return made.id


async def _paid(shop: Shop, amount: int, at: datetime) -> None:
    """A payment into the account at `at` (as a provider's event would say it was paid)."""
    async with shop.database.tenant_session(shop.tenant_id) as session, session.begin():
        await ledger.post_account_entry(session, shop.tenant_id, account_id=shop.account_id,
                                        kind="payment", amount_minor=-amount, currency="EUR",
                                        paid_at=at)  # fmt: skip


async def test_the_overdue_amount_is_split_into_instalments_that_add_up_exactly(
    database: Database,
) -> None:
    shop = await open_shop(database)
    plan_id = await _plan(shop)

    made, instalments = await plan(shop, plan_id)
    assert made.total_minor == OWED and made.status == "active"
    assert [(i.due_on, i.amount_minor) for i in instalments] == [
        (date(2027, 3, 28), 3334), (date(2027, 4, 28), 3334), (date(2027, 5, 28), 3333)]
    assert made.consent_by_id == shop.supervisor.user_id and made.consent_call_id is None
    assert await event_types(shop) == ["plan.created"]
    assert await audit_actions(shop) == ["plan.created"]


async def test_instalments_are_kept_in_order_broken_by_the_sweep_and_arrears_paid_late(
    database: Database,
) -> None:
    shop = await open_shop(database)
    plan_id = await _plan(shop)

    await _paid(shop, 3_334, datetime(2027, 3, 28, 20, 0, tzinfo=UTC))  # 23:00 local: in time
    await sweep.sweep(database, datetime(2027, 4, 28, 21, 0, tzinfo=UTC))  # 29 April, local
    _, instalments = await plan(shop, plan_id)
    assert [i.status for i in instalments] == ["kept", "broken", "pending"]

    await _paid(shop, 6_667, datetime(2027, 5, 2, 9, 0, tzinfo=UTC))

    done, instalments = await plan(shop, plan_id)
    assert [(i.status, i.paid_minor) for i in instalments] == [
        ("kept", 3334), ("broken", 3334), ("kept", 3333)]
    assert (done.status, done.paid_minor) == ("completed", OWED)
    assert await event_types(shop) == [
        "plan.created", "plan.instalment_paid", "plan.instalment_failed",
        "plan.instalment_paid", "plan.completed",
    ]  # fmt: skip


async def test_a_payment_after_an_instalments_date_breaks_it_before_the_sweep_does(
    database: Database,
) -> None:
    shop = await open_shop(database)
    plan_id = await _plan(shop)

    await _paid(shop, 3_334, datetime(2027, 3, 28, 21, 30, tzinfo=UTC))  # 00:30 on the 29th

    _, instalments = await plan(shop, plan_id)
    # The money still pays the plan: the next instalment in time, not the broken one.
    assert [(i.status, i.paid_minor) for i in instalments] == [
        ("broken", 0), ("kept", 3334), ("pending", 0)]


async def test_consent_in_a_call_names_its_recording_and_is_refused_while_it_is_paused(
    database: Database,
) -> None:
    shop = await open_shop(database)
    call_id = await answered_call(shop, shop.agent)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        recording = Recording(call_id=call_id, format="wav", status="recording",
                              pauses=[{"from": "2027-03-20T09:59:00+00:00", "to": None,
                                       "reason": "card", "by": None}])  # fmt: skip
        session.add(recording)
        await session.flush()
        recording_id = recording.id

    with pytest.raises(Conflict) as refused:
        await _plan(shop, call="chan-1", staff=shop.agent)
    assert refused.value.code == "recording_paused"
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        paused = await session.get(Recording, recording_id)
        assert paused is not None
        paused.pauses = [{**paused.pauses[0], "to": "2027-03-20T10:00:00+00:00"}]

    plan_id = await _plan(shop, call="chan-1", staff=shop.agent)

    made, _ = await plan(shop, plan_id)
    assert (made.consent_call_id, made.consent_recording_id) == (call_id, recording_id)
    assert made.consent_by_id == shop.agent.user_id
    assert await event_types(shop) == ["plan.created"]


async def test_a_plan_by_mandate_needs_a_usable_mandate_of_that_kind_on_the_account(
    database: Database,
) -> None:
    shop = await open_shop(database)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        card = Mandate(customer_id=shop.customer_id, account_id=shop.account_id,
                       provider="sandbox", scheme="card", status="active")  # fmt: skip
        session.add(card)
        await session.flush()
        card_id = card.id
    for method, mandate_id in (("mandate", None), ("mandate", card_id),
                               ("pay_link", card_id), ("card_on_file", card_id + 100)):  # fmt: skip
        with pytest.raises(Invalid) as refused:
            await _plan(shop, method=method, mandate_id=mandate_id)
        assert refused.value.field == "mandate_id"

    plan_id = await _plan(shop, method="card_on_file", mandate_id=card_id)

    assert (await plan(shop, plan_id))[0].mandate_id == card_id


async def test_a_cancelled_plan_cancels_its_pending_instalments_and_frees_the_account(
    database: Database,
) -> None:
    shop = await open_shop(database)
    plan_id = await _plan(shop)
    with pytest.raises(Conflict) as refused:  # no promise beside an active plan
        async with database.tenant_session(shop.tenant_id) as session, session.begin():
            await make_promise(session, shop.tenant_id,
                               PromiseOrder(shop.account_id, 5_000, FIRST, "pay_link"),
                               staff=shop.supervisor, now=NOW)  # fmt: skip
    assert refused.value.code == "plan_active"
    await _paid(shop, 3_334, datetime(2027, 3, 27, 9, 0, tzinfo=UTC))

    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await cancel_plan(session, shop.tenant_id, plan_id, "moved to a new contract",
                          staff=shop.supervisor, now=NOW)  # fmt: skip

    cancelled, instalments = await plan(shop, plan_id)
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "moved to a new contract"
    assert [i.status for i in instalments] == ["kept", "cancelled", "cancelled"]
    await sweep.sweep(database, datetime(2027, 6, 1, tzinfo=UTC))
    assert [i.status for i in (await plan(shop, plan_id))[1]] == ["kept", "cancelled", "cancelled"]
    assert await event_types(shop) == ["plan.created", "plan.instalment_paid", "plan.cancelled"]
    assert await _plan(shop, 2)  # the account may have a new plan
    async with database.tenant_session(shop.tenant_id) as session:
        rows = (await session.scalars(select(PaymentPlan.status).order_by(PaymentPlan.id))).all()
    assert rows == ["cancelled", "active"]
