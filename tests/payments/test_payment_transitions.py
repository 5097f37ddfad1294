"""A payment moves only as the transition table allows, and every move that changes what the
customer owes writes its balancing entry with it: each transition checked against the
balance and the ledger, on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from billing_bridge.credits import By, grant_credit
from billing_bridge.payments import transitions
from billing_bridge.payments.ledger import record_card_payment
from billing_bridge.payments.port import ChargeResult, PaymentStatus, WebhookEvent
from billing_bridge.payments.reviews import (
    ReviewClosed,
    decide_review,
    open_reviews,
)
from billing_bridge.payments.webhooks import apply_events
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    AccountEntry,
    AuditEntry,
    Payment,
    PaymentReview,
    Tenant,
    User,
)
from tests.factories import make_customer, make_tenant

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
OPENING = 10_000  # the account's balance before the payment
AMOUNT = 3_000
REF = "pi_1"


@dataclass
class Books:
    database: Database
    tenant_id: int
    account_id: int
    events: int = 0

    async def send(self, status: str, refunded: int | None = None) -> str:
        """One provider event naming `status`, a minute after the last; its outcome."""
        self.events += 1
        details = {} if refunded is None else {"refunded_minor": str(refunded)}
        event = WebhookEvent(f"evt_{self.events}", f"payment.{status}", "payment", REF, status,
                             START + timedelta(minutes=self.events), details=details)  # fmt: skip
        [applied] = await apply_events(self.database, "stripe", [event], now=START)
        return applied.outcome

    async def state(self) -> tuple[str, int, int]:
        """The payment's status, the balance, and the sum of the account's entries."""
        async with self.database.tenant_session(self.tenant_id) as session:
            status = await session.scalar(select(Payment.status))
            balance = await session.scalar(select(Account.balance_minor))
            entries = await session.scalar(
                select(func.coalesce(func.sum(AccountEntry.amount_minor), 0)).where(
                    AccountEntry.account_id == self.account_id
                )
            )
        assert status is not None and balance is not None
        return status, balance, int(entries)


async def books(database: Database, status: str = "pending") -> Books:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97233334444"])
    customer = await make_customer(database, tenant, "C-1", "Dana", ["+972502345678"],
                                   [{"currency": "ILS", "balance_minor": OPENING}])  # fmt: skip
    async with database.tenant_session(tenant) as session, session.begin():
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
        assert account is not None
        session.add(Payment(account_id=account, amount_minor=AMOUNT, currency="ILS",
                            method="link", provider="stripe", provider_ref=REF,
                            idempotency_key="k-1", status=status))  # fmt: skip
    return Books(database, tenant, account)


PAID = OPENING - AMOUNT

# Each path: the statuses the provider's events name, one after another, and after each the
# outcome, the payment's status and the balance. The entries always add up to the change.
PATHS: dict[str, list[tuple[str, int | None, str, str, int]]] = {
    "pending -> succeeded": [("succeeded", None, "applied", "succeeded", PAID)],
    "pending -> failed": [("failed", None, "applied", "failed", OPENING)],
    "pending -> cancelled": [("cancelled", None, "applied", "cancelled", OPENING)],
    "pending -> pending": [("pending", None, "unchanged", "pending", OPENING)],
    "succeeded -> succeeded again (confirmed, then paid out)": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("succeeded", None, "unchanged", "succeeded", PAID),
    ],
    "succeeded -> failed by a later event is held": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("failed", None, "held", "succeeded", PAID),
    ],
    "succeeded -> cancelled is held": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("cancelled", None, "held", "succeeded", PAID),
    ],
    "succeeded -> pending is held": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("pending", None, "held", "succeeded", PAID),
    ],
    "succeeded -> refunded": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("refunded", None, "applied", "refunded", OPENING),
    ],
    "succeeded -> partial refunds, repeated and reordered, then refunded": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("partially_refunded", 1_000, "applied", "partially_refunded", PAID + 1_000),
        ("partially_refunded", 1_000, "unchanged", "partially_refunded", PAID + 1_000),
        ("partially_refunded", 2_500, "applied", "partially_refunded", PAID + 2_500),
        ("partially_refunded", 2_000, "unchanged", "partially_refunded", PAID + 2_500),
        ("refunded", 3_000, "applied", "refunded", OPENING),
        ("refunded", 3_000, "unchanged", "refunded", OPENING),
    ],
    "a partial refund of the whole amount is a refund; more than the amount counts as it": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("partially_refunded", 9_999_999, "applied", "refunded", OPENING),
    ],
    "succeeded -> charged back -> reinstated (the dispute won)": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("charged_back", None, "applied", "charged_back", OPENING),
        ("succeeded", None, "applied", "succeeded", PAID),
    ],
    "partially refunded -> charged back takes back what was not refunded": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("partially_refunded", 1_000, "applied", "partially_refunded", PAID + 1_000),
        ("charged_back", None, "applied", "charged_back", OPENING),
        ("succeeded", None, "applied", "succeeded", PAID + 1_000),
    ],
    "failed -> succeeded late (money that arrived is applied)": [
        ("failed", None, "applied", "failed", OPENING),
        ("succeeded", None, "applied", "succeeded", PAID),
    ],
    "failed -> pending (resubmitted) -> succeeded": [
        ("failed", None, "applied", "failed", OPENING),
        ("pending", None, "applied", "pending", OPENING),
        ("succeeded", None, "applied", "succeeded", PAID),
    ],
    "failed -> cancelled": [
        ("failed", None, "applied", "failed", OPENING),
        ("cancelled", None, "applied", "cancelled", OPENING),
    ],
    "cancelled -> succeeded is held": [
        ("cancelled", None, "applied", "cancelled", OPENING),
        ("succeeded", None, "held", "cancelled", OPENING),
    ],
    "pending -> refunded is held (never paid)": [
        ("refunded", None, "held", "pending", OPENING),
    ],
    "refunded -> succeeded is held": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("refunded", None, "applied", "refunded", OPENING),
        ("succeeded", None, "held", "refunded", OPENING),
    ],
    "charged back -> refunded is held": [
        ("succeeded", None, "applied", "succeeded", PAID),
        ("charged_back", None, "applied", "charged_back", OPENING),
        ("refunded", None, "held", "charged_back", OPENING),
    ],
}


@pytest.mark.parametrize("path", list(PATHS))
async def test_each_transition_moves_the_balance_only_with_its_balancing_entry(
    database: Database, path: str
) -> None:
    accounts = await books(database)

    for status, refunded, outcome, now_status, balance in PATHS[path]:
        assert await accounts.send(status, refunded) == outcome, (status, refunded)
        assert await accounts.state() == (now_status, balance, balance - OPENING), status


async def test_a_held_event_is_kept_for_review_audited_and_listed(database: Database) -> None:
    accounts = await books(database)
    await accounts.send("succeeded")

    assert await accounts.send("failed") == "held"

    [held] = await open_reviews(database, accounts.tenant_id)
    assert (held.from_status, held.to_status, held.status_now) == ("succeeded", "failed",
                                                                   "succeeded")  # fmt: skip
    assert (held.event_id, held.amount_minor) == ("evt_2", AMOUNT)
    async with database.tenant_session(accounts.tenant_id) as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert "payment.held" in actions


async def test_a_supervisor_applying_a_held_failure_adds_the_payment_back_to_the_balance(
    database: Database,
) -> None:
    accounts = await books(database)
    await accounts.send("succeeded")
    await accounts.send("failed")
    supervisor = await _user(accounts)
    [held] = await open_reviews(database, accounts.tenant_id)

    decided = await decide_review(database, accounts.tenant_id, held.review_id, apply=True,
                                  actor_id=supervisor, actor_label="sam", now=START)  # fmt: skip

    assert (decided.decision, decided.payment_status, decided.balance_minor) == (
        "applied", "failed", OPENING)  # fmt: skip
    assert await accounts.state() == ("failed", OPENING, 0)
    assert await open_reviews(database, accounts.tenant_id) == []
    with pytest.raises(ReviewClosed):
        await decide_review(database, accounts.tenant_id, held.review_id, apply=True,
                            actor_id=supervisor, actor_label="sam", now=START)  # fmt: skip
    assert await accounts.state() == ("failed", OPENING, 0)  # applied once


async def test_a_dismissed_review_changes_nothing_and_a_stale_one_cannot_be_applied(
    database: Database,
) -> None:
    accounts = await books(database)
    await accounts.send("succeeded")
    await accounts.send("failed")
    await accounts.send("refunded")  # the payment moved on since
    supervisor = await _user(accounts)
    [held] = await open_reviews(database, accounts.tenant_id)

    with pytest.raises(ReviewClosed):
        await decide_review(database, accounts.tenant_id, held.review_id, apply=True,
                            actor_id=supervisor, actor_label="sam", now=START)  # fmt: skip
    decided = await decide_review(database, accounts.tenant_id, held.review_id, apply=False,
                                  actor_id=supervisor, actor_label="sam", now=START)  # fmt: skip

    assert (decided.decision, decided.balance_minor) == ("dismissed", None)
    assert await accounts.state() == ("refunded", OPENING, 0)
    async with database.tenant_session(accounts.tenant_id) as session:
        review = await session.scalar(select(PaymentReview))
    assert review is not None and review.decided_by == supervisor


async def test_a_card_payment_taken_by_phone_writes_its_entry_with_the_balance(
    database: Database,
) -> None:
    accounts = await books(database)
    result = ChargeResult(PaymentStatus.SUCCEEDED, "pi_card", card_last4="4242")

    for _ in range(2):  # recorded again (a retry): once
        taken = await record_card_payment(
            database, accounts.tenant_id, account_id=accounts.account_id, call_id=None,
            amount_minor=2_000, currency="ILS", provider="stripe", idempotency_key="card-1",
            result=result, actor_id=None, actor_label="desk",
        )  # fmt: skip
        assert taken.balance_minor == OPENING - 2_000

    async with database.tenant_session(accounts.tenant_id) as session:
        entries = (await session.execute(
            select(AccountEntry.kind, AccountEntry.amount_minor, AccountEntry.balance_after_minor)
        )).all()  # fmt: skip
    assert [tuple(e) for e in entries] == [("payment", -2_000, OPENING - 2_000)]


async def _user(accounts: Books) -> int:
    async with accounts.database.tenant_session(accounts.tenant_id) as session, session.begin():
        user = User(username="sam", display_name="Sam", role="supervisor")
        session.add(user)
        await session.flush()
        return user.id


# --- the table itself (pure) ----------------------------------------------------------------


def test_every_pair_of_statuses_is_decided_and_balanced_by_the_one_rule() -> None:
    statuses = [s.value for s in PaymentStatus]
    for was in statuses:
        for to in statuses:
            payment = transitions.Payment(was, AMOUNT, 1_000 if was == "partially_refunded" else 0)
            decision = transitions.decide(payment, to, 2_000)
            if isinstance(decision, transitions.Apply):
                before = transitions.paid(was, AMOUNT, payment.refunded_minor)
                after = transitions.paid(decision.status, AMOUNT, decision.refunded_minor)
                assert decision.amount_minor == before - after, (was, to)
                assert (decision.kind is None) == (decision.amount_minor == 0), (was, to)
            elif to == was and to not in transitions.REFUNDS:
                assert isinstance(decision, transitions.Unchanged), (was, to)


async def test_a_credit_granted_or_approved_writes_its_entry_with_the_balance(
    database: Database,
) -> None:
    accounts = await books(database)
    admin = By(await _user(accounts), "admin", "admin:sam")

    async with database.tenant_session(accounts.tenant_id) as session, session.begin():
        tenant = await session.get(Tenant, accounts.tenant_id)
        assert tenant is not None
        credit = await grant_credit(
            session, tenant, account_id=accounts.account_id, amount_minor=700, currency="ILS",
            reason_code="goodwill", note=None, call_id=None, by=admin, now=START,
        )  # fmt: skip

    assert credit.status == "granted"
    async with database.tenant_session(accounts.tenant_id) as session:
        entries = (await session.execute(
            select(AccountEntry.kind, AccountEntry.amount_minor, AccountEntry.credit_id,
                   AccountEntry.balance_after_minor)
        )).all()  # fmt: skip
    assert [tuple(e) for e in entries] == [("credit", -700, credit.id, OPENING - 700)]
    assert await accounts.state() == ("pending", OPENING - 700, -700)


@pytest.mark.parametrize(
    ("link_event", "payment_events"),
    [
        (  # Stripe: the Checkout Session is paid; the PaymentIntent is refunded later
            WebhookEvent("evt_cs", "checkout.session.completed", "pay_link", REF, "succeeded",
                         START, details={"payment_intent": "pi_9"}),
            [("payment_intent.succeeded", "succeeded", None, PAID),
             ("charge.refunded", "refunded", "3000", OPENING)],
        ),
        (  # GoCardless: the billing request is fulfilled; its payment settles later
            WebhookEvent("EV_BRQ", "billing_requests.fulfilled", "pay_link", REF, "pending",
                         START, details={"payment_request_payment": "pi_9"}),
            [("payments.confirmed", "succeeded", None, PAID),
             ("payments.charged_back", "charged_back", None, OPENING)],
        ),
    ],
)  # fmt: skip
async def test_a_pay_links_later_events_find_it_by_the_providers_payment_id(
    database: Database, link_event: WebhookEvent,
    payment_events: list[tuple[str, str, str | None, int]],
) -> None:  # fmt: skip
    accounts = await books(database)
    await apply_events(database, "stripe", [link_event], now=START)

    for n, (kind, status, refunded, balance) in enumerate(payment_events, start=1):
        details = {"refunded_minor": refunded} if refunded else {}
        event = WebhookEvent(f"evt_p{n}", kind, "payment", "pi_9", status,
                             START + timedelta(minutes=n), details=details)  # fmt: skip
        [applied] = await apply_events(database, "stripe", [event], now=START)
        assert applied.outcome in ("applied", "unchanged"), kind
        assert (await accounts.state())[1:] == (balance, balance - OPENING), kind
