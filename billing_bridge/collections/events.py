"""The objects promise and plan events carry, and their emission in the change's own
transaction (`billing_bridge.events.outbox.emit`): ids with the billing system's references
beside them, money in integer minor units with its currency, dates ISO, times UTC."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.events.objects import iso, refs
from billing_bridge.events.outbox import emit
from pbx.db.models import PaymentPlan, PlanInstalment, Promise


async def promise_object(session: AsyncSession, promise: Promise) -> dict[str, Any]:
    owner = await refs(session, promise.account_id)
    return {
        "object": "promise", "id": promise.id, "account_id": promise.account_id,
        "account_ref": owner.account_ref, "customer_id": owner.customer_id,
        "customer_ref": owner.customer_ref, "amount_minor": promise.amount_minor,
        "currency": promise.currency, "due_on": promise.due_on.isoformat(),
        "method": promise.method, "status": promise.status,
        "paid_minor": promise.paid_minor, "late_paid_minor": promise.late_paid_minor,
        "call_id": promise.call_id, "created_by": promise.created_by_id,
        "created_at": iso(promise.created_at), "decided_at": iso(promise.decided_at),
        "cancel_reason": promise.cancel_reason,
    }  # fmt: skip


def instalment_object(instalment: PlanInstalment) -> dict[str, Any]:
    return {
        "id": instalment.id, "number": instalment.number,
        "due_on": instalment.due_on.isoformat(), "amount_minor": instalment.amount_minor,
        "paid_minor": instalment.paid_minor, "status": instalment.status,
        "decided_at": iso(instalment.decided_at),
    }  # fmt: skip


async def plan_object(
    session: AsyncSession, plan: PaymentPlan, instalments: Sequence[PlanInstalment]
) -> dict[str, Any]:
    owner = await refs(session, plan.account_id)
    return {
        "object": "plan", "id": plan.id, "account_id": plan.account_id,
        "account_ref": owner.account_ref, "customer_id": owner.customer_id,
        "customer_ref": owner.customer_ref, "total_minor": plan.total_minor,
        "currency": plan.currency, "paid_minor": plan.paid_minor,
        "instalment_count": plan.instalment_count, "frequency": plan.frequency,
        "method": plan.method, "mandate_id": plan.mandate_id, "status": plan.status,
        "consent": {"by": plan.consent_by_id, "at": iso(plan.consent_at),
                    "call_id": plan.consent_call_id,
                    "recording_id": plan.consent_recording_id},
        "created_at": iso(plan.created_at), "decided_at": iso(plan.decided_at),
        "cancel_reason": plan.cancel_reason,
        "instalments": [instalment_object(i) for i in sorted(instalments,
                                                             key=lambda i: i.number)],
    }  # fmt: skip


async def promise_event(session: AsyncSession, promise: Promise, type: str) -> str:
    """promise.created, .kept, .broken or .cancelled."""
    obj = await promise_object(session, promise)
    return emit(session, promise.tenant_id, type, obj, account_id=promise.account_id)


async def plan_event(
    session: AsyncSession, plan: PaymentPlan, instalments: Sequence[PlanInstalment], type: str,
    instalment: PlanInstalment | None = None,
) -> str:  # fmt: skip
    """plan.created, .completed or .cancelled; plan.instalment_paid or .instalment_failed
    with the instalment it is about as `instalment` beside the plan."""
    obj = await plan_object(session, plan, instalments)
    if instalment is not None:
        obj["instalment"] = instalment_object(instalment)
    return emit(session, plan.tenant_id, type, obj, account_id=plan.account_id)
