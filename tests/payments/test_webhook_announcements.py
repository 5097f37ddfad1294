"""Which desk event a provider's event announces, once applied."""

from __future__ import annotations

import pytest

from billing_bridge.payments.webhooks import Applied
from pbx.events.model import DeskEvent
from pbx.http.webhooks_api import _announce


@pytest.mark.parametrize(("outcome", "data", "kind"), [
    ("applied", {"payment_id": 7, "status": "succeeded"}, "payment.status"),
    ("applied", {"mandate_id": 3, "status": "active"}, "mandate.status"),
    ("held", {"payment_id": 7, "review_id": 1}, "payment.held"),
    ("applied", None, None),  # nothing the desks show
    ("duplicate", {"payment_id": 7}, None),
    ("unchanged", {"payment_id": 7}, None),
])  # fmt: skip
def test_a_moved_payment_or_mandate_is_announced_and_a_held_one_waits_for_review(
    outcome: str, data: dict | None, kind: str | None
) -> None:
    assert Applied("evt_1", outcome, tenant_id=1, data=data).desk_kind == kind


class RecordingHub:
    def __init__(self) -> None:
        self.published: list[DeskEvent] = []

    async def publish(self, event: DeskEvent) -> None:
        self.published.append(event)


async def test_an_applied_payment_is_announced_to_its_agent_and_the_supervisors() -> None:
    hub = RecordingHub()
    data = {"payment_id": 7, "status": "succeeded", "method": "card", "amount_minor": 1500,
            "currency": "ILS", "account_id": 3, "balance_minor": 0, "call_record_id": 9}
    await _announce(hub, Applied("evt_1", "applied", tenant_id=1, agent_id=4, data=data))  # type: ignore[arg-type]
    [event] = hub.published
    assert (event.type, event.tenant_id, event.audience.agents) == ("payment.status", 1, (4,))
    assert event.data == data


async def test_an_announcement_the_codec_refuses_is_one_logged_line_not_a_failed_webhook(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = RecordingHub()
    broken = {"payment_id": "7", "status": "succeeded"}  # a string id and fields missing
    await _announce(hub, Applied("evt_2", "applied", tenant_id=1, data=broken))  # type: ignore[arg-type]
    assert hub.published == []
    [line] = [r for r in caplog.records if "not announced" in r.getMessage()]
    assert "evt_2" in line.getMessage() and line.exc_info is None
