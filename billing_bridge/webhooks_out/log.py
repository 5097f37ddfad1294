"""A subscription's delivery log, as its admins read it, and redelivery by hand.

Newest first, a page at a time (`cursor`: the last delivery id of the page before). A
redelivery is an attempt made now, whatever the schedule says, logged as manual; a delivery
that was given up starts a new round of retries if it fails again. Redelivering a range puts
every settled delivery created since a moment back in the queue, as a new round."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.webhooks_out import store
from billing_bridge.webhooks_out.sender import Sender
from pbx.audit import Actor, Target, record
from pbx.db.database import Database
from pbx.db.models import BillingEvent, WebhookAttempt, WebhookDelivery, WebhookSubscription
from pbx.refusals import Conflict, NotFound

STATUSES = ("pending", "delivered", "failed")


@dataclass(frozen=True)
class DeliveryView:
    id: int
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    next_attempt_at: datetime | None  # pending only
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class AttemptView:
    id: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    manual: bool


@dataclass(frozen=True)
class DeliveryPage:
    items: list[DeliveryView]
    next_cursor: int | None


async def list_deliveries(session: AsyncSession, subscription_id: int, *, status: str | None,
                          cursor: int | None, limit: int) -> DeliveryPage:  # fmt: skip
    await _subscription(session, subscription_id)
    query = (_deliveries().where(WebhookDelivery.subscription_id == subscription_id)
             .order_by(WebhookDelivery.id.desc()).limit(limit + 1))  # fmt: skip
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if cursor is not None:
        query = query.where(WebhookDelivery.id < cursor)
    rows = (await session.execute(query)).all()
    items = [_view(*row) for row in rows[:limit]]
    return DeliveryPage(items, items[-1].id if len(rows) > limit else None)


async def get_delivery(session: AsyncSession, subscription_id: int, delivery_id: int
                       ) -> tuple[DeliveryView, list[AttemptView]]:  # fmt: skip
    found = (await session.execute(_deliveries().where(
        WebhookDelivery.id == delivery_id,
        WebhookDelivery.subscription_id == subscription_id))).first()  # fmt: skip
    if found is None:
        raise NotFound("delivery")
    attempts = await session.scalars(select(WebhookAttempt)
                                     .where(WebhookAttempt.delivery_id == delivery_id)
                                     .order_by(WebhookAttempt.id))  # fmt: skip
    return _view(*found), [AttemptView(a.id, a.attempted_at, a.status_code, a.latency_ms,
                                       a.error, a.manual) for a in attempts]  # fmt: skip


async def redeliver(database: Database, sender: Sender, envelope: store.Envelope, *,
                    tenant_id: int, actor: Actor, subscription_id: int, delivery_id: int,
                    now: datetime, lease: timedelta, disable_after: timedelta,
                    rng: random.Random, disabled: list[store.Disabled] | None = None
                    ) -> tuple[DeliveryView, list[AttemptView]]:  # fmt: skip
    """One attempt now, logged as manual, then the delivery as it stands (a subscription
    the attempt disabled added to `disabled`)."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        row = await session.scalar(select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription_id)
            .with_for_update())  # fmt: skip
        if row is None:
            raise NotFound("delivery")
        if row.claimed_until is not None and row.claimed_until > now:
            raise Conflict("an attempt of this delivery is in flight; ask again shortly")
        sub = await _subscription(session, subscription_id)
        event = await session.get_one(BillingEvent, row.event_id)
        if row.status == "failed":
            row.attempts = 0  # a new round: given up once, it gets its full schedule again
        row.claimed_until = now + lease
        claim = store.Claim(row.id, tenant_id, sub.id, sub.url, sub.secret, event.public_id,
                            store.encode(envelope(event)), row.claimed_until)  # fmt: skip
        record(session, tenant_id=tenant_id, actor=actor, action="webhook_delivery.redeliver",
               target=Target("webhook_delivery", row.id),
               details={"subscription_id": sub.id, "event_id": event.public_id},
               at=now)  # fmt: skip
    outcome = await sender.post(claim.url, claim.secret, claim.event_id, claim.body,
                                int(now.timestamp()))  # fmt: skip
    await store.settle(database, claim, outcome, attempted_at=now, rng=rng,
                       disable_after=disable_after, manual=True, disabled=disabled)  # fmt: skip
    async with database.tenant_session(tenant_id) as session:
        return await get_delivery(session, subscription_id, delivery_id)


async def redeliver_since(session: AsyncSession, *, tenant_id: int, actor: Actor,
                          subscription_id: int, since: datetime, now: datetime) -> int:  # fmt: skip
    """Every delivered or failed delivery created at or after `since` queued again now, as a
    new round; how many. Pending ones are already on their way."""
    await _subscription(session, subscription_id, lock=True)
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id,
               WebhookDelivery.created_at >= since,
               WebhookDelivery.status.in_(("delivered", "failed")))
        .values(status="pending", attempts=0, next_attempt_at=now, delivered_at=None,
                claimed_until=None)
        .execution_options(synchronize_session=False))  # fmt: skip
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    record(session, tenant_id=tenant_id, actor=actor, action="webhook_subscription.redeliver",
           target=Target("webhook_subscription", subscription_id),
           details={"since": since.isoformat(), "deliveries": count}, at=now)  # fmt: skip
    return count


def _deliveries():  # type: ignore[no-untyped-def]
    return select(WebhookDelivery, BillingEvent.public_id, BillingEvent.type).join(
        BillingEvent, BillingEvent.id == WebhookDelivery.event_id
    )


def _view(row: WebhookDelivery, event_id: str, event_type: str) -> DeliveryView:
    return DeliveryView(row.id, event_id, event_type, row.status, row.attempts,
                        row.last_status_code, row.last_latency_ms, row.last_error,
                        row.next_attempt_at if row.status == "pending" else None,
                        row.delivered_at, row.created_at)  # fmt: skip


async def _subscription(session: AsyncSession, subscription_id: int, *, lock: bool = False
                        ) -> WebhookSubscription:  # fmt: skip
    query = select(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound("webhook subscription")
    return row
