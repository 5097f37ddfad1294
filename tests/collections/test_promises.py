"""Promises to pay: made within the caps, kept by the payments that arrive (a card in a
call, a provider's webhook, late or not), broken by the sweep at the end of their date in
the business's time zone, cancelled; each change audited and emitted with it."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from billing_bridge.collection import store as collection_store
from billing_bridge.collections import sweep
from billing_bridge.collections.access import Staff
from billing_bridge.collections.errors import Conflict, Forbidden, Invalid
from billing_bridge.collections.promises import PromiseOrder, cancel_promise, make_promise
from billing_bridge.payments import ledger, webhooks
from billing_bridge.payments.port import ChargeResult, PaymentStatus, WebhookEvent
from pbx.db.database import Database
from pbx.db.models import BillingEvent, Payment, Promise, PromiseSettlement, Tenant
from tests.collections.support import (
    DST_DAY,
    NOW,
    OWED,
    TODAY,
    Shop,
    answered_call,
    audit_actions,
    balance,
    event_types,
    open_shop,
    promise,
)

DUE = DST_DAY
SOON = (TODAY + timedelta(days=10)).date()  # for payments made now, at the real time


async def _promise(shop: Shop, amount: int = 6_000, due_on: date = DUE, *,
                   staff: Staff | None = None, call: str | None = None,
                   now: datetime = NOW) -> int:  # fmt: skip
    order = PromiseOrder(shop.account_id, amount, due_on, "pay_link")
    async with shop.database.tenant_session(shop.tenant_id) as session, session.begin():
        made = await make_promise(session, shop.tenant_id, order, staff=staff or shop.supervisor,
                                  now=now, call_id=call)  # fmt: skip
        return made.id


async def _card_payment(shop: Shop, amount: int, key: str = "k-1") -> None:
    await ledger.record_card_payment(
        shop.database, shop.tenant_id, account_id=shop.account_id, call_id=None,
        amount_minor=amount, currency="EUR", provider="sandbox", idempotency_key=key,
        result=ChargeResult(PaymentStatus.SUCCEEDED, f"pi_{key}"), actor_id=shop.agent.user_id,
        actor_label="agent:avi",
    )  # fmt: skip


async def _pending_link(shop: Shop, amount: int, ref: str = "pl_1") -> None:
    async with shop.database.tenant_session(shop.tenant_id) as session, session.begin():
        session.add(Payment(account_id=shop.account_id, amount_minor=amount, currency="EUR",
                            method="link", provider="sandbox", provider_ref=ref,
                            status="pending", idempotency_key=f"link-{ref}"))  # fmt: skip


async def _link_paid(shop: Shop, occurred_at: datetime, ref: str = "pl_1") -> None:
    event = WebhookEvent(f"evt-{ref}", "payment_intent.succeeded", "payment", ref,
                         "succeeded", occurred_at)  # fmt: skip
    [applied] = await webhooks.apply_events(shop.database, "sandbox", [event],
                                            now=occurred_at + timedelta(days=3))  # fmt: skip
    assert applied.outcome == "applied"


async def test_a_card_payment_in_a_call_keeps_the_promise_in_its_transaction(
    database: Database,
) -> None:
    shop = await open_shop(database)
    promise_id = await _promise(shop, due_on=SOON, now=TODAY)

    await _card_payment(shop, 2_500, "k-1")
    assert (await promise(shop, promise_id)).status == "open"
    await _card_payment(shop, 4_000, "k-2")

    kept = await promise(shop, promise_id)
    assert (kept.status, kept.paid_minor, kept.late_paid_minor) == ("kept", 6_000, 0)
    assert await balance(shop) == OWED - 6_500
    assert await event_types(shop) == ["promise.created", "promise.kept"]
    assert await audit_actions(shop) == ["promise.created", "promise.kept"]
    async with database.tenant_session(shop.tenant_id) as session:
        applied = (await session.scalars(select(PromiseSettlement.amount_minor)
                                         .order_by(PromiseSettlement.id))).all()  # fmt: skip
    assert applied == [2_500, 3_500]  # the rest of the second payment only lowers the balance


async def test_a_promise_is_refused_below_the_share_beyond_the_date_or_above_what_is_owed(
    database: Database,
) -> None:
    shop = await open_shop(database)
    for amount, due_on, field in ((2_000, DUE, "amount_minor"),  # 20% of 100.01 is 20.01
                                  (OWED + 1, DUE, "amount_minor"),
                                  (5_000, date(2027, 4, 20), "due_on"),
                                  (5_000, date(2027, 3, 19), "due_on")):  # fmt: skip
        with pytest.raises(Invalid) as refused:
            await _promise(shop, amount, due_on)
        assert refused.value.field == field
    assert await _promise(shop, 2_001, date(2027, 4, 19))
    assert await event_types(shop) == ["promise.created"]


async def test_the_business_sets_its_own_caps(database: Database) -> None:
    shop = await open_shop(database)
    async with database.system_session() as session, session.begin():
        tenant = await session.get(Tenant, shop.tenant_id)
        assert tenant is not None
        tenant.promise_max_days, tenant.promise_min_share_pct = 5, 50
    with pytest.raises(Invalid):
        await _promise(shop, 5_000, date(2027, 3, 25))  # 50% of 100.01 is 50.01
    with pytest.raises(Invalid):
        await _promise(shop, 5_001, date(2027, 3, 26))  # six days ahead
    assert await _promise(shop, 5_001, date(2027, 3, 25))


async def test_an_account_has_at_most_one_open_promise(database: Database) -> None:
    shop = await open_shop(database)
    await _promise(shop)
    with pytest.raises(Conflict) as refused:
        await _promise(shop)
    assert refused.value.code == "promise_open"
    async with database.tenant_session(shop.tenant_id) as session:
        assert len((await session.scalars(select(Promise.id))).all()) == 1


async def test_the_sweep_breaks_an_unpaid_promise_at_local_midnight_across_the_dst_change(
    database: Database,
) -> None:
    shop = await open_shop(database)
    promise_id = await _promise(shop)
    await _pending_link(shop, 1_000)
    await _link_paid(shop, datetime(2027, 3, 27, 9, 0, tzinfo=UTC))

    # 23:59 on the 28th in Vilnius (+03:00 since 03:00 that morning): not over yet. A fixed
    # +02:00 offset would make 21:30 UTC the 28th still.
    report = await sweep.sweep(database, datetime(2027, 3, 28, 20, 59, tzinfo=UTC))
    assert report.promises_broken == 0 and (await promise(shop, promise_id)).status == "open"
    report = await sweep.sweep(database, datetime(2027, 3, 28, 21, 0, tzinfo=UTC))

    broken = await promise(shop, promise_id)
    assert report.promises_broken == 1
    assert (broken.status, broken.paid_minor) == ("broken", 1_000)
    assert await event_types(shop) == ["promise.created", "promise.broken"]
    again = await sweep.sweep(database, datetime(2027, 3, 30, 9, 0, tzinfo=UTC))
    assert again.promises_broken == 0
    assert await event_types(shop) == ["promise.created", "promise.broken"]


async def test_a_late_webhook_after_the_sweep_counts_towards_the_account_not_the_promise(
    database: Database,
) -> None:
    shop = await open_shop(database)
    promise_id = await _promise(shop)
    await _pending_link(shop, 6_000)
    await sweep.sweep(database, datetime(2027, 3, 29, 0, 0, tzinfo=UTC))

    await _link_paid(shop, datetime(2027, 3, 31, 8, 0, tzinfo=UTC))

    late = await promise(shop, promise_id)
    assert (late.status, late.paid_minor, late.late_paid_minor) == ("broken", 0, 6_000)
    assert await balance(shop) == OWED - 6_000
    assert await event_types(shop) == ["promise.created", "promise.broken"]
    async with database.tenant_session(shop.tenant_id) as session:
        [settled] = (await session.scalars(select(PromiseSettlement))).all()
    assert settled.late and settled.entry_id is not None
    assert settled.paid_at == datetime(2027, 3, 31, 8, 0, tzinfo=UTC)


async def test_a_webhook_paid_in_time_but_delivered_after_the_date_keeps_the_promise(
    database: Database,
) -> None:
    shop = await open_shop(database)
    promise_id = await _promise(shop)
    await _pending_link(shop, 6_000)

    await _link_paid(shop, datetime(2027, 3, 28, 20, 30, tzinfo=UTC))  # 23:30 local

    assert (await promise(shop, promise_id)).status == "kept"


async def test_a_payment_made_after_the_date_breaks_the_promise_the_sweep_has_not_reached(
    database: Database,
) -> None:
    shop = await open_shop(database)
    promise_id = await _promise(shop)
    await _pending_link(shop, 6_000)

    await _link_paid(shop, datetime(2027, 3, 28, 21, 30, tzinfo=UTC))  # 00:30 on the 29th

    late = await promise(shop, promise_id)
    assert (late.status, late.late_paid_minor) == ("broken", 6_000)
    assert await event_types(shop) == ["promise.created", "promise.broken"]


async def test_a_payment_rolled_back_takes_its_decision_and_its_events_with_it(
    database: Database,
) -> None:
    shop = await open_shop(database)
    promise_id = await _promise(shop)

    with pytest.raises(RuntimeError):
        async with database.tenant_session(shop.tenant_id) as session, session.begin():
            await ledger.post_account_entry(session, shop.tenant_id, account_id=shop.account_id,
                                            kind="payment", amount_minor=-6_000,
                                            currency="EUR", paid_at=NOW)  # fmt: skip
            kept = await session.get(Promise, promise_id)
            assert kept is not None and kept.status == "kept"  # decided in this transaction
            raise RuntimeError("the payment's transaction fails after")

    assert (await promise(shop, promise_id)).status == "open"
    assert await event_types(shop) == ["promise.created"]
    assert await balance(shop) == OWED
    async with database.tenant_session(shop.tenant_id) as session:
        assert not (await session.scalars(select(BillingEvent.id).where(
            BillingEvent.type == "promise.kept"))).all()  # fmt: skip


async def test_a_cancelled_promise_is_decided_once_and_frees_the_account(
    database: Database,
) -> None:
    shop = await open_shop(database)
    promise_id = await _promise(shop)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await cancel_promise(session, shop.tenant_id, promise_id, "customer disputes the bill",
                             staff=shop.supervisor, now=NOW)  # fmt: skip
    with pytest.raises(Conflict):
        async with database.tenant_session(shop.tenant_id) as session, session.begin():
            await cancel_promise(session, shop.tenant_id, promise_id, "again",
                                 staff=shop.supervisor, now=NOW)  # fmt: skip
    cancelled = await promise(shop, promise_id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancel_reason == "customer disputes the bill"
    await _card_payment(shop, 6_000)  # a cancelled promise is not kept by a payment
    assert (await promise(shop, promise_id)).status == "cancelled"
    assert await _promise(shop, 2_001)
    assert await event_types(shop) == ["promise.created", "promise.cancelled", "promise.created"]


async def test_an_agent_acts_only_on_the_account_of_the_caller_they_are_answering(
    database: Database,
) -> None:
    shop = await open_shop(database)
    with pytest.raises(Forbidden):
        await _promise(shop, staff=shop.agent)
    await answered_call(shop, shop.agent)
    with pytest.raises(Forbidden):
        await _promise(shop, staff=shop.other_agent)
    with pytest.raises(Forbidden):  # another agent's call, named
        await _promise(shop, staff=shop.other_agent, call="chan-1")

    promise_id = await _promise(shop, staff=shop.agent, call="chan-1")

    made = await promise(shop, promise_id)
    assert made.call_id is not None and made.created_by_id == shop.agent.user_id


async def test_two_promises_at_the_same_moment_make_one_and_refuse_the_other(
    postgres_database: Database,
) -> None:
    shop = await open_shop(postgres_database)

    results = await asyncio.gather(_promise(shop), _promise(shop), return_exceptions=True)

    assert sorted(type(r).__name__ for r in results) == ["Conflict", "int"]
    assert await event_types(shop) == ["promise.created"]


async def test_a_payment_racing_the_sweep_decides_the_promise_once(
    postgres_database: Database,
) -> None:
    shop = await open_shop(postgres_database)
    promise_id = await _promise(shop)
    after = datetime(2027, 3, 29, 9, 0, tzinfo=UTC)

    async def pay_in_time() -> None:
        async with postgres_database.tenant_session(shop.tenant_id) as session, session.begin():
            await ledger.post_account_entry(session, shop.tenant_id, account_id=shop.account_id,
                                            kind="payment", amount_minor=-6_000,
                                            currency="EUR", paid_at=NOW)  # fmt: skip

    await asyncio.gather(pay_in_time(), sweep.sweep(postgres_database, after))
    await sweep.sweep(postgres_database, after)  # anything the race skipped

    decided = await promise(shop, promise_id)
    types = await event_types(shop)
    assert types in (["promise.created", "promise.kept"], ["promise.created", "promise.broken"])
    assert decided.status == types[-1].split(".")[1]
    assert decided.paid_minor + decided.late_paid_minor == 6_000


async def test_a_collection_charge_that_succeeds_at_once_keeps_the_promise(
    database: Database,
) -> None:
    shop = await open_shop(database)
    promise_id = await _promise(shop, due_on=SOON, now=TODAY)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        session.add(Payment(account_id=shop.account_id, amount_minor=6_000, currency="EUR",
                            method="card", provider="sandbox", provider_ref="sbx_pay_1",
                            status="succeeded", idempotency_key="collect:1:1"))  # fmt: skip
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await collection_store.apply_immediate_outcomes(session, shop.tenant_id, ["collect:1:1"])

    assert (await promise(shop, promise_id)).status == "kept"
    assert await event_types(shop) == ["promise.created", "promise.kept"]
