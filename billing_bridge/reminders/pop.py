"""The caller's reminders as the screen-pop shows them (`billing_bridge.screen_pop` reads the
rows in its one statement; this shapes them, pure): the newest reminders sent, listed for
the worklist or stopped (channel, step, when, and how the outbox delivered the message), and
whether reminders are paused now and why, in the order a person would give it: the customer
opted out, an account is disputed (its collections hold), a promise is open, a plan is in
good standing (`store.why_stop` reads the same conditions when a reminder is to go)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def reminders_on_pop(parts: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """`parts`: the panel's rows by part (customer, account, promise, plan, instalment,
    reminder, reminder_message)."""
    delivered = {m.id: (m.status, m.at) for m in parts.get("reminder_message", ())}
    recent = []
    for r in parts.get("reminder", ()):
        delivery, sent_at = delivered.get(r.id, (None, None))
        recent.append({
            "id": r.id, "account_id": r.ref_id, "channel": r.label, "step_day": r.figure,
            "status": r.status, "stop_reason": r.ref, "at": _iso(r.at),
            "delivery": delivery, "delivered_at": _iso(sent_at),
        })  # fmt: skip
    return {"recent": recent, "paused": _paused(parts)}


def _paused(parts: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    paused: list[dict[str, Any]] = []
    for customer in parts.get("customer", ()):
        if customer.at is not None:
            paused.append({"reason": "opted_out", "since": _iso(customer.at)})
    for account in parts.get("account", ()):
        if account.text is not None:
            paused.append({"reason": "dispute", "account_id": account.id,
                           "detail": account.text})  # fmt: skip
    for promise in parts.get("promise", ()):
        if promise.status == "open":
            paused.append({"reason": "promise", "account_id": promise.ref_id,
                           "until": promise.day.isoformat()})  # fmt: skip
    broken = {i.ref_id for i in parts.get("instalment", ()) if i.status == "broken"}
    for plan in parts.get("plan", ()):
        if plan.status == "active" and plan.id not in broken:
            paused.append({"reason": "plan", "account_id": plan.ref_id})
    return paused
