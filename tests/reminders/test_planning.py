"""The day's reminders, planned in SQL: each overdue account at the step its oldest overdue
invoice has reached in the business's time zone, once per step and episode, never for an
account that is paid, promised, planned, held or whose customer opted out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from billing_bridge.collections.access import Staff
from billing_bridge.collections.promises import PromiseOrder, make_promise
from billing_bridge.reminders import planner, store
from pbx.db.database import Database
from pbx.db.models import Account
from tests.reminders.support import ADMIN, DUE, at, open_shop


async def test_each_account_is_planned_at_the_step_it_reached_in_the_business_time_zone(
    database: Database,
) -> None:
    shop = await open_shop(database)
    _, day1 = await shop.customer("day-one", DUE)
    _, day6 = await shop.customer("day-six", DUE - timedelta(days=5))
    _, day12 = await shop.customer("day-twelve", DUE - timedelta(days=11))
    _, not_yet = await shop.customer("not-yet", DUE + timedelta(days=1))
    # 22:30 UTC on 23 March is 00:30 on 24 March in Vilnius: DUE is one day overdue there.
    report = await planner.plan(database, at(DUE, 22, 30))

    rows = {r.account_id: r for r in await shop.rows()}
    assert report.planned == 3
    assert (rows[day1].step_day, rows[day1].channel) == (1, "email")
    assert (rows[day6].step_day, rows[day6].channel) == (5, "sms")
    assert (rows[day12].step_day, rows[day12].channel) == (10, "worklist")
    assert not_yet not in rows
    assert {r.planned_on for r in rows.values()} == {DUE + timedelta(days=1)}
    assert {r.status for r in rows.values()} == {"planned"}


async def test_an_hour_earlier_in_utc_the_business_has_not_reached_day_one(
    database: Database,
) -> None:
    shop = await open_shop(database)
    await shop.customer("day-one", DUE)
    # 21:30 UTC is 23:30 in Vilnius (winter, +02:00): still the due date itself.
    await planner.plan(database, at(DUE, 21, 30))
    assert await shop.rows() == []


async def test_planning_again_the_same_day_adds_nothing(database: Database) -> None:
    shop = await open_shop(database)
    await shop.customer("dana", DUE)
    first = await planner.plan(database, at(DUE + timedelta(days=1), 9))
    second = await planner.plan(database, at(DUE + timedelta(days=1), 15))
    assert (first.planned, second.planned) == (1, 0)
    assert len(await shop.rows()) == 1


async def test_a_step_not_sent_before_the_next_is_reached_is_superseded(
    database: Database,
) -> None:
    shop = await open_shop(database)
    _, account = await shop.customer("dana", DUE)
    await planner.plan(database, at(DUE + timedelta(days=1), 9))
    await planner.plan(database, at(DUE + timedelta(days=5), 9))
    rows = await shop.rows(account)
    assert [(r.step_day, r.status, r.stop_reason) for r in rows] == [
        (1, "stopped", "superseded"), (5, "planned", None)]


async def test_paid_promised_held_and_opted_out_accounts_are_not_planned(
    database: Database,
) -> None:
    shop = await open_shop(database)
    _, paid = await shop.customer("paid", DUE, owed=10_001)
    _, promised = await shop.customer("promised", DUE)
    _, held = await shop.customer("held", DUE)
    opted_customer, opted = await shop.customer("opted", DUE)
    _, planned = await shop.customer("due", DUE)
    now = at(DUE + timedelta(days=1), 9)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        account = await session.get(Account, paid)
        assert account is not None
        account.balance_minor = 0
        await make_promise(session, shop.tenant_id,
                           PromiseOrder(promised, 5_000, DUE + timedelta(days=7), "pay_link"),
                           staff=Staff(None, "supervisor:sam", True), now=now,
                           call_id=None)  # type: ignore[arg-type]  # fmt: skip
        await store.set_hold(session, shop.tenant_id, held, "disputes the March invoice",
                             actor=ADMIN, now=now)  # fmt: skip
        await store.opt_out(session, shop.tenant_id, opted_customer, via="link", now=now)
    await planner.plan(database, now)
    assert [r.account_id for r in await shop.rows()] == [planned]
    assert opted != planned


async def test_a_later_overdue_episode_starts_the_schedule_again(database: Database) -> None:
    shop = await open_shop(database)
    _, account = await shop.customer("dana", DUE)
    await planner.plan(database, at(DUE + timedelta(days=1), 9))
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        from sqlalchemy import select

        from pbx.db.models import Invoice

        invoice = await session.scalar(select(Invoice).where(Invoice.account_id == account))
        assert invoice is not None
        invoice.due_on = date(2027, 4, 20)  # paid and billed again: a new oldest due date
    await planner.plan(database, datetime(2027, 4, 21, 9, tzinfo=UTC))
    assert [(r.step_day, r.overdue_since) for r in await shop.rows(account)] == [
        (1, DUE), (1, date(2027, 4, 20))]
