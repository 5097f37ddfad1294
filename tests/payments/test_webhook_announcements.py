"""Which desk event a provider's event announces, once applied."""

from __future__ import annotations

import pytest

from billing_bridge.payments.webhooks import Applied
from pbx.events.payloads import MandateStatusChanged, PaymentHeld, PaymentStatusChanged

MOVED = PaymentStatusChanged(payment_id=7, status="succeeded", method="card", amount_minor=100,
                             currency="EUR", account_id=3, balance_minor=0,
                             call_record_id=None)  # fmt: skip
MANDATE = MandateStatusChanged(mandate_id=3, status="active", scheme="sepa_core", account_id=3)
HELD = PaymentHeld(payment_id=7, status="succeeded", held_status="failed", amount_minor=100,
                   currency="EUR", account_id=3, reason="succeeded to failed")  # fmt: skip


@pytest.mark.parametrize(("outcome", "data", "kind"), [
    ("applied", MOVED, "payment.status"),
    ("applied", MANDATE, "mandate.status"),
    ("held", HELD, "payment.held"),
    ("applied", None, None),  # nothing the desks show
    ("duplicate", MOVED, None),
    ("unchanged", MOVED, None),
])  # fmt: skip
def test_a_moved_payment_or_mandate_is_announced_and_a_held_one_waits_for_review(
    outcome: str, data: PaymentStatusChanged | MandateStatusChanged | PaymentHeld | None,
    kind: str | None,
) -> None:  # fmt: skip
    assert Applied("evt_1", outcome, tenant_id=1, data=data).desk_kind == kind
