"""A payment that names an invoice pays it when it succeeds, whether at once or later by the
provider's event; a refund, a chargeback or a reversal puts what it takes back on that
invoice with its ledger entry. The invoice stays the billing system's: its next version is
taken as it comes, never refused as older than Ledgerline's payment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from billing_bridge.ingest import service
from billing_bridge.ingest.outcomes import Outcome
from billing_bridge.ingest.records import (
    AccountRecord,
    Address,
    Business,
    CustomerRecord,
    InvoiceRecord,
)
from billing_bridge.payments import transitions
from billing_bridge.payments.ledger import record_card_payment
from billing_bridge.payments.port import ChargeResult, PaymentStatus, WebhookEvent
from billing_bridge.payments.reviews import decide_review, open_reviews
from billing_bridge.payments.webhooks import apply_events, apply_move
from pbx.audit import By
from pbx.db.database import Database
from pbx.db.models import Account, AccountEntry, BillingEvent, Invoice, Payment, User
from tests.factories import make_tenant

ERP = By("key:erp")


def invoice(version: int, outstanding: int = 45_050) -> InvoiceRecord:
    return InvoiceRecord("INV-1", "A-1", None, 45_050, outstanding, date(2026, 11, 1),
                         date(2026, 11, 30), "open", None, version)  # fmt: skip


async def _billed(database: Database) -> tuple[int, int, int]:
    """A business whose billing system sent a customer, an account and an invoice (version 3)."""
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    business = Business(tenant, "IL", "ILS")
    async with database.tenant_session(tenant) as session, session.begin():
        await service.upsert_customer(session, business, CustomerRecord(
            "C-1", "Dana", None, ("+972502345678",), None, None, Address(), 1), ERP)  # fmt: skip
        await service.upsert_account(session, business, AccountRecord(
            "A-1", "C-1", "ILS", "overdue", False, 45_050, (), 1), ERP)  # fmt: skip
        await service.upsert_invoice(session, business, invoice(3), ERP)
    async with database.tenant_session(tenant) as session:
        account = await session.scalar(select(Account.id))
        bill = await session.scalar(select(Invoice.id))
    assert account is not None and bill is not None
    return tenant, account, bill


async def _pay(database: Database, tenant: int, account: int, bill: int,
               status: PaymentStatus) -> int:  # fmt: skip
    taken = await record_card_payment(
        database, tenant, account_id=account, call_id=None, amount_minor=45_050,
        currency="ILS", provider="sandbox", idempotency_key="pay-1",
        result=ChargeResult(status, "pi_1", card_last4="4242", card_brand="visa"),
        actor_id=None, actor_label="avi", invoice_id=bill,
    )  # fmt: skip
    return taken.payment_id


async def _invoice(database: Database, tenant: int) -> Invoice:
    async with database.tenant_session(tenant) as session:
        found = await session.scalar(select(Invoice))
    assert found is not None
    return found


async def test_the_billing_system_s_next_version_of_a_paid_invoice_is_taken(
    database: Database,
) -> None:
    tenant, account, bill = await _billed(database)
    await _pay(database, tenant, account, bill, PaymentStatus.SUCCEEDED)
    paid = await _invoice(database, tenant)
    assert (paid.status, paid.outstanding_minor, paid.source_version) == ("paid", 0, 3)

    async with database.tenant_session(tenant) as session, session.begin():
        result = await service.upsert_invoice(
            session, Business(tenant, "IL", "ILS"), invoice(4, outstanding=0), ERP
        )

    assert result.outcome is Outcome.UPDATED  # not refused as older than the payment


async def test_a_pending_charge_pays_its_invoice_when_the_provider_says_it_succeeded(
    database: Database,
) -> None:
    tenant, account, bill = await _billed(database)
    payment_id = await _pay(database, tenant, account, bill, PaymentStatus.PENDING)
    assert (await _invoice(database, tenant)).outstanding_minor == 45_050

    async with database.tenant_session(tenant) as session, session.begin():
        payment = await session.get_one(Payment, payment_id)
        decided = transitions.decide(
            transitions.Payment(payment.status, payment.amount_minor), "succeeded"
        )
        assert isinstance(decided, transitions.Apply)
        await apply_move(session, payment, decided, event_id="evt_ok",
                         occurred_at=datetime.now(UTC))  # fmt: skip

    paid = await _invoice(database, tenant)
    assert (paid.status, paid.outstanding_minor) == ("paid", 0)


async def _event(database: Database, status: str, number: int, **details: str) -> str:
    """The provider's event about the paid charge (`pi_1`), `number` seconds after now; its
    outcome."""
    at = datetime.now(UTC) + timedelta(seconds=number)
    event = WebhookEvent(f"evt_{number}", f"charge.{status}", "payment", "pi_1", status, at,
                         details=details)  # fmt: skip
    [applied] = await apply_events(database, "sandbox", [event], now=at)
    return applied.outcome


async def _owed(database: Database, tenant: int) -> tuple[str, int, int, int]:
    """The invoice's status and outstanding, the account's balance and its entries' sum."""
    async with database.tenant_session(tenant) as session:
        bill = await session.scalar(select(Invoice))
        balance = await session.scalar(select(Account.balance_minor))
        entries = list(await session.scalars(select(AccountEntry.amount_minor)))
    assert bill is not None and balance is not None
    return bill.status, bill.outstanding_minor, balance, sum(entries)


async def test_a_refund_puts_the_amount_back_on_the_invoice_it_paid(database: Database) -> None:
    tenant, account, bill = await _billed(database)
    await _pay(database, tenant, account, bill, PaymentStatus.SUCCEEDED)
    assert await _owed(database, tenant) == ("paid", 0, 0, 0)

    assert await _event(database, "partially_refunded", 1, refunded_minor="5050") == "applied"
    assert await _owed(database, tenant) == ("open", 5_050, 5_050, 5_050)
    assert await _event(database, "refunded", 2) == "applied"
    assert await _owed(database, tenant) == ("open", 45_050, 45_050, 45_050)
    assert await _event(database, "refunded", 3) == "unchanged"  # counted once
    assert await _owed(database, tenant) == ("open", 45_050, 45_050, 45_050)

    async with database.tenant_session(tenant) as session:
        told = (await session.scalars(
            select(BillingEvent).where(BillingEvent.type == "payment.refunded")
            .order_by(BillingEvent.seq)
        )).all()  # fmt: skip
    assert [e.data["invoice_id"] for e in told] == [bill, bill]
    assert all(e.entry_id is not None for e in told)


async def test_a_chargeback_reopens_the_invoice_and_a_won_dispute_pays_it_again(
    database: Database,
) -> None:
    tenant, account, bill = await _billed(database)
    await _pay(database, tenant, account, bill, PaymentStatus.SUCCEEDED)

    assert await _event(database, "charged_back", 1) == "applied"
    assert await _owed(database, tenant) == ("open", 45_050, 45_050, 45_050)
    assert await _event(database, "succeeded", 2) == "applied"
    assert await _owed(database, tenant) == ("paid", 0, 0, 0)


async def _billing_sets(database: Database, tenant: int, status: str, outstanding: int) -> None:
    async with database.tenant_session(tenant) as session, session.begin():
        found = await session.get_one(Invoice, (await _invoice(database, tenant)).id)
        found.status, found.outstanding_minor = status, outstanding


async def test_a_refund_never_raises_the_invoice_above_its_amount(database: Database) -> None:
    tenant, account, bill = await _billed(database)
    await _pay(database, tenant, account, bill, PaymentStatus.SUCCEEDED)
    await _billing_sets(database, tenant, "open", 40_000)  # billing asks for most of it again

    assert await _event(database, "partially_refunded", 1, refunded_minor="6000") == "applied"
    assert (await _invoice(database, tenant)).outstanding_minor == 45_050


async def test_a_refund_leaves_a_void_invoice_void(database: Database) -> None:
    tenant, account, bill = await _billed(database)
    await _pay(database, tenant, account, bill, PaymentStatus.SUCCEEDED)
    await _billing_sets(database, tenant, "void", 0)

    assert await _event(database, "refunded", 1) == "applied"
    voided = await _invoice(database, tenant)
    assert (voided.status, voided.outstanding_minor) == ("void", 0)


async def test_a_paid_charge_failed_on_a_supervisor_s_word_reopens_its_invoice(
    database: Database,
) -> None:
    tenant, account, bill = await _billed(database)
    await _pay(database, tenant, account, bill, PaymentStatus.SUCCEEDED)
    assert await _event(database, "failed", 1) == "held"  # nothing moves on the event alone
    assert await _owed(database, tenant) == ("paid", 0, 0, 0)
    async with database.tenant_session(tenant) as session, session.begin():
        sam = User(username="sam", display_name="Sam", role="supervisor")
        session.add(sam)
    [held] = await open_reviews(database, tenant)

    await decide_review(database, tenant, held.review_id, apply=True, actor_id=sam.id,
                        actor_label="supervisor:sam", now=datetime.now(UTC))  # fmt: skip

    assert await _owed(database, tenant) == ("open", 45_050, 45_050, 45_050)
