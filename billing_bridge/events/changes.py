"""One call per kind of change, made where the change happens, in its transaction: which
event a payment's, mandate's, credit's or call's new state is (if any), with its object
(a call: call.ended at its end, call.updated for what changes after it).

A change that leaves a row as it was emits nothing: callers call these only when they
moved something (a replayed webhook, a retried payment or a second decision does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.events import objects
from billing_bridge.events.outbox import Staged, emit, stage
from pbx.db.models import Call, Credit, Mandate, Payment, Recording

# A payment's status -> the event it is (pending is none: nothing has happened yet).
PAYMENT_EVENTS = {
    "succeeded": "payment.succeeded", "failed": "payment.failed", "cancelled": "payment.failed",
    "partially_refunded": "payment.refunded", "refunded": "payment.refunded",
    "charged_back": "payment.charged_back",
}  # fmt: skip
# A mandate's status -> the event it is (pending and submitted: only mandate.created).
MANDATE_EVENTS = {
    "active": "mandate.active", "failed": "mandate.failed", "cancelled": "mandate.cancelled",
    "expired": "mandate.cancelled",
}  # fmt: skip


async def payment_moved(
    session: AsyncSession, payment: Payment, *, entry_id: int | None = None
) -> str | None:
    """The event of the payment's status now (succeeded, failed, refunded, charged back);
    `entry_id`: the balance entry the move wrote. None: its status is not an event."""
    type = PAYMENT_EVENTS.get(payment.status)
    if type is None:
        return None
    obj = objects.as_dict(await objects.payment_object(session, payment))
    return emit(session, payment.tenant_id, type, obj, account_id=payment.account_id,
                entry_id=entry_id)  # fmt: skip


async def mandate_created(session: AsyncSession, mandate: Mandate) -> None:
    """mandate.created, and at once the event of its status if it was born settled (a
    mandate taken by phone the provider answers active)."""
    obj = objects.as_dict(await objects.mandate_object(session, mandate))
    emit(session, mandate.tenant_id, "mandate.created", obj, account_id=mandate.account_id)
    if mandate.status in MANDATE_EVENTS:
        emit(session, mandate.tenant_id, MANDATE_EVENTS[mandate.status], obj,
             account_id=mandate.account_id)  # fmt: skip


async def mandate_moved(session: AsyncSession, mandate: Mandate) -> str | None:
    type = MANDATE_EVENTS.get(mandate.status)
    if type is None:
        return None
    obj = objects.as_dict(await objects.mandate_object(session, mandate))
    return emit(session, mandate.tenant_id, type, obj, account_id=mandate.account_id)


async def credit_decided(
    session: AsyncSession, credit: Credit, type: str, *, entry_id: int | None = None
) -> str:
    """credit.granted (at once), credit.approved or credit.rejected."""
    obj = objects.as_dict(await objects.credit_object(session, credit))
    return emit(session, credit.tenant_id, type, obj, account_id=credit.account_id,
                entry_id=entry_id)  # fmt: skip


async def call_ended(session: AsyncSession, call: Call) -> str:
    obj = objects.as_dict(await objects.call_object(session, call))
    return emit(session, call.tenant_id, "call.ended", obj)


def call_ended_named(call: Any, names: Sequence[Any]) -> Staged:
    """call.ended for a call read with its names in the statement that closed it (the call's
    end on PostgreSQL, `objects.CALL_NAMES`), for `outbox.write_direct`."""
    obj = objects.as_dict(objects.named_call_object(call, names))
    return stage(call.tenant_id, "call.ended", obj)


async def call_updated(session: AsyncSession, call: Call) -> str | None:
    """call.updated: the ended call's disposition, notes or recording changed (the caller
    changed something; before the end, call.ended carries it). None: it has not ended. The
    caller holds the call's row lock, as the end does (`pbx.callflow.call_log`), so a change
    racing the end is in one of the two events."""
    if call.ended_at is None:
        return None
    obj = objects.as_dict(await objects.call_object(session, call))
    return emit(session, call.tenant_id, "call.updated", obj)


async def call_recording_stored(session: AsyncSession, recording_id: int) -> str | None:
    """call.updated for the call whose recording was just stored, if that call has ended."""
    call_id = await session.scalar(select(Recording.call_id).where(Recording.id == recording_id))
    if call_id is None:
        return None
    call = await session.scalar(
        select(Call).where(Call.id == call_id).with_for_update()
        .execution_options(populate_existing=True)
    )  # fmt: skip
    return await call_updated(session, call) if call is not None else None
