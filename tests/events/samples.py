"""One payload of every desk event kind, as the publishers build them, and the JSON object
the desk has always received for each (written out by hand: the codec must give exactly
this)."""

from __future__ import annotations

from typing import Any

from pbx.events import payloads as p
from pbx.events.model import Audience, DeskEvent

CALL = {
    "call_id": "1733490000.17", "record_id": 41, "direction": "inbound",
    "caller_number": "+972502345678", "did": "+97235550100", "match": "unique",
    "customer_id": 9, "priority": 0, "verified": "pin", "queue": "support",
    "waited_seconds": 12, "agent_id": 7, "outcome": None,
}  # fmt: skip
PANEL = {
    "customer": {"id": 9, "name": "שרה כהן", "ref": "C-1"},
    "accounts": [{"id": 3, "ref": "A-1", "balance_minor": 45_050, "currency": "ILS"}],
}

# kind -> (payload, the JSON object the desk receives)
BOARD_TILE = {
    "queue_id": 3, "name": "גבייה", "at": "2026-12-07T09:30:00+02:00", "waiting": 2,
    "longest_wait_seconds": 41, "agents": {"available": 1, "paused": 2}, "offered": 30,
    "answered": 27, "abandoned": 3, "service_level_pct": 74, "collected": {"ILS": 125_000},
    "wait_amber_seconds": 20, "wait_red_seconds": 60, "service_level_amber_pct": 80,
    "service_level_red_pct": 60, "status": "amber",
}  # fmt: skip
SAMPLES: dict[str, tuple[p.DeskPayload, dict[str, Any]]] = {
    "call.offered": (p.CallOffered(**CALL, panel=PANEL), CALL | {"panel": PANEL}),
    "call.connected": (p.CallConnected(**CALL), CALL),
    "call.queued": (p.CallQueued(**CALL), CALL),
    "call.ended": (p.CallEnded(**CALL | {"outcome": "answered"}), CALL | {"outcome": "answered"}),
    "agent.state": (
        p.AgentState(tenant_id=1, agent_id=7, state="paused", pause_reason="lunch",
                     since="2026-12-06T12:00:00+00:00", call_id=None),
        {"tenant_id": 1, "agent_id": 7, "state": "paused", "pause_reason": "lunch",
         "since": "2026-12-06T12:00:00+00:00", "call_id": None},
    ),
    "payment.progress": (
        p.PaymentProgress(call_id="c-1", record_id=41, step="charging", progress="charging…"),
        {"call_id": "c-1", "record_id": 41, "step": "charging", "progress": "charging…"},
    ),
    "mandate.progress": (
        p.MandateProgress(call_id="c-1", record_id=41, step="field", progress="valid"),
        {"call_id": "c-1", "record_id": 41, "step": "field", "progress": "valid"},
    ),
    "payment.result": (
        p.PaymentResult(call_id="c-1", record_id=41, status="succeeded", payment_id=5,
                        failure=None, card_last4="4242", balance_minor=0, amount_minor=45_050,
                        currency="ILS", account_id=3),
        {"call_id": "c-1", "record_id": 41, "status": "succeeded", "payment_id": 5,
         "failure": None, "card_last4": "4242", "balance_minor": 0, "amount_minor": 45_050,
         "currency": "ILS", "account_id": 3},
    ),
    "mandate.result": (
        p.MandateResult(call_id="c-1", record_id=41, status="pending_submission",
                        mandate_id=8, scheme="bacs", confirmation="DD-8", account_id=3),
        {"call_id": "c-1", "record_id": 41, "status": "pending_submission", "mandate_id": 8,
         "scheme": "bacs", "confirmation": "DD-8", "account_id": 3},
    ),
    "payment.status": (
        p.PaymentStatusChanged(payment_id=5, status="succeeded", method="card",
                               amount_minor=100, currency="EUR", account_id=3,
                               balance_minor=900, call_record_id=None),
        {"payment_id": 5, "status": "succeeded", "method": "card", "amount_minor": 100,
         "currency": "EUR", "account_id": 3, "balance_minor": 900, "call_record_id": None},
    ),
    "payment.held": (
        p.PaymentHeld(payment_id=5, status="succeeded", held_status="failed", amount_minor=100,
                      currency="EUR", account_id=3, reason="succeeded to failed"),
        {"payment_id": 5, "status": "succeeded", "held_status": "failed", "amount_minor": 100,
         "currency": "EUR", "account_id": 3, "reason": "succeeded to failed"},
    ),
    "mandate.status": (
        p.MandateStatusChanged(mandate_id=8, status="active", scheme="sepa_core", account_id=3),
        {"mandate_id": 8, "status": "active", "scheme": "sepa_core", "account_id": 3},
    ),
    "recording.stored": (
        p.RecordingStored(recording_id=12, call_id=41, agent_id=7, duration_ms=61_000,
                          format="opus"),
        {"recording_id": 12, "call_id": 41, "agent_id": 7, "duration_ms": 61_000,
         "format": "opus"},
    ),
    "account.updated": (
        p.AccountUpdated(call_id="c-1", record_id=41, customer_id=9, panel=PANEL),
        {"call_id": "c-1", "record_id": 41, "customer_id": 9, "panel": PANEL},
    ),
    "webhook.disabled": (
        p.WebhookDisabled(subscription_id=4, url="https://billing.example/hooks",
                          reason="every delivery failed for 3 days",
                          failing_since="2026-12-03T09:00:00+00:00",
                          disabled_at="2026-12-06T09:00:05+00:00"),
        {"subscription_id": 4, "url": "https://billing.example/hooks",
         "reason": "every delivery failed for 3 days",
         "failing_since": "2026-12-03T09:00:00+00:00",
         "disabled_at": "2026-12-06T09:00:05+00:00"},
    ),
    "board.tile": (p.BoardTile(**BOARD_TILE), BOARD_TILE),
    "board.total": (
        p.BoardTotal(at="2026-12-07T09:30:00+02:00", service_level_seconds=20,
                     collected={"ILS": 125_000, "EUR": 3_000}),
        {"at": "2026-12-07T09:30:00+02:00", "service_level_seconds": 20,
         "collected": {"ILS": 125_000, "EUR": 3_000}},
    ),
}  # fmt: skip


def sample(kind: str, tenant_id: int, audience: Audience) -> DeskEvent:
    """An event of `kind` with its sample payload."""
    return DeskEvent.of(tenant_id, audience, SAMPLES[kind][0])
