"""A business's webhook subscriptions, managed by its admins: where its events go, which
types, and the secret they are signed with.

The secret is returned on creation and rotation only (it stays in the row: the worker signs
with it). Every change is audited in its own transaction, never with the secret. The session
is the business's (`Database.tenant_session`), so another business's subscription is not
found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.events import EVENT_TYPES
from billing_bridge.events.outbox import ALL_TYPES
from billing_bridge.webhooks_out.signing import new_secret
from billing_bridge.webhooks_out.urls import BadUrl, check_url
from pbx.audit import Actor, Target, record
from pbx.db.models import WebhookSubscription
from pbx.refusals import BadReference, Conflict, NotFound

MAX_SUBSCRIPTIONS = 16  # per business: a receiver each for a few systems, not a fan-out service


@dataclass(frozen=True)
class NewSubscription:
    url: str
    event_types: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class SubscriptionChange:
    """What an admin changes; None leaves it as it is."""

    url: str | None = None
    event_types: tuple[str, ...] | None = None
    description: str | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class SubscriptionView:
    id: int
    url: str
    description: str
    event_types: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


def check_event_types(types: Sequence[str]) -> tuple[str, ...]:
    """The types as kept: known ones, each once, or "*" alone."""
    if not types:
        raise BadReference("event_types", 'name at least one event type, or "*"')
    if ALL_TYPES in types:
        if len(types) != 1:
            raise BadReference("event_types", '"*" stands alone: it means every type')
        return (ALL_TYPES,)
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise BadReference("event_types", f"unknown type {unknown[0]!r}")
    return tuple(sorted(set(types)))


async def create_subscription(
    session: AsyncSession, *, tenant_id: int, actor: Actor, new: NewSubscription,
    allow_private: bool, now: datetime,
) -> tuple[SubscriptionView, str]:  # fmt: skip
    """A new subscription and its secret, which is shown this once."""
    url = _checked_url(new.url, allow_private)
    types = check_event_types(new.event_types)
    count = await session.scalar(select(func.count()).select_from(WebhookSubscription))
    if (count or 0) >= MAX_SUBSCRIPTIONS:
        raise Conflict(f"a business has at most {MAX_SUBSCRIPTIONS} webhook subscriptions")
    secret = new_secret()
    row = WebhookSubscription(tenant_id=tenant_id, url=url, description=new.description,
                              secret=secret, event_types=list(types), enabled=True,
                              created_by=actor.user_id, created_at=now, updated_at=now)  # fmt: skip
    session.add(row)
    await session.flush()
    _audit(session, tenant_id, actor, "webhook_subscription.create", row, now,
           {"url": url, "event_types": list(types), "description": new.description})  # fmt: skip
    return view_of(row), secret


async def list_subscriptions(session: AsyncSession) -> list[SubscriptionView]:
    rows = await session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))
    return [view_of(row) for row in rows]


async def get_subscription(session: AsyncSession, subscription_id: int) -> SubscriptionView:
    return view_of(await _row(session, subscription_id))


async def update_subscription(
    session: AsyncSession, *, tenant_id: int, actor: Actor, subscription_id: int,
    change: SubscriptionChange, allow_private: bool, now: datetime,
) -> SubscriptionView:  # fmt: skip
    """The subscription changed; enabling one that was disabled for failing clears why, and
    its pending deliveries go out again. Nothing changed: not audited."""
    row = await _row(session, subscription_id, lock=True)
    changed: dict[str, object] = {}
    if change.url is not None and change.url != row.url:
        row.url = changed["url"] = _checked_url(change.url, allow_private)
    if change.event_types is not None:
        types = list(check_event_types(change.event_types))
        if types != list(row.event_types):
            row.event_types = changed["event_types"] = types
    if change.description is not None and change.description != row.description:
        row.description = changed["description"] = change.description
    if change.enabled is not None and change.enabled != row.enabled:
        row.enabled = changed["enabled"] = change.enabled
        if change.enabled:
            row.disabled_reason = row.disabled_at = row.failing_since = None
        else:
            row.disabled_reason, row.disabled_at = "disabled by an admin", now
    if changed:
        row.updated_at = now
        _audit(session, tenant_id, actor, "webhook_subscription.update", row, now, changed)
    return view_of(row)


async def delete_subscription(
    session: AsyncSession, *, tenant_id: int, actor: Actor, subscription_id: int, now: datetime
) -> None:
    """Gone, with its deliveries and their log (the events stay, readable by cursor)."""
    row = await _row(session, subscription_id, lock=True)
    _audit(session, tenant_id, actor, "webhook_subscription.delete", row, now, {"url": row.url})
    await session.delete(row)


async def rotate_secret(
    session: AsyncSession, *, tenant_id: int, actor: Actor, subscription_id: int, now: datetime
) -> tuple[SubscriptionView, str]:
    """A new secret, used from the next attempt on; the old one stops at once."""
    row = await _row(session, subscription_id, lock=True)
    secret = row.secret = new_secret()
    row.updated_at = now
    _audit(session, tenant_id, actor, "webhook_subscription.rotate_secret", row, now, {})
    return view_of(row), secret


def view_of(row: WebhookSubscription) -> SubscriptionView:
    return SubscriptionView(row.id, row.url, row.description, tuple(row.event_types),
                            row.enabled, row.disabled_reason, row.disabled_at,
                            row.failing_since, row.created_by, row.created_at,
                            row.updated_at)  # fmt: skip


async def _row(session: AsyncSession, subscription_id: int, *, lock: bool = False
               ) -> WebhookSubscription:  # fmt: skip
    query = select(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
    if lock:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        raise NotFound("webhook subscription")
    return row


def _checked_url(url: str, allow_private: bool) -> str:
    try:
        return check_url(url, allow_private=allow_private)
    except BadUrl as exc:
        raise BadReference("url", str(exc)) from None


def _audit(session: AsyncSession, tenant_id: int, actor: Actor, action: str,
           row: WebhookSubscription, now: datetime,
           details: dict[str, object]) -> None:  # fmt: skip
    record(session, tenant_id=tenant_id, actor=actor, action=action,
           target=Target("webhook_subscription", row.id), details=details, at=now)  # fmt: skip
