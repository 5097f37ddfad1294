"""Provider webhooks: `POST /api/v1/webhooks/{provider}`, open (no session) but signed.

The configured provider's adapter verifies the signature by that provider's scheme (400
otherwise) and normalises the events; `billing_bridge.payments.webhooks` applies them once
each, in order of occurrence. Desks hear of payments taken in their calls at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from billing_bridge.payments.port import WebhookRejected
from billing_bridge.payments.webhooks import apply_events
from pbx.events.model import Audience, DeskEvent
from pbx.http.api import Api, ApiCall, ApiError, not_found
from pbx.http.context import context

MAX_BODY = 1_000_000  # providers send a few kilobytes; anything near this is not theirs


class WebhookOut(BaseModel):
    received: int
    outcomes: dict[str, str]  # event id -> applied, duplicate, stale, unknown_type, not_found


def register(api: Api) -> None:
    @api.operation("POST", "/webhooks/{provider}", summary="A payment provider's events "
                   "(signature verified; replays and duplicates ignored; unknown types "
                   "acknowledged)", response=WebhookOut, tag="payments", public=True,
                   errors=(400,))  # fmt: skip
    async def provider_webhook(call: ApiCall) -> WebhookOut:
        ctx = context(call.request)
        provider = ctx.payments
        if provider is None or provider.name != call.path("provider"):
            raise not_found("webhook endpoint")
        body = await call.request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise ApiError(400, "invalid", "webhook body too large")
        try:
            events = provider.parse_webhook(body, dict(call.request.headers))
        except WebhookRejected:
            raise ApiError(400, "invalid", "signature did not verify") from None
        applied = await apply_events(ctx.database, provider.name, events, now=datetime.now(UTC))
        for change in applied:
            if ctx.hub is not None and change.outcome == "applied" and change.data is not None:
                assert change.tenant_id is not None
                agents = (change.agent_id,) if change.agent_id else ()
                kind = "mandate.status" if "mandate_id" in change.data else "payment.status"
                await ctx.hub.publish(
                    DeskEvent(
                        kind, change.tenant_id, Audience(agents, supervisors=True), change.data
                    )
                )
        return WebhookOut(received=len(events),
                          outcomes={a.event_id: a.outcome for a in applied})  # fmt: skip
