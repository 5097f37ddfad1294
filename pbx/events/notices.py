"""Notices for a business's admins on their desks, from what Ledgerline's background workers
did: the composition root hands these to the workers as their callbacks."""

from __future__ import annotations

from collections.abc import Sequence

from billing_bridge.webhooks_out.store import Disabled
from pbx.events.hub import Hub
from pbx.events.model import Audience, DeskEvent
from pbx.events.payloads import WebhookDisabled


def webhooks_disabled(disabled: Sequence[Disabled]) -> list[DeskEvent]:
    """`webhook.disabled` for each subscription, to its business's active admins (none to
    tell: no event)."""
    return [
        DeskEvent.of(off.tenant_id, Audience(agents=off.admin_ids), WebhookDisabled(
            subscription_id=off.subscription_id, url=off.url, reason=off.reason,
            failing_since=off.failing_since.isoformat(), disabled_at=off.disabled_at.isoformat(),
        ))
        for off in disabled
        if off.admin_ids
    ]  # fmt: skip


class AdminNotices:
    """Publishes the admins' notices through the desk hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def webhooks_disabled(self, disabled: Sequence[Disabled]) -> None:
        events = webhooks_disabled(disabled)
        if events:
            await self.hub.publish_all(events)
