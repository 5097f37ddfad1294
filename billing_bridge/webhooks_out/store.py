"""Deliveries in the database: claimed under a lease, settled with their outcome.

A claim takes due pending deliveries of enabled subscriptions, oldest due first, and marks
each `claimed_until` a lease's end: another process skips them (`FOR UPDATE SKIP LOCKED` on
PostgreSQL while the claim is taken; SQLite runs one process), and if this one dies they are
due again when the lease ends. Per account, only the oldest pending delivery of a subscription
is ever claimable: a later event of the same account waits until the earlier is delivered or
given up (an event with no account waits for nobody).

Settling writes the attempt to the log, moves the delivery (delivered; pending again later;
failed once the schedule gives up) and keeps the subscription's `failing_since`: failing for
longer than allowed, it is disabled, audited, and its business's admins are told by email
(written to the outbox in the same transaction) and, once it commits, on their desks (the
`Disabled` handed to the worker's `on_disabled`).
The claim's own `claimed_until` is its token: an outcome from a claim that ran out and was
taken over is logged but moves nothing."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, update

from billing_bridge.webhooks_out import schedule
from billing_bridge.webhooks_out.sender import ERROR_LENGTH, Outcome
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import (
    BillingEvent,
    OutboxMessage,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from pbx.free_text import cap, is_email_address

WORKER = By("webhooks")
# What receivers get for an event row: `billing_bridge.events.envelope`, handed in.
Envelope = Callable[[BillingEvent], dict[str, Any]]


@dataclass(frozen=True)
class Claim:
    """A delivery this process may attempt until `claimed_until`."""

    delivery_id: int
    tenant_id: int
    subscription_id: int
    url: str
    secret: str
    event_id: str  # the event's public id: the same on every attempt
    body: bytes
    claimed_until: datetime


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


async def claim_due(database: Database, envelope: Envelope, *, now: datetime, limit: int,
                    lease: timedelta) -> list[Claim]:  # fmt: skip
    delivery = WebhookDelivery
    # Each account's first pending delivery (per subscription): the only one of its account
    # that may go. Read once per claim (a hashed set), from the partial index of pending
    # rows, with the status a constant so that a prepared plan uses that index; asking
    # "is an earlier one pending?" of every due row cost seconds behind a long backlog.
    pending = literal("pending", literal_execute=True)
    heads = (
        select(func.min(delivery.id))
        .where(delivery.status == pending, delivery.account_id.is_not(None))
        .group_by(delivery.subscription_id, delivery.account_id)
    )
    due = (
        select(delivery.id)
        .join(WebhookSubscription, WebhookSubscription.id == delivery.subscription_id)
        .where(
            delivery.status == pending,
            delivery.next_attempt_at <= now,
            or_(delivery.claimed_until.is_(None), delivery.claimed_until < now),
            WebhookSubscription.enabled.is_(True),
            or_(delivery.account_id.is_(None), delivery.id.in_(heads)),
        )
        .order_by(delivery.next_attempt_at, delivery.id)
        .limit(limit)
        .with_for_update(of=delivery, skip_locked=True)
    )
    until = now + lease
    async with database.system_session() as session, session.begin():
        ids = list(await session.scalars(due))
        if not ids:
            return []
        await session.execute(update(delivery).where(delivery.id.in_(ids))
                              .values(claimed_until=until)
                              .execution_options(synchronize_session=False))  # fmt: skip
        rows = await session.execute(
            select(delivery.id, delivery.tenant_id, delivery.subscription_id,
                   WebhookSubscription.url, WebhookSubscription.secret, BillingEvent)
            .join(WebhookSubscription, WebhookSubscription.id == delivery.subscription_id)
            .join(BillingEvent, BillingEvent.id == delivery.event_id)
            .where(delivery.id.in_(ids))
            .order_by(delivery.id))  # fmt: skip
        return [Claim(ident, tenant, sub, url, secret, event.public_id,
                      encode(envelope(event)), until)
                for ident, tenant, sub, url, secret, event in rows]  # fmt: skip


@dataclass(frozen=True)
class Disabled:
    """A subscription settling disabled, and the business's active admins to tell."""

    tenant_id: int
    subscription_id: int
    url: str
    reason: str
    failing_since: datetime
    disabled_at: datetime
    admin_ids: tuple[int, ...]


@dataclass(frozen=True)
class Settlement:
    """What came of one attempt of a claim."""

    claim: Claim
    outcome: Outcome
    attempted_at: datetime
    manual: bool = False


async def settle(database: Database, claim: Claim, outcome: Outcome, *,
                 attempted_at: datetime, rng: random.Random, disable_after: timedelta,
                 manual: bool = False, disabled: list[Disabled] | None = None) -> str:  # fmt: skip
    """`settle_all` for one attempt."""
    done = Settlement(claim, outcome, attempted_at, manual)
    return (await settle_all(database, [done], rng=rng, disable_after=disable_after,
                             disabled=disabled))[0]  # fmt: skip


async def settle_all(database: Database, settlements: Sequence[Settlement], *,
                     rng: random.Random, disable_after: timedelta,
                     disabled: list[Disabled] | None = None) -> list[str]:  # fmt: skip
    """Log each attempt and move its delivery, in one transaction; each one's status after,
    or "gone" (deleted with its subscription meanwhile) or "superseded" (the claim ran out
    and another took it). The subscriptions this disabled are added to `disabled` (once
    committed: a rolled-back settling adds none)."""
    turned_off: list[Disabled] = []
    ids = sorted({done.claim.delivery_id for done in settlements})
    async with database.system_session() as session, session.begin():
        rows = {row.id: row for row in await session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.id).with_for_update())}  # fmt: skip
        succeeded: set[int] = set()  # subscriptions to clear of failing_since
        results = [await _settle_one(session, rows.get(done.claim.delivery_id), done, rng,
                                     disable_after, succeeded, turned_off)
                   for done in settlements]  # fmt: skip
        await _subscriptions_succeeded(session, succeeded)
    if disabled is not None:
        disabled.extend(turned_off)
    return results


async def _settle_one(session: Any, row: WebhookDelivery | None, done: Settlement,
                      rng: random.Random, disable_after: timedelta, succeeded: set[int],
                      disabled: list[Disabled]) -> str:  # fmt: skip
    if row is None:
        return "gone"
    outcome, attempted_at = done.outcome, done.attempted_at
    error = cap(outcome.error, ERROR_LENGTH) if outcome.error else None
    session.add(WebhookAttempt(tenant_id=row.tenant_id, delivery_id=row.id,
                               attempted_at=attempted_at, status_code=outcome.status_code,
                               latency_ms=outcome.latency_ms, manual=done.manual,
                               error=error))  # fmt: skip
    if row.claimed_until != done.claim.claimed_until:
        return "superseded"
    row.attempts += 1
    row.claimed_until = None
    row.last_status_code, row.last_latency_ms = outcome.status_code, outcome.latency_ms
    row.last_error = error
    if outcome.delivered:
        row.status, row.delivered_at = "delivered", attempted_at
        succeeded.add(row.subscription_id)
        return row.status
    if row.status == "delivered":  # sent again by hand and refused: it was delivered
        return row.status
    window_start = await _round_started(session, row)
    retry = schedule.next_attempt(window_start, attempted_at, row.attempts, rng)
    if retry is None:
        row.status = "failed"
    else:
        row.status, row.next_attempt_at = "pending", retry
    if row.subscription_id in succeeded:  # a success earlier in this batch comes first
        succeeded.discard(row.subscription_id)
        await _subscriptions_succeeded(session, {row.subscription_id})
    turned_off = await _subscription_failed(session, row.subscription_id, attempted_at,
                                            disable_after)  # fmt: skip
    if turned_off is not None:
        disabled.append(turned_off)
    return row.status


async def _round_started(session: Any, row: WebhookDelivery) -> datetime:
    """When this round of attempts began: the oldest of its `attempts` latest attempts (a
    redelivery starts a new round with attempts at 0)."""
    started = await session.scalar(
        select(WebhookAttempt.attempted_at).where(WebhookAttempt.delivery_id == row.id)
        .order_by(WebhookAttempt.id.desc()).offset(max(row.attempts - 1, 0)).limit(1))  # fmt: skip
    assert started is not None  # this attempt, at least, is in the log
    return started


async def _subscriptions_succeeded(session: Any, subscription_ids: set[int]) -> None:
    # Only a subscription that was failing is written: a lock on every success would queue
    # all of one subscription's deliveries behind each other.
    if not subscription_ids:
        return
    await session.execute(update(WebhookSubscription)
                          .where(WebhookSubscription.id.in_(sorted(subscription_ids)),
                                 WebhookSubscription.failing_since.is_not(None))
                          .values(failing_since=None)
                          .execution_options(synchronize_session=False))  # fmt: skip


async def _subscription_failed(session: Any, subscription_id: int, now: datetime,
                               disable_after: timedelta) -> Disabled | None:  # fmt: skip
    await session.execute(update(WebhookSubscription)
                          .where(WebhookSubscription.id == subscription_id,
                                 WebhookSubscription.failing_since.is_(None))
                          .values(failing_since=now)
                          .execution_options(synchronize_session=False))  # fmt: skip
    sub = await session.scalar(
        select(WebhookSubscription).where(
            WebhookSubscription.id == subscription_id, WebhookSubscription.enabled.is_(True),
            and_(WebhookSubscription.failing_since.is_not(None),
                 WebhookSubscription.failing_since <= now - disable_after))
        .with_for_update())  # fmt: skip
    if sub is None:
        return None
    days = disable_after.total_seconds() / 86400
    sub.enabled, sub.disabled_at = False, now
    sub.disabled_reason = f"every delivery failed for {days:g} days"
    record(session, tenant_id=sub.tenant_id, actor=WORKER, action="webhook_subscription.disable",
           target=Target("webhook_subscription", sub.id),
           details={"url": sub.url, "reason": sub.disabled_reason,
                    "failing_since": sub.failing_since.isoformat()}, at=now)  # fmt: skip
    admin_ids = await _email_admins(session, sub, now)
    assert sub.failing_since is not None and sub.disabled_reason is not None
    return Disabled(sub.tenant_id, sub.id, sub.url, sub.disabled_reason, sub.failing_since, now,
                    admin_ids)  # fmt: skip


async def _email_admins(session: Any, sub: WebhookSubscription, now: datetime
                        ) -> tuple[int, ...]:  # fmt: skip
    """An email to each active admin of the business at their address, or, for an admin
    with none, at their user name when that is an address (as users signed in before they
    had addresses); the admins' ids, to tell their desks."""
    admins = list(await session.execute(
        select(User.id, User.username, User.email)
        .where(User.tenant_id == sub.tenant_id, User.role == "admin", User.active.is_(True))
        .order_by(User.id)))  # fmt: skip
    body = (f"Ledgerline stopped sending events to {sub.url} (webhook subscription "
            f"{sub.id}): {sub.disabled_reason}, since {sub.failing_since:%Y-%m-%d %H:%M} UTC.\n"
            "Events are kept: fix the receiver, then enable the subscription again; "
            "deliveries that were given up can be sent again from its delivery log.")  # fmt: skip
    for admin in admins:
        address = admin.email or (admin.username if is_email_address(admin.username) else None)
        if address is not None:
            session.add(OutboxMessage(tenant_id=sub.tenant_id, channel="email",
                                      recipient=address, created_at=now, body=body,
                                      subject="Webhook subscription disabled"))  # fmt: skip
    return tuple(admin.id for admin in admins)
