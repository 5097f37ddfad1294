"""Stripe's customer.* and invoice.* events through the webhook route, signed like Stripe
signs them, keeping synced customers and invoices current (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from billing_bridge.stripe_billing.api import StripeBillingApi
from billing_bridge.stripe_billing.sync import sync_stripe_billing
from pbx.db.database import Database
from pbx.db.models import Account, AuditEntry, Call, Customer, CustomerPhone, Invoice, User
from pbx.db.models import WebhookEvent as ReceivedEvent
from tests.factories import make_tenant
from tests.payments import fake_stripe
from tests.payments.fake_stripe import FakeStripe
from tests.stripe_billing.conftest import Receiver

SYNCED = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
AFTER = int(SYNCED.timestamp()) + 60


def event(kind: str, obj: dict[str, Any], ident: str, created: int = AFTER) -> bytes:
    return fake_stripe.event(kind, obj, ident=ident, created=created)


async def synced(database: Database, api: StripeBillingApi, fake: FakeStripe) -> dict[str, Any]:
    """A business whose Stripe customer Dana owes one invoice, synced."""
    dana = fake.add_customer(name="Dana Levi", phone="+972502345678")
    invoice = fake.add_invoice(dana, 12_500, number="OFEK-0001")
    await sync_stripe_billing(database, api, "ofek", since=None, started=SYNCED,
                              actor="cli:test")  # fmt: skip
    return {"customer": dana, "invoice": invoice}


async def the_invoice(database: Database, tenant: int) -> Invoice:
    async with database.tenant_session(tenant) as session:
        found = await session.scalar(select(Invoice))
    assert found is not None
    return found


async def test_invoice_paid_marks_the_invoice_paid_with_nothing_outstanding(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stripe = await synced(database, api, fake)
    paid = stripe["invoice"] | {"status": "paid", "amount_paid": 12_500, "amount_remaining": 0}

    status, body = await receiver.post(event("invoice.paid", paid, "evt_paid"))

    assert (status, body) == (200, {"received": 1, "outcomes": {"evt_paid": "updated"}})
    invoice = await the_invoice(database, tenant)
    assert (invoice.status, invoice.outstanding_minor, invoice.amount_minor) == ("paid", 0, 12_500)
    async with database.tenant_session(tenant) as session:
        account = await session.get_one(Account, invoice.account_id)
    assert (account.balance_minor, account.reported_balance_minor) == (0, 0)
    async with database.tenant_session(tenant) as session:
        audited = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "stripe.invoice")
        )
    assert audited is not None and audited.actor_label == "stripe"
    assert audited.details["event"] == "evt_paid"


async def test_invoice_voided_voids_it(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stripe = await synced(database, api, fake)
    void = stripe["invoice"] | {"status": "void"}

    status, body = await receiver.post(event("invoice.voided", void, "evt_void"))

    assert status == 200 and body["outcomes"] == {"evt_void": "updated"}
    invoice = await the_invoice(database, tenant)
    assert (invoice.status, invoice.outstanding_minor) == ("void", 0)


async def test_a_partial_payment_and_uncollectible_leave_it_open_with_what_is_still_owed(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stripe = await synced(database, api, fake)
    part = stripe["invoice"] | {"amount_paid": 2_500, "amount_remaining": 10_000}
    written_off = part | {"status": "uncollectible"}

    await receiver.post(event("invoice.updated", part, "evt_part"))
    status, body = await receiver.post(
        event("invoice.marked_uncollectible", written_off, "evt_unc", AFTER + 1)
    )

    assert status == 200 and body["outcomes"] == {"evt_unc": "unchanged"}
    invoice = await the_invoice(database, tenant)
    assert (invoice.status, invoice.outstanding_minor) == ("open", 10_000)


async def test_an_older_event_delivered_late_never_undoes_a_newer_state(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stripe = await synced(database, api, fake)
    paid = stripe["invoice"] | {"status": "paid", "amount_paid": 12_500, "amount_remaining": 0}
    updated = stripe["invoice"] | {"amount_remaining": 11_000}
    await receiver.post(event("invoice.paid", paid, "evt_paid", AFTER + 10))

    _, late = await receiver.post(event("invoice.updated", updated, "evt_old", AFTER + 5))
    _, same_second = await receiver.post(event("invoice.updated", updated, "evt_tie", AFTER + 10))
    _, before_sync = await receiver.post(
        event("invoice.updated", updated, "evt_presync", int(SYNCED.timestamp()) - 60)
    )

    assert [late["outcomes"], same_second["outcomes"], before_sync["outcomes"]] == [
        {"evt_old": "stale"}, {"evt_tie": "stale"}, {"evt_presync": "stale"}]  # fmt: skip
    invoice = await the_invoice(database, tenant)
    assert (invoice.status, invoice.outstanding_minor) == ("paid", 0)


async def test_the_same_event_twice_is_applied_once(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stripe = await synced(database, api, fake)
    body = event("invoice.voided", stripe["invoice"] | {"status": "void"}, "evt_once")

    first = await receiver.post(body)
    again = await receiver.post(body)

    assert [first[1]["outcomes"], again[1]["outcomes"]] == [
        {"evt_once": "updated"}, {"evt_once": "duplicate"}]  # fmt: skip
    async with database.system_session() as session:
        kept = (await session.scalars(select(ReceivedEvent))).all()
    assert [(k.event_id, k.outcome) for k in kept] == [("evt_once", "updated")]


async def test_a_new_invoice_of_a_known_customer_is_created_and_a_draft_is_not(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stripe = await synced(database, api, fake)
    draft = fake.add_invoice(stripe["customer"], 700, status="draft", number=None)
    finalized = draft | {"status": "open", "number": "OFEK-0002"}

    _, created = await receiver.post(event("invoice.created", draft, "evt_draft"))
    _, opened = await receiver.post(event("invoice.finalized", finalized, "evt_fin", AFTER + 1))

    assert [created["outcomes"], opened["outcomes"]] == [
        {"evt_draft": "skipped"}, {"evt_fin": "created"}]  # fmt: skip
    async with database.tenant_session(tenant) as session:
        refs = (await session.scalars(select(Invoice.invoice_ref).order_by(Invoice.id))).all()
    assert refs == ["OFEK-0001", "OFEK-0002"]


async def test_an_invoice_of_a_customer_no_business_has_is_kept_as_not_found(
    database: Database, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stranger = fake.add_customer(name="Nobody")
    invoice = fake.add_invoice(stranger, 100)

    status, body = await receiver.post(event("invoice.finalized", invoice, "evt_stranger"))

    assert (status, body["outcomes"]) == (200, {"evt_stranger": "not_found"})
    async with database.tenant_session(tenant) as session:
        assert (await session.scalars(select(Invoice))).all() == []


async def test_customer_updated_changes_the_phone_and_the_cache_forgets_both_numbers(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stripe = await synced(database, api, fake)
    moved = stripe["customer"] | {"phone": "03-555-1234", "name": "Dana Cohen"}

    status, body = await receiver.post(event("customer.updated", moved, "evt_cu"))

    assert status == 200 and body["outcomes"] == {"evt_cu": "updated"}
    async with database.tenant_session(tenant) as session:
        phones = (await session.scalars(select(CustomerPhone.e164))).all()
        customer = await session.scalar(select(Customer))
    assert phones == ["+97235551234"]
    assert customer is not None and customer.name == "Dana Cohen"
    assert receiver.forgotten == [(tenant, {"+972502345678", "+97235551234"})]


async def test_customer_deleted_closes_the_account_and_forgets_its_number(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stripe = await synced(database, api, fake)
    gone = {"id": stripe["customer"]["id"], "object": "customer", "deleted": True}

    status, body = await receiver.post(event("customer.deleted", gone, "evt_del"))

    assert status == 200 and body["outcomes"] == {"evt_del": "updated"}
    async with database.tenant_session(tenant) as session:
        account = await session.scalar(select(Account))
        phones = (await session.scalars(select(CustomerPhone))).all()
    assert account is not None and account.status == "closed"
    assert phones == []


async def test_a_customer_made_after_the_sync_finds_its_business_by_metadata_or_waits(
    database: Database, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    other = await make_tenant(database, "saule", "LT", "EUR", ["+37052550100"])
    named = fake.add_customer(name="Jonas", phone="+37061234567",
                              metadata={"ledgerline_tenant": "saule"})  # fmt: skip
    unnamed = fake.add_customer(name="Anon", phone="+972502345678")

    _, first = await receiver.post(event("customer.created", named, "evt_named"))
    _, second = await receiver.post(event("customer.created", unnamed, "evt_unnamed"))

    assert [first["outcomes"], second["outcomes"]] == [
        {"evt_named": "created"}, {"evt_unnamed": "not_found"}]  # fmt: skip
    async with database.tenant_session(other) as session:
        names = (await session.scalars(select(Customer.name))).all()
    async with database.tenant_session(tenant) as session:
        assert (await session.scalars(select(Customer))).all() == []
    assert names == ["Jonas"]


async def test_an_unsigned_or_malformed_event_is_refused_and_changes_nothing(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stripe = await synced(database, api, fake)
    void = event("invoice.voided", stripe["invoice"] | {"status": "void"}, "evt_forged")
    bad = event("invoice.paid", stripe["invoice"] | {"amount_remaining": "0",
                                                     "status": "paid"}, "evt_bad")  # fmt: skip

    forged = await receiver.post(void, fake_stripe.sign(void, secret="whsec_someone_else"))
    malformed = await receiver.post(bad)

    assert forged[0] == 400
    assert malformed[0] == 400
    assert malformed[1]["error"]["message"] == (
        "signed, but malformed field data.object.amount_remaining")  # fmt: skip
    invoice = await the_invoice(database, tenant)
    assert (invoice.status, invoice.outstanding_minor) == ("open", 12_500)


async def test_payment_events_still_go_to_the_payments(
    database: Database, tenant: int, receiver: Receiver
) -> None:
    body = event("payment_intent.succeeded", {"id": "pi_unknown", "object": "payment_intent"},
                 "evt_pi")  # fmt: skip

    status, answer = await receiver.post(body)

    assert (status, answer["outcomes"]) == (200, {"evt_pi": "not_found"})


async def test_an_agent_on_a_call_with_the_customer_sees_the_paid_invoice_at_once(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int, receiver: Receiver
) -> None:
    stripe = await synced(database, api, fake)
    now = datetime.now(UTC)
    async with database.tenant_session(tenant) as session, session.begin():
        customer = await session.scalar(select(Customer.id))
        agent = User(username="avi", display_name="Avi", role="agent")
        session.add(agent)
        await session.flush()
        call = Call(channel_id="chan-1", caller_number="+972502345678", caller_raw="0502345678",
                    match="unique", customer_id=customer, agent_id=agent.id,
                    arrived_at=now - timedelta(minutes=2), answered_at=now)  # fmt: skip
        session.add(call)
    receiver.forgotten.clear()
    paid = stripe["invoice"] | {"status": "paid", "amount_paid": 12_500, "amount_remaining": 0}

    status, _ = await receiver.post(event("invoice.paid", paid, "evt_paid"))

    assert status == 200
    # The overdue figure the caller lookup cached is gone, and the agent sees the new panel.
    assert receiver.forgotten == [(tenant, {"+972502345678"})]
    sent = [e for _, e in receiver.hub.events._entries[tenant]]  # type: ignore[attr-defined]
    (update,) = [e for e in sent if e.type == "account.updated"]
    assert update.audience.agents == (agent.id,)
    assert update.payload.record_id == call.id
    assert update.payload.panel["overdue_invoices"] == []
