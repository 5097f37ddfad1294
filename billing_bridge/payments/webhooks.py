"""Provider events applied to Ledgerline's payments and mandates.

Each event is kept once (`webhook_events`, unique by provider and event id): a replay or a
duplicate delivery changes nothing. An event older than the one that set a payment's or
mandate's current status (`status_at`) does not move it back: providers deliver out of
order. Unknown event types and events about things Ledgerline never made are kept, logged
and acknowledged, so the provider stops retrying them.

A payment moves only as `transitions` allows: each move that changes what the customer
owes writes its balancing entry (`ledger.post_entry`) with the new status, in the event's
transaction; a move the table does not allow on an event alone (a succeeded payment
"failed" by a later event) is held (`payment_reviews`, audited, outcome "held") and
changes nothing until a supervisor applies or dismisses it (`reviews.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.events import changes
from billing_bridge.payments import transitions
from billing_bridge.payments.ledger import post_account_entry, settle_invoice
from billing_bridge.payments.port import MandateStatus, PaymentStatus, WebhookEvent
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import Account, Call, Mandate, Payment, PaymentReview
from pbx.db.models import WebhookEvent as ReceivedEvent

log = logging.getLogger(__name__)

PROVIDER = By("provider")  # who an event's audit entry names

PAYMENT_STATUSES = {s.value for s in PaymentStatus}
MANDATE_STATUSES = {s.value for s in MandateStatus}


@dataclass(frozen=True)
class Applied:
    """What one event did, and who should hear of it (the agent of the call it was taken
    in, for a live screen update)."""

    event_id: str
    outcome: str  # applied, unchanged, held, duplicate, stale, unknown_type, not_found
    tenant_id: int | None = None
    agent_id: int | None = None
    data: dict[str, Any] | None = None

    @property
    def desk_kind(self) -> str | None:
        """The desk event this outcome announces, if any: a payment or mandate that moved
        (to the agent of its call and the supervisors), or one held for a supervisor's
        review."""
        if self.outcome not in ("applied", "held") or not self.data:
            return None
        if self.outcome == "held":
            return "payment.held"
        return "mandate.status" if "mandate_id" in self.data else "payment.status"


async def apply_events(
    database: Database, provider: str, events: Sequence[WebhookEvent], *, now: datetime
) -> list[Applied]:
    return [await _apply(database, provider, event, now) for event in events]


async def _apply(database: Database, provider: str, event: WebhookEvent, now: datetime) -> Applied:
    try:
        async with database.system_session() as session, session.begin():
            kept = ReceivedEvent(
                provider=provider, event_id=event.event_id, type=event.type[:64],
                resource=event.resource[:32], provider_ref=event.provider_ref[:128],
                status=event.status, occurred_at=event.occurred_at, received_at=now,
                outcome="applied",
            )  # fmt: skip
            session.add(kept)
            await session.flush()  # the unique key refuses a replay here
            applied = await _change(session, provider, event)
            kept.outcome = applied.outcome
    except IntegrityError:
        return Applied(event.event_id, "duplicate")
    if applied.outcome != "applied":
        log.info("%s event %s (%s): %s", provider, event.event_id, event.type, applied.outcome)
    return applied


async def _change(session: AsyncSession, provider: str, event: WebhookEvent) -> Applied:
    if not event.raw_type_known or event.status is None:
        return Applied(event.event_id, "unknown_type")
    if event.resource in ("payment", "pay_link") and event.status in PAYMENT_STATUSES:
        return await _payment(session, provider, event)
    if event.resource == "mandate" and event.status in MANDATE_STATUSES:
        return await _mandate(session, provider, event)
    return Applied(event.event_id, "unknown_type")


async def _payment(session: AsyncSession, provider: str, event: WebhookEvent) -> Applied:
    payment = await _locked(session, Payment, provider, event.provider_ref)
    if (refused := _refused(payment, event)) is not None:
        return refused
    assert payment is not None and event.status is not None
    if event.resource == "pay_link" and (paid_by := _payment_of_link(event)):
        # The link's payment has its own id at the provider (Stripe's PaymentIntent,
        # GoCardless's payment), which its later events (settled, refunded, disputed) name.
        payment.provider_ref = paid_by
    was = payment.status
    decision = transitions.decide(
        transitions.Payment(was, payment.amount_minor, payment.refunded_minor),
        event.status, _refunded_total(event),
    )  # fmt: skip
    if isinstance(decision, transitions.Unchanged):
        return Applied(event.event_id, "unchanged", payment.tenant_id)
    if isinstance(decision, transitions.Hold):
        session.add(PaymentReview(
            tenant_id=payment.tenant_id, payment_id=payment.id, event_id=event.event_id,
            from_status=was, to_status=event.status, reason=decision.reason[:200],
            occurred_at=event.occurred_at,
        ))  # fmt: skip
        _audit(session, payment.tenant_id, "payment.held", "payment", payment.id,
               {"from": was, "to": event.status, "event": event.event_id,
                "reason": decision.reason})  # fmt: skip
        log.warning("%s event %s would move payment %s from %s to %s: held for review",
                    provider, event.event_id, payment.id, was, event.status)  # fmt: skip
        held = {"payment_id": payment.id, "status": was, "held_status": event.status,
                "amount_minor": payment.amount_minor, "currency": payment.currency,
                "account_id": payment.account_id, "reason": decision.reason}  # fmt: skip
        return Applied(event.event_id, "held", payment.tenant_id, None, held)
    failure = (event.details.get("failure_code") or "failed")[:200]
    balance = await apply_move(
        session, payment, decision, event_id=event.event_id, occurred_at=event.occurred_at,
        failure=failure if decision.status == PaymentStatus.FAILED else None,
    )  # fmt: skip
    _audit(session, payment.tenant_id, "payment.status", "payment", payment.id,
           {"from": was, "to": decision.status, "event": event.event_id,
            "balance_change": decision.amount_minor})  # fmt: skip
    agent = None
    if payment.call_id is not None:
        agent = await session.scalar(select(Call.agent_id).where(Call.id == payment.call_id))
    data = {"payment_id": payment.id, "status": decision.status, "method": payment.method,
            "amount_minor": payment.amount_minor, "currency": payment.currency,
            "account_id": payment.account_id, "balance_minor": balance,
            "call_record_id": payment.call_id}  # fmt: skip
    return Applied(event.event_id, "applied", payment.tenant_id, agent, data)


async def apply_move(
    session: AsyncSession,
    payment: Payment,
    move: transitions.Apply,
    *,
    event_id: str | None,
    occurred_at: datetime | None,
    failure: str | None = None,
) -> int:
    """The payment takes the move's status, and the balance its entry, in the caller's
    transaction (the payment's row locked); the account's balance after."""
    payment.status, payment.refunded_minor = move.status, move.refunded_minor
    if occurred_at is not None:
        payment.status_at = occurred_at
    if failure is not None:
        payment.failure_reason = failure
    if payment.invoice_id is not None:
        # A charge that came back pending pays the invoice it named when it succeeds; a
        # refund, chargeback or reversal puts what it takes back on that invoice.
        await settle_invoice(session, payment.invoice_id, payment.account_id, move.amount_minor)
    if move.kind is not None:
        entry = await post_account_entry(
            session, payment.tenant_id, account_id=payment.account_id, kind=move.kind,
            amount_minor=move.amount_minor, currency=payment.currency, payment_id=payment.id,
            event_id=event_id, paid_at=occurred_at,
        )  # fmt: skip
        await changes.payment_moved(session, payment, entry_id=entry.id)
        return entry.balance_after_minor
    await changes.payment_moved(session, payment)
    balance = await session.scalar(
        select(Account.balance_minor).where(Account.id == payment.account_id)
    )
    return int(balance or 0)


def _payment_of_link(event: WebhookEvent) -> str | None:
    ref = event.details.get("payment_intent") or event.details.get("payment_request_payment")
    return ref if ref and len(ref) <= 128 else None


def _refunded_total(event: WebhookEvent) -> int | None:
    """The total refunded an event reports (Stripe's amount_refunded), if it says."""
    text = event.details.get("refunded_minor", "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


async def _mandate(session: AsyncSession, provider: str, event: WebhookEvent) -> Applied:
    mandate = await _locked(session, Mandate, provider, event.provider_ref)
    if (refused := _refused(mandate, event)) is not None:
        return refused
    assert mandate is not None
    was = mandate.status
    mandate.status, mandate.status_at = event.status, event.occurred_at
    if was != mandate.status:
        await changes.mandate_moved(session, mandate)
    _audit(session, mandate.tenant_id, "mandate.status", "mandate", mandate.id,
           {"from": was, "to": event.status, "event": event.event_id})  # fmt: skip
    data = {"mandate_id": mandate.id, "status": event.status, "scheme": mandate.scheme,
            "account_id": mandate.account_id}  # fmt: skip
    return Applied(event.event_id, "applied", mandate.tenant_id, None, data)


async def _locked(
    session: AsyncSession, model: type[Payment] | type[Mandate], provider: str, ref: str
) -> Any:
    """The row the event is about, locked until the event is applied."""
    query = select(model).where(model.provider == provider, model.provider_ref == ref)
    return await session.scalar(query.with_for_update())


def _refused(row: Payment | Mandate | None, event: WebhookEvent) -> Applied | None:
    """Why the event changes nothing: not ours, or older than the status it would replace."""
    if row is None:
        return Applied(event.event_id, "not_found")
    if row.status_at is not None and event.occurred_at < row.status_at:
        return Applied(event.event_id, "stale", row.tenant_id)
    return None


def _audit(
    session: AsyncSession, tenant_id: int, action: str, target: str, target_id: int,
    details: dict[str, Any],
) -> None:  # fmt: skip
    record(
        session, tenant_id=tenant_id, actor=PROVIDER, action=action,
        target=Target(target, target_id), details=details,
    )  # fmt: skip
