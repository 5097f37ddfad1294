"""Outgoing billing events: added to the transaction of the change they report.

`emit` stages an event on the session; the session writes the staged events just before it
commits (`_write_staged`, a `before_commit` hook), after the change's own rows are flushed:
the business's next sequence numbers from `billing_event_counters`, whose row stays locked
until the commit, then the `billing_events` rows and a pending `webhook_deliveries` row for
each enabled subscription that takes the type. The counter's lock is the last one the
transaction takes, so of two transactions the one that commits first has the smaller
sequence, and a reader that has seen sequence N never later finds a new one below it.
A transaction that rolls back forgets what it staged.

Once a transaction that wrote deliveries has committed, the listeners registered for its
database (`when_deliveries_committed`) are told, so a delivery worker in the same process
looks at once instead of at its next poll; other processes' workers find them when they poll.
"""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from pbx.db.models import BillingEvent, BillingEventCounter, WebhookDelivery, WebhookSubscription

API_VERSION = "2026-12-01"
EVENT_TYPES = (
    "payment.succeeded", "payment.failed", "payment.refunded", "payment.charged_back",
    "mandate.created", "mandate.active", "mandate.failed", "mandate.cancelled",
    "credit.granted", "credit.approved", "credit.rejected", "call.ended", "call.updated",
    "promise.created", "promise.kept", "promise.broken", "promise.cancelled", "plan.created",
    "plan.instalment_paid", "plan.instalment_failed", "plan.completed", "plan.cancelled",
    "reminder.sent", "reminder.stopped", "customer.opted_out",
)  # fmt: skip
ALL_TYPES = "*"  # a subscription's event_types entry that takes every type

_STAGED = "billing_events.staged"
_DELIVERIES_WRITTEN = "billing_events.deliveries_written"
# Per database engine, who to tell after a commit that wrote deliveries. Held weakly on both
# sides: registering a worker's `wake` keeps neither the worker nor the database alive.
_LISTENERS: weakref.WeakKeyDictionary[Engine, list[weakref.ref[Callable[[], None]]]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class _Staged:
    tenant_id: int
    public_id: str
    type: str
    data: dict[str, Any]
    account_id: int | None
    entry_id: int | None
    created_at: datetime


def new_event_id() -> str:
    """`evt_` and 32 random hex digits (128 bits): never a guessable sequence."""
    return "evt_" + secrets.token_hex(16)


def emit(
    session: AsyncSession,
    tenant_id: int,
    type: str,
    obj: Mapping[str, Any],
    *,
    account_id: int | None = None,
    entry_id: int | None = None,
) -> str:
    """Add an event about `obj` to the session's transaction; its public id. Written when
    the transaction commits, never if it rolls back."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown billing event type {type!r}")
    staged = session.sync_session.info.setdefault(_STAGED, [])
    public_id = new_event_id()
    staged.append(_Staged(tenant_id, public_id, type, dict(obj), account_id, entry_id,
                          datetime.now(UTC)))  # fmt: skip
    return public_id


def when_deliveries_committed(engine: AsyncEngine, listener: Callable[[], None]) -> None:
    """Call `listener` (a bound method, such as a delivery worker's `wake`) in this process
    after each commit on `engine` that wrote webhook deliveries; for as long as its object
    lives. It runs inside the commit, so it must only signal (set an event), never wait."""
    reference = weakref.WeakMethod(listener)  # type: ignore[arg-type]
    _LISTENERS.setdefault(engine.sync_engine, []).append(reference)


def envelope(row: BillingEvent) -> dict[str, Any]:
    """The event as receivers get it (the webhook body, an item of GET /api/v1/events)."""
    return {
        "id": row.public_id,
        "object": "event",
        "type": row.type,
        "api_version": row.version,
        "created": row.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "sequence": row.seq,
        "data": {"object": row.data},
    }


@event.listens_for(Session, "before_commit")
def _write_staged(session: Session) -> None:
    staged: list[_Staged] | None = session.info.pop(_STAGED, None)
    if not staged:
        return
    session.flush()  # the change's own rows first: the counter's lock is the last taken
    for tenant_id in dict.fromkeys(item.tenant_id for item in staged):
        events = [item for item in staged if item.tenant_id == tenant_id]
        last = _take_sequence(session, tenant_id, len(events))
        rows = [
            BillingEvent(
                tenant_id=tenant_id, seq=last - len(events) + number, public_id=item.public_id,
                type=item.type, version=API_VERSION, account_id=item.account_id,
                entry_id=item.entry_id, data=item.data, created_at=item.created_at,
            )
            for number, item in enumerate(events, start=1)
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        deliveries = _deliveries(session, tenant_id, rows)
        session.add_all(deliveries)
        if deliveries:
            session.info[_DELIVERIES_WRITTEN] = True


@event.listens_for(Session, "after_commit")
def _tell_listeners(session: Session) -> None:
    if not session.info.pop(_DELIVERIES_WRITTEN, False):
        return
    references = _LISTENERS.get(session.get_bind().engine, [])  # type: ignore[union-attr]
    references[:] = [reference for reference in references if reference() is not None]
    for reference in references:
        listener = reference()
        if listener is not None:
            listener()


@event.listens_for(Session, "after_rollback")
def _forget_staged(session: Session) -> None:
    session.info.pop(_STAGED, None)
    session.info.pop(_DELIVERIES_WRITTEN, None)


def _take_sequence(session: Session, tenant_id: int, count: int) -> int:
    """Advance the business's counter by `count` under its row lock; the last number taken.
    The row is made on first use (ON CONFLICT DO NOTHING, so two first events at once
    cannot both make it), then advanced by the one UPDATE that locks it."""
    advance = (
        update(BillingEventCounter)
        .where(BillingEventCounter.tenant_id == tenant_id)
        .values(last_seq=BillingEventCounter.last_seq + count)
        .returning(BillingEventCounter.last_seq)
        # Nothing of the counter is loaded in the session: no objects to bring up to date
        # (their search by the WHERE's criteria cost as much as the statement, every call).
        .execution_options(synchronize_session=False)
    )
    last = session.execute(advance).scalar_one_or_none()
    if last is None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(BillingEventCounter)
            .values(tenant_id=tenant_id, last_seq=0)
            .on_conflict_do_nothing()
        )
        last = session.execute(advance).scalar_one()
    return int(last)


def _deliveries(
    session: Session, tenant_id: int, events: list[BillingEvent]
) -> list[WebhookDelivery]:
    subscriptions = session.execute(
        select(WebhookSubscription.id, WebhookSubscription.event_types).where(
            WebhookSubscription.tenant_id == tenant_id, WebhookSubscription.enabled.is_(True)
        )
    ).all()
    now = datetime.now(UTC)
    return [
        WebhookDelivery(tenant_id=tenant_id, subscription_id=subscription.id, event_id=row.id,
                        account_id=row.account_id, status="pending", next_attempt_at=now)
        for row in events
        for subscription in subscriptions
        if _takes(subscription.event_types, row.type)
    ]  # fmt: skip


def _takes(event_types: Any, type: str) -> bool:
    return isinstance(event_types, list) and (type in event_types or ALL_TYPES in event_types)
