"""A business's webhook subscriptions and their delivery log (`/api/v1/webhooks/subscriptions`),
for its admins only (a signed-in admin's session; API keys are refused: a machine client
must not be able to point the business's events elsewhere). Handlers parse, call
`billing_bridge.webhooks_out` and map its refusals through `api.refusals`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.events import EVENT_TYPES
from billing_bridge.webhooks_out import log as delivery_log
from billing_bridge.webhooks_out import subscriptions as subs
from billing_bridge.webhooks_out.urls import MAX_URL_LENGTH
from pbx.auth.roles import Role
from pbx.http.api import Api, ApiCall, ApiError, QueryParam, parse_query_int, parse_query_time
from pbx.http.api import refusals as refused
from pbx.http.context import context
from pbx.http.schemas import line_text

EventType = Literal[(*EVENT_TYPES, "*")]  # type: ignore[valid-type]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES) + 1)]
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]
TAG = "webhooks"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriptionIn(_In):
    url: Url
    event_types: EventTypes
    description: line_text(200) = ""  # type: ignore[valid-type]


class SubscriptionPatch(_In):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: line_text(200) | None = None  # type: ignore[valid-type]
    enabled: bool | None = None


class RedeliverSinceIn(_In):
    since: Annotated[str, Field(min_length=1, max_length=64, description="ISO 8601 with offset")]


class SubscriptionOut(BaseModel):
    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class SubscriptionWithSecret(SubscriptionOut):
    secret: str = Field(description="the signing secret: shown in this answer only")


class SubscriptionList(BaseModel):
    items: list[SubscriptionOut]


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: str
    attempts: int = Field(description="attempts in its current round (a redelivery starts one)")
    response_code: int | None
    latency_ms: int | None
    error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPageOut(BaseModel):
    items: list[DeliveryOut]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page")


class AttemptOut(BaseModel):
    id: int
    attempted_at: datetime
    response_code: int | None
    latency_ms: int
    error: str | None
    manual: bool


class DeliveryDetailOut(DeliveryOut):
    attempt_log: list[AttemptOut]


class RedeliveredOut(BaseModel):
    queued: int


_DELIVERY_QUERY = (
    QueryParam("status", {"type": "string", "enum": list(delivery_log.STATUSES)}),
    QueryParam("cursor", {"type": "integer", "minimum": 1}, "the page's last id, from next_cursor"),
    QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "at most 100; 50"),
)


def register(api: Api) -> None:
    _register_subscriptions(api)
    _register_deliveries(api)


def _register_subscriptions(api: Api) -> None:
    @api.operation("POST", "/webhooks/subscriptions", summary="Subscribe a receiver to the "
                   "business's events; the signing secret is in this answer only",
                   role=Role.ADMIN, body=SubscriptionIn, response=SubscriptionWithSecret,
                   status=201, tag=TAG)  # fmt: skip
    async def create_webhook_subscription(call: ApiCall) -> SubscriptionWithSecret:
        body: SubscriptionIn = call.body
        new = subs.NewSubscription(body.url, tuple(body.event_types), body.description)
        tenant = call.principal.tenant_id
        async with _session(call, write=True) as session:
            view, secret = await subs.create_subscription(
                session, tenant_id=tenant, actor=call.principal, new=new,
                allow_private=_allow_private(call), now=_now())  # fmt: skip
        return SubscriptionWithSecret(**_subscription(view), secret=secret)

    @api.operation("GET", "/webhooks/subscriptions", summary="List the business's webhook "
                   "subscriptions (never their secrets)", role=Role.ADMIN,
                   response=SubscriptionList, tag=TAG)  # fmt: skip
    async def list_webhook_subscriptions(call: ApiCall) -> SubscriptionList:
        async with _session(call) as session:
            views = await subs.list_subscriptions(session)
        return SubscriptionList(items=[SubscriptionOut(**_subscription(v)) for v in views])

    @api.operation("GET", "/webhooks/subscriptions/{subscription_id}", summary="Read a "
                   "webhook subscription", role=Role.ADMIN, response=SubscriptionOut,
                   tag=TAG)  # fmt: skip
    async def get_webhook_subscription(call: ApiCall) -> SubscriptionOut:
        subscription_id = call.path_int("subscription_id")
        async with _session(call) as session:
            view = await subs.get_subscription(session, subscription_id)
        return SubscriptionOut(**_subscription(view))

    @api.operation("PATCH", "/webhooks/subscriptions/{subscription_id}", summary="Change a "
                   "webhook subscription's URL, event types or description, or enable or "
                   "disable it", role=Role.ADMIN, body=SubscriptionPatch,
                   response=SubscriptionOut, tag=TAG)  # fmt: skip
    async def update_webhook_subscription(call: ApiCall) -> SubscriptionOut:
        body: SubscriptionPatch = call.body
        subscription_id = call.path_int("subscription_id")
        types = tuple(body.event_types) if body.event_types is not None else None
        change = subs.SubscriptionChange(body.url, types, body.description, body.enabled)
        async with _session(call, write=True) as session:
            view = await subs.update_subscription(
                session, tenant_id=call.principal.tenant_id, actor=call.principal,
                subscription_id=subscription_id, change=change,
                allow_private=_allow_private(call), now=_now())  # fmt: skip
        return SubscriptionOut(**_subscription(view))

    @api.operation("DELETE", "/webhooks/subscriptions/{subscription_id}", summary="Delete a "
                   "webhook subscription and its delivery log", role=Role.ADMIN, status=204,
                   tag=TAG)  # fmt: skip
    async def delete_webhook_subscription(call: ApiCall) -> None:
        subscription_id = call.path_int("subscription_id")
        async with _session(call, write=True) as session:
            await subs.delete_subscription(session, tenant_id=call.principal.tenant_id,
                                           actor=call.principal,
                                           subscription_id=subscription_id, now=_now())  # fmt: skip

    @api.operation("POST", "/webhooks/subscriptions/{subscription_id}/rotate-secret",
                   summary="Give a webhook subscription a new signing secret (the old one "
                   "stops at once); the secret is in this answer only", role=Role.ADMIN,
                   response=SubscriptionWithSecret, tag=TAG)  # fmt: skip
    async def rotate_webhook_secret(call: ApiCall) -> SubscriptionWithSecret:
        subscription_id = call.path_int("subscription_id")
        async with _session(call, write=True) as session:
            view, secret = await subs.rotate_secret(
                session, tenant_id=call.principal.tenant_id, actor=call.principal,
                subscription_id=subscription_id, now=_now())  # fmt: skip
        return SubscriptionWithSecret(**_subscription(view), secret=secret)


def _register_deliveries(api: Api) -> None:
    base = "/webhooks/subscriptions/{subscription_id}"

    @api.operation("GET", base + "/deliveries", summary="A webhook subscription's delivery "
                   "log, newest first", role=Role.ADMIN, response=DeliveryPageOut,
                   query=_DELIVERY_QUERY, tag=TAG)  # fmt: skip
    async def list_webhook_deliveries(call: ApiCall) -> DeliveryPageOut:
        subscription_id = call.path_int("subscription_id")
        query = call.query
        cursor = parse_query_int(query["cursor"], "cursor") if "cursor" in query else None
        limit = parse_query_int(query["limit"], "limit") if "limit" in query else 50
        async with _session(call) as session:
            page = await delivery_log.list_deliveries(
                session, subscription_id, status=query.get("status"), cursor=cursor,
                limit=limit)  # fmt: skip
        return DeliveryPageOut(items=[DeliveryOut(**_delivery(v)) for v in page.items],
                               next_cursor=page.next_cursor)  # fmt: skip

    @api.operation("GET", base + "/deliveries/{delivery_id}", summary="A delivery with each "
                   "of its attempts", role=Role.ADMIN, response=DeliveryDetailOut,
                   tag=TAG)  # fmt: skip
    async def get_webhook_delivery(call: ApiCall) -> DeliveryDetailOut:
        subscription_id = call.path_int("subscription_id")
        delivery_id = call.path_int("delivery_id")
        async with _session(call) as session:
            view, attempts = await delivery_log.get_delivery(session, subscription_id,
                                                             delivery_id)  # fmt: skip
        return _detail(view, attempts)

    @api.operation("POST", base + "/deliveries/{delivery_id}/redeliver", summary="Send a "
                   "delivery again now (logged as manual); one that was given up is retried "
                   "again if this fails", role=Role.ADMIN, response=DeliveryDetailOut,
                   tag=TAG)  # fmt: skip
    async def redeliver_webhook(call: ApiCall) -> DeliveryDetailOut:
        subscription_id = call.path_int("subscription_id")
        delivery_id = call.path_int("delivery_id")
        worker = context(call.request).webhooks
        if worker is None:
            raise ApiError(503, "unavailable", "this process does not deliver webhooks")
        with refused():
            view, attempts = await worker.redeliver(
                tenant_id=call.principal.tenant_id, actor=call.principal,
                subscription_id=subscription_id, delivery_id=delivery_id)  # fmt: skip
        return _detail(view, attempts)

    @api.operation("POST", base + "/redeliver", summary="Queue again every delivered or given-"
                   "up delivery created since a moment", role=Role.ADMIN,
                   body=RedeliverSinceIn, response=RedeliveredOut, tag=TAG)  # fmt: skip
    async def redeliver_webhooks_since(call: ApiCall) -> RedeliveredOut:
        body: RedeliverSinceIn = call.body
        subscription_id = call.path_int("subscription_id")
        since = parse_query_time(body.since, "since")
        async with _session(call, write=True) as session:
            count = await delivery_log.redeliver_since(
                session, tenant_id=call.principal.tenant_id, actor=call.principal,
                subscription_id=subscription_id, since=since, now=_now())  # fmt: skip
        return RedeliveredOut(queued=count)


@asynccontextmanager
async def _session(call: ApiCall, *, write: bool = False) -> AsyncIterator[AsyncSession]:
    """The admin's business's session (in a transaction for a change), with the service's
    refusals as statuses."""
    database = context(call.request).database
    with refused():
        async with database.tenant_session(call.principal.tenant_id) as session:
            if not write:
                yield session
                return
            async with session.begin():
                yield session


def _allow_private(call: ApiCall) -> bool:
    worker = context(call.request).webhooks
    return worker is not None and worker.settings.allow_private


def _now() -> datetime:
    return datetime.now(UTC)


def _subscription(view: subs.SubscriptionView) -> dict[str, Any]:
    return {"id": view.id, "url": view.url, "description": view.description,
            "event_types": list(view.event_types), "enabled": view.enabled,
            "disabled_reason": view.disabled_reason, "disabled_at": view.disabled_at,
            "failing_since": view.failing_since, "created_by": view.created_by,
            "created_at": view.created_at, "updated_at": view.updated_at}  # fmt: skip


def _delivery(view: delivery_log.DeliveryView) -> dict[str, Any]:
    return {"id": view.id, "event_id": view.event_id, "event_type": view.event_type,
            "status": view.status, "attempts": view.attempts,
            "response_code": view.last_status_code, "latency_ms": view.last_latency_ms,
            "error": view.last_error, "next_attempt_at": view.next_attempt_at,
            "delivered_at": view.delivered_at, "created_at": view.created_at}  # fmt: skip


def _detail(view: delivery_log.DeliveryView,
            attempts: list[delivery_log.AttemptView]) -> DeliveryDetailOut:  # fmt: skip
    log = [AttemptOut(id=a.id, attempted_at=a.attempted_at, response_code=a.status_code,
                      latency_ms=a.latency_ms, error=a.error, manual=a.manual)
           for a in attempts]  # fmt: skip
    return DeliveryDetailOut(**_delivery(view), attempt_log=log)
