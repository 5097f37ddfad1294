"""Provider webhooks: `POST /api/v1/webhooks/{provider}`, open (no session) but signed.

The configured provider's adapter verifies the signature by that provider's scheme (400
otherwise) and normalises the events, reading every field for its type and size (a signed
event with a malformed field is 400 too, naming the field); the body is read whole, up to
`MAX_BODY` (413 beyond); `billing_bridge.payments.webhooks` applies them once
each, in order of occurrence. Desks hear of payments taken in their calls at once.
Stripe's `customer.*` and `invoice.*` events (a business's billing in Stripe Billing) are
applied by `billing_bridge.stripe_billing.events` instead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pydantic import BaseModel

from billing_bridge.payments.port import WebhookMalformed, WebhookRejected
from billing_bridge.payments.reviews import (
    ReviewClosed,
    ReviewNotFound,
    decide_review,
    open_reviews,
)
from billing_bridge.payments.webhooks import Applied, apply_events
from billing_bridge.stripe_billing.events import BillingEvent, apply_billing_event, billing_event
from pbx.auth.roles import Role
from pbx.events.codec import DeskCodecError
from pbx.events.hub import Hub
from pbx.events.model import Audience, DeskEvent
from pbx.http import account_updates
from pbx.http.api import Api, ApiCall, ApiError, not_found, read_body
from pbx.http.context import ApiContext, context

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000  # providers send a few kilobytes; anything near this is not theirs


class WebhookOut(BaseModel):
    received: int
    # event id -> applied, unchanged, held, duplicate, stale, unknown_type, not_found
    outcomes: dict[str, str]


class HeldEventOut(BaseModel):
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


class HeldEventsOut(BaseModel):
    reviews: list[HeldEventOut]


class ReviewDecidedOut(BaseModel):
    review_id: int
    decision: str
    payment_status: str
    balance_minor: int | None


def register(api: Api) -> None:
    _register_webhook(api)
    _register_reviews(api)


def _register_webhook(api: Api) -> None:
    @api.operation("POST", "/webhooks/{provider}", summary="A payment provider's events "
                   "(signature verified; replays and duplicates ignored; unknown types "
                   "acknowledged)", response=WebhookOut, tag="payments", public=True,
                   errors=(400, 413))  # fmt: skip
    async def provider_webhook(call: ApiCall) -> WebhookOut:
        ctx = context(call.request)
        provider = ctx.payments
        if provider is None or provider.name != call.path("provider"):
            raise not_found("webhook endpoint")
        body = await read_body(call.request, MAX_BODY, "webhook body")
        try:
            events = provider.parse_webhook(body, dict(call.request.headers))
            billing = billing_event(body) if provider.name == "stripe" else None
            if billing is not None:  # a Stripe Billing customer or invoice: signed above
                return await _stripe_billing(ctx, billing)
        except WebhookMalformed as exc:
            # Signed, so the provider's: a 4xx shows in its dashboard and its retries are
            # bounded (Stripe: three days; GoCardless: a few days), and nothing was applied.
            raise ApiError(400, "invalid", f"signed, but {exc}") from None
        except WebhookRejected:
            raise ApiError(400, "invalid", "signature did not verify") from None
        applied = await apply_events(ctx.database, provider.name, events, now=datetime.now(UTC))
        for change in applied:
            await _announce(ctx.hub, change)
        return WebhookOut(received=len(events),
                          outcomes={a.event_id: a.outcome for a in applied})  # fmt: skip


async def _stripe_billing(ctx: ApiContext, event: BillingEvent) -> WebhookOut:
    applied = await apply_billing_event(ctx.database, event, now=datetime.now(UTC))
    if applied.tenant_id is not None and (applied.numbers or applied.customer_ids):
        # Committed: whatever fails here is logged, and Stripe is not asked to retry.
        await account_updates.announce(ctx, applied.tenant_id, applied.customer_ids,
                                       applied.numbers)  # fmt: skip
    return WebhookOut(received=1, outcomes={event.event_id: applied.outcome})


def _register_reviews(api: Api) -> None:
    @api.operation("GET", "/payments/reviews", summary="Provider events held for review (a "
                   "move the payment table does not allow on an event alone, e.g. succeeded "
                   "to failed), oldest first", response=HeldEventsOut, role=Role.SUPERVISOR,
                   tag="payments")  # fmt: skip
    async def list_held_payment_events(call: ApiCall) -> HeldEventsOut:
        held = await open_reviews(context(call.request).database, call.principal.tenant_id)
        return HeldEventsOut(reviews=[HeldEventOut.model_validate(h, from_attributes=True)
                                      for h in held])  # fmt: skip

    async def _decide(call: ApiCall, apply: bool) -> ReviewDecidedOut:
        principal = call.principal
        try:
            decided = await decide_review(
                context(call.request).database, principal.tenant_id,
                call.path_int("review_id"), apply=apply, actor_id=principal.user_id,
                actor_label=principal.label, now=datetime.now(UTC),
            )  # fmt: skip
        except ReviewNotFound:
            raise not_found("review") from None
        except ReviewClosed as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        return ReviewDecidedOut.model_validate(decided, from_attributes=True)

    @api.operation("POST", "/payments/reviews/{review_id}/apply", summary="Apply a held "
                   "event: the payment moves and the balance with it (audited)",
                   response=ReviewDecidedOut, role=Role.SUPERVISOR, tag="payments")  # fmt: skip
    async def apply_held_payment_event(call: ApiCall) -> ReviewDecidedOut:
        return await _decide(call, apply=True)

    @api.operation("POST", "/payments/reviews/{review_id}/dismiss", summary="Dismiss a held "
                   "event: nothing changes (audited)", response=ReviewDecidedOut,
                   role=Role.SUPERVISOR, tag="payments")  # fmt: skip
    async def dismiss_held_payment_event(call: ApiCall) -> ReviewDecidedOut:
        return await _decide(call, apply=False)


async def _announce(hub: Hub | None, change: Applied) -> None:
    """The desks hear of an applied change. The change is committed already: an
    announcement the event codec refuses is one logged line, never the provider's 500
    (which would make it send again what was applied)."""
    kind = change.desk_kind
    if hub is None or kind is None or not change.data:
        return
    assert change.tenant_id is not None
    agents = (change.agent_id,) if change.agent_id else ()
    try:
        event = DeskEvent(kind, change.tenant_id, Audience(agents, supervisors=True), change.data)
    except DeskCodecError as exc:
        log.error("desk event %s for provider event %s not announced: %s", kind,
                  change.event_id, exc)  # fmt: skip
        return
    await hub.publish(event)
