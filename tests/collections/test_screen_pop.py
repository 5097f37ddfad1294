"""The screen-pop shows the caller's promises (an open one, how the last ones ended) and
payment plans with the instalments of the active ones."""

from __future__ import annotations

from datetime import UTC, datetime

from billing_bridge.collections import sweep
from billing_bridge.collections.plans import PlanOrder, make_plan
from billing_bridge.collections.promises import PromiseOrder, make_promise
from billing_bridge.screen_pop import customer_panel
from pbx.db.database import Database
from tests.collections.support import DST_DAY, NOW, open_shop


async def test_the_pop_shows_a_broken_promise_and_the_active_plan_with_its_instalments(
    database: Database,
) -> None:
    shop = await open_shop(database)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await make_promise(session, shop.tenant_id,
                           PromiseOrder(shop.account_id, 6_000, DST_DAY, "mandate"),
                           staff=shop.supervisor, now=NOW)  # fmt: skip
    later = datetime(2027, 3, 29, 9, 0, tzinfo=UTC)
    await sweep.sweep(database, later)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await make_plan(session, shop.tenant_id,
                        PlanOrder(shop.account_id, 2, "fortnightly", later.date(), "pay_link"),
                        staff=shop.supervisor, now=later)  # fmt: skip

    panel = await customer_panel(database, shop.tenant_id, shop.customer_id, later.date())

    assert panel is not None
    [promise] = panel["promises"]
    assert (promise["status"], promise["amount_minor"], promise["due_on"]) == (
        "broken", 6_000, "2027-03-28")
    assert promise["method"] == "mandate" and promise["decided_at"] is not None
    [plan] = panel["plans"]
    assert (plan["status"], plan["total_minor"], plan["frequency"]) == (
        "active", 10_001, "fortnightly")
    assert plan["instalments"] == [
        {"due_on": "2027-03-29", "amount_minor": 5_001, "paid_minor": 0, "status": "pending"},
        {"due_on": "2027-04-12", "amount_minor": 5_000, "paid_minor": 0, "status": "pending"},
    ]


async def test_a_caller_with_no_promises_pops_empty_lists(database: Database) -> None:
    shop = await open_shop(database)
    panel = await customer_panel(database, shop.tenant_id, shop.customer_id, NOW.date())
    assert panel is not None and panel["promises"] == [] and panel["plans"] == []
