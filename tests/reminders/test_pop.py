"""The screen-pop shows the caller's latest reminders (channel, step, when, delivered or
failed, or why one was stopped) and whether reminders are paused now and why: an opt-out, a
dispute, an open promise, a plan in good standing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from billing_bridge.reminders import planner, store
from billing_bridge.screen_pop import customer_panel
from pbx.db.database import Database
from pbx.db.models import Promise
from tests.reminders.support import ADMIN, DUE, Shop, at, open_shop

DAY1 = DUE + timedelta(days=1)


class Down:
    async def send(self, *args: str) -> None:
        raise ConnectionError("gateway down")


async def _reminded(database: Database, sender: Any = None) -> tuple[Shop, int, int]:
    """(shop, customer, account): dana's day-1 email reminder sent (by `sender`)."""
    shop = await open_shop(database)
    customer, account = await shop.customer("dana")
    await planner.plan(database, at(DAY1, 9))
    shop.sender = sender or shop.sender
    await shop.reminders().send_due(at(DAY1, 9))
    return shop, customer, account


async def test_the_pop_shows_reminders_sent_delivered_or_failed_and_stopped(
    database: Database,
) -> None:
    shop, customer, account = await _reminded(database, Down())  # the sender fails
    await shop.customer("dana-2")  # another customer's reminders are not on dana's pop
    await planner.plan(database, at(DUE + timedelta(days=5), 9))
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await store.set_hold(session, shop.tenant_id, account, "the invoice is wrong",
                             actor=ADMIN, now=at(DUE + timedelta(days=5), 10))  # fmt: skip

    panel = await customer_panel(database, shop.tenant_id, customer, DUE + timedelta(days=5))

    assert panel is not None
    stopped, failed = panel["reminders"]["recent"]
    assert (stopped["channel"], stopped["step_day"], stopped["status"],
            stopped["stop_reason"], stopped["delivery"]) == ("sms", 5, "stopped", "dispute",
                                                              None)  # fmt: skip
    assert (failed["channel"], failed["step_day"], failed["status"], failed["delivery"],
            failed["account_id"]) == ("email", 1, "sent", "failed", account)  # fmt: skip
    assert failed["at"].startswith("2027-03-24T09:00") and failed["delivered_at"] is None
    assert panel["reminders"]["paused"] == [
        {"reason": "dispute", "account_id": account, "detail": "the invoice is wrong"}]


async def test_the_pop_says_reminders_are_paused_by_an_opt_out_and_an_open_promise(
    database: Database,
) -> None:
    shop, customer, account = await _reminded(database)
    panel = await customer_panel(database, shop.tenant_id, customer, DAY1)
    assert panel is not None and panel["reminders"]["paused"] == []
    [sent] = panel["reminders"]["recent"]
    assert (sent["status"], sent["delivery"]) == ("sent", "sent")
    assert sent["delivered_at"] is not None

    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        session.add(Promise(account_id=account, amount_minor=5000, currency="EUR",
                            due_on=DAY1 + timedelta(days=3), method="bank_transfer",
                            status="open", overdue_minor=10_001, paid_minor=0, late_paid_minor=0,
                            created_at=at(DAY1, 10)))  # fmt: skip
        await store.opt_out(session, shop.tenant_id, customer, via="link", now=at(DAY1, 11))
    panel = await customer_panel(database, shop.tenant_id, customer, DAY1)

    assert panel is not None and panel["reminders"]["paused"] == [
        {"reason": "opted_out", "since": at(DAY1, 11).isoformat()},
        {"reason": "promise", "account_id": account,
         "until": (DAY1 + timedelta(days=3)).isoformat()},
    ]  # fmt: skip
