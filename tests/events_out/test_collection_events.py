"""Recurring collection tells the billing system what each charge did: a charge refused at
once is payment.failed in the run's own transaction, a debit still pending is nothing yet,
and its settlement's webhook is payment.succeeded with the entry it wrote; a second run
that changes nothing emits nothing."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from billing_bridge.collection.job import run_collection
from billing_bridge.payments.webhooks import apply_events
from pbx.db.database import Database
from pbx.db.models import Mandate, Payment
from tests.billing.collection_support import Clock, business, debtor, sandbox
from tests.events_out.support import entry, events_of

TODAY = date(2027, 3, 1)
EARLIER = TODAY - timedelta(days=10)


async def test_a_collection_run_emits_refusals_at_once_and_settlements_by_webhook(
    database: Database,
) -> None:
    clock = Clock()
    provider = sandbox(clock)
    owner = await business(database, "ofek", "+4930555010")
    await debtor(database, provider, owner, "paid", [{"amount_minor": 1000, "due_on": EARLIER}])
    await debtor(database, provider, owner, "gone", [{"amount_minor": 2000, "due_on": EARLIER}])
    async with database.tenant_session(owner.tenant_id) as session:
        gone = await session.scalar(select(Mandate.provider_ref).where(
            Mandate.id == owner.mandates["gone"]))  # fmt: skip
    provider.settle(gone, "cancelled")  # cancelled at the bank; Ledgerline has not heard yet

    await run_collection(database, provider, today=TODAY, batch=10)
    [refused] = await events_of(database, owner.tenant_id)
    async with database.tenant_session(owner.tenant_id) as session:
        pending = await session.scalar(select(Payment).where(Payment.status == "pending"))
    assert pending is not None
    body, headers = provider.settle(pending.provider_ref)
    await apply_events(database, "sandbox", provider.parse_webhook(body, headers),
                       now=clock.now)  # fmt: skip
    await run_collection(database, provider, today=TODAY, batch=10)

    _, settled = await events_of(database, owner.tenant_id)
    assert (refused.type, refused.entry_id) == ("payment.failed", None)
    assert (refused.data["amount_minor"], refused.data["method"]) == (2000, "direct_debit")
    assert (settled.type, settled.data["id"], settled.data["account_ref"]) == (
        "payment.succeeded", pending.id, "paid")  # fmt: skip
    paid = await entry(database, owner.tenant_id, settled.entry_id)
    assert (paid.kind, paid.amount_minor) == ("payment", -1000)
