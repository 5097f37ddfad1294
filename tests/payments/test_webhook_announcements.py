"""Which desk event a provider's event announces, once applied."""

from __future__ import annotations

import pytest

from billing_bridge.payments.webhooks import Applied


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
