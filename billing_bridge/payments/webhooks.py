"""Provider events applied to Ledgerline's payments and mandates.

Each event is kept once (`webhook_events`, unique by provider and event id): a replay or a
duplicate delivery changes nothing. An event older than the one that set a payment's or
mandate's current status (`status_at`) does not move it back: providers deliver out of
order. Unknown event types and events about things Ledgerline never made are kept, logged
and acknowledged, so the provider stops retrying them. A payment that becomes succeeded
lowers its account's balance, once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.payments.port import MandateStatus, PaymentStatus, WebhookEvent
from pbx.db.database import Database
from pbx.db.models import Account, AuditEntry, Call, Mandate, Payment
from pbx.db.models import WebhookEvent as ReceivedEvent

log = logging.getLogger(__name__)

PAYMENT_STATUSES = {s.value for s in PaymentStatus}
MANDATE_STATUSES = {s.value for s in MandateStatus}


@dataclass(frozen=True)
class Applied:
    """What one event did, and who should hear of it (the agent of the call it was taken
    in, for a live screen update)."""

    event_id: str
    outcome: str  # applied, duplicate, stale, unknown_type, not_found
    tenant_id: int | None = None
    agent_id: int | None = None
    data: dict[str, Any] | None = None


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
    assert payment is not None
    was = payment.status
    payment.status, payment.status_at = event.status, event.occurred_at
    if event.status == PaymentStatus.FAILED:
        payment.failure_reason = (event.details.get("failure_code") or "failed")[:200]
    if event.status == PaymentStatus.SUCCEEDED and was != PaymentStatus.SUCCEEDED:
        await session.execute(
            update(Account).where(Account.id == payment.account_id)
            .values(balance_minor=Account.balance_minor - payment.amount_minor)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    balance = await session.scalar(
        select(Account.balance_minor).where(Account.id == payment.account_id)
    )
    _audit(session, payment.tenant_id, "payment.status", "payment", payment.id,
           {"from": was, "to": event.status, "event": event.event_id})  # fmt: skip
    agent = None
    if payment.call_id is not None:
        agent = await session.scalar(select(Call.agent_id).where(Call.id == payment.call_id))
    data = {"payment_id": payment.id, "status": event.status, "method": payment.method,
            "amount_minor": payment.amount_minor, "currency": payment.currency,
            "account_id": payment.account_id, "balance_minor": balance,
            "call_record_id": payment.call_id}  # fmt: skip
    return Applied(event.event_id, "applied", payment.tenant_id, agent, data)


async def _mandate(session: AsyncSession, provider: str, event: WebhookEvent) -> Applied:
    mandate = await _locked(session, Mandate, provider, event.provider_ref)
    if (refused := _refused(mandate, event)) is not None:
        return refused
    assert mandate is not None
    was = mandate.status
    mandate.status, mandate.status_at = event.status, event.occurred_at
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
    session.add(AuditEntry(
        tenant_id=tenant_id, actor_id=None, actor_label="provider", action=action,
        target_type=target, target_id=str(target_id), details=details,
    ))  # fmt: skip
