"""Provider events held for review (`payment_reviews`): listed for supervisors, and applied
or dismissed by one, once.

Applying takes the payment to the status the held event named, with the balancing entry of
`transitions.move` (a succeeded payment that failed after all: what it took off the balance
is added back), in one transaction with the decision and its audit entry. A review whose
payment has moved since the event was held is stale: it can only be dismissed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from billing_bridge.payments import transitions
from billing_bridge.payments.webhooks import apply_move
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import Payment, PaymentReview


class ReviewNotFound(LookupError):
    pass


class ReviewClosed(Exception):
    """Decided already, or (to apply) the payment moved since the event was held."""


@dataclass(frozen=True)
class HeldEvent:
    review_id: int
    payment_id: int
    account_id: int
    amount_minor: int
    currency: str
    from_status: str
    to_status: str
    status_now: str
    reason: str
    event_id: str
    occurred_at: datetime
    held_at: datetime


@dataclass(frozen=True)
class Decided:
    review_id: int
    decision: str  # applied, dismissed
    payment_status: str
    balance_minor: int | None  # after an applied move


async def open_reviews(database: Database, tenant_id: int, limit: int = 100) -> list[HeldEvent]:
    """The business's undecided reviews, oldest first."""
    async with database.tenant_autocommit(tenant_id) as session:
        rows = (await session.execute(
            select(PaymentReview, Payment).join(Payment, Payment.id == PaymentReview.payment_id)
            .where(PaymentReview.decision.is_(None))
            .order_by(PaymentReview.id).limit(limit)
        )).all()  # fmt: skip
    return [
        HeldEvent(
            review.id, payment.id, payment.account_id, payment.amount_minor, payment.currency,
            review.from_status, review.to_status, payment.status, review.reason,
            review.event_id, review.occurred_at, review.created_at,
        )
        for review, payment in rows
    ]


async def decide_review(
    database: Database,
    tenant_id: int,
    review_id: int,
    *,
    apply: bool,
    actor_id: int,
    actor_label: str,
    now: datetime,
) -> Decided:
    async with database.tenant_session(tenant_id) as session, session.begin():
        review = await session.scalar(
            select(PaymentReview).where(PaymentReview.id == review_id).with_for_update()
        )
        if review is None:
            raise ReviewNotFound(f"no review {review_id}")
        if review.decision is not None:
            raise ReviewClosed(f"review {review_id} was {review.decision} already")
        payment = await session.scalar(
            select(Payment).where(Payment.id == review.payment_id).with_for_update()
        )
        assert payment is not None  # the review's foreign key cascades
        was, balance = payment.status, None
        if apply:
            if payment.status != review.from_status:
                raise ReviewClosed(
                    f"the payment is {payment.status} now, not {review.from_status}: dismiss it"
                )
            move = transitions.move(
                transitions.Payment(was, payment.amount_minor, payment.refunded_minor),
                review.to_status, payment.refunded_minor,
            )  # fmt: skip
            balance = await apply_move(
                session, payment, move, event_id=review.event_id, occurred_at=review.occurred_at
            )
        review.decision = "applied" if apply else "dismissed"
        review.decided_at, review.decided_by = now, actor_id
        record(
            session, tenant_id=tenant_id, actor=By(actor_label, actor_id),
            action=f"payment.review.{review.decision}", target=Target("payment", payment.id),
            details={"review_id": review.id, "event": review.event_id, "from": was,
                     "to": payment.status, "balance_minor": balance},
        )  # fmt: skip
        return Decided(review.id, review.decision, payment.status, balance)
