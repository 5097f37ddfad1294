"""The objects the billing events carry (`data.object`), as the billing system reads them:
Ledgerline's ids with the billing system's own references beside them, money in integer
minor units with its currency, times in ISO-8601 UTC. Of a card, only the brand and the last
four digits a provider's receipt gives (all Ledgerline keeps): never more.

Each builder reads what its object names (references, names) in the caller's session, so
the object is as the change's own transaction sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.db.models import (
    Account,
    Call,
    Credit,
    Customer,
    Invoice,
    Mandate,
    Payment,
    Queue,
    Recording,
    User,
)
from pbx.db.scoped import Scoped, ScopedValues


@dataclass(frozen=True, slots=True)
class Refs:
    """Whose it is: the account and customer, by id and by the billing system's reference."""

    account_id: int | None
    account_ref: str | None
    customer_id: int | None
    customer_ref: str | None


@dataclass(frozen=True, slots=True)
class Card:
    brand: str | None
    last4: str | None


@dataclass(frozen=True, slots=True)
class PaymentObject:
    id: int
    account_id: int
    account_ref: str | None
    customer_id: int | None
    customer_ref: str | None
    invoice_id: int | None
    invoice_ref: str | None
    amount_minor: int
    refunded_minor: int
    currency: str
    status: str  # succeeded, failed, cancelled, partially_refunded, refunded, charged_back
    method: str  # card, link, direct_debit
    provider: str
    provider_ref: str | None
    failure_reason: str | None
    card: Card | None
    call_id: int | None
    created_at: str
    status_at: str | None
    object: str = "payment"


@dataclass(frozen=True, slots=True)
class MandateObject:
    id: int
    account_id: int
    account_ref: str | None
    customer_id: int | None
    customer_ref: str | None
    scheme: str
    status: str
    provider: str
    provider_ref: str | None
    created_at: str
    status_at: str | None
    object: str = "mandate"


@dataclass(frozen=True, slots=True)
class CreditObject:
    id: int
    account_id: int
    account_ref: str | None
    customer_id: int | None
    customer_ref: str | None
    amount_minor: int
    currency: str
    reason_code: str
    status: str  # granted, rejected
    note: str | None
    call_id: int | None
    requested_by: int | None
    decided_by: int | None
    created_at: str
    decided_at: str | None
    object: str = "credit"


@dataclass(frozen=True, slots=True)
class CallObject:
    id: int
    direction: str
    caller_number: str | None
    dialed_number: str | None
    customer_id: int | None
    customer_ref: str | None
    queue_id: int | None
    queue: str | None
    agent_id: int | None
    agent: str | None
    outcome: str | None
    disposition: str | None
    notes: str | None
    recording_id: int | None
    recording_status: str | None  # recording, finishing, pending, stored, failed, purged
    arrived_at: str
    answered_at: str | None
    ended_at: str | None
    wait_seconds: int | None
    talk_seconds: int | None
    object: str = "call"


def as_dict(obj: PaymentObject | MandateObject | CreditObject | CallObject) -> dict[str, Any]:
    """The object as its event's JSON object, fields in order. Every field is a scalar or a
    flat dataclass of scalars (a card): nothing to copy deeply, as `dataclasses.asdict`
    did for each value on every call's end."""
    return _plain(obj)


def _plain(obj: Any) -> dict[str, Any]:
    values = {name: getattr(obj, name) for name in _field_names(type(obj))}
    return {name: _plain(v) if is_dataclass(v) else v for name, v in values.items()}


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(spec.name for spec in fields(cls))


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def refs(session: AsyncSession, account_id: int) -> Refs:
    row = (await session.execute(
        select(Account.account_ref, Customer.id, Customer.customer_ref)
        .join(Customer, Customer.id == Account.customer_id).where(Account.id == account_id)
    )).one_or_none()  # fmt: skip
    if row is None:
        return Refs(account_id, None, None, None)
    return Refs(account_id, row.account_ref, row.id, row.customer_ref)


async def payment_object(session: AsyncSession, payment: Payment) -> PaymentObject:
    owner = await refs(session, payment.account_id)
    invoice_ref = None
    if payment.invoice_id is not None:
        invoice_ref = await session.scalar(
            select(Invoice.invoice_ref).where(Invoice.id == payment.invoice_id)
        )
    card = None
    if payment.card_brand or payment.card_last4:
        card = Card(payment.card_brand, payment.card_last4)
    return PaymentObject(
        id=payment.id, account_id=payment.account_id, account_ref=owner.account_ref,
        customer_id=owner.customer_id, customer_ref=owner.customer_ref,
        invoice_id=payment.invoice_id, invoice_ref=invoice_ref,
        amount_minor=payment.amount_minor, refunded_minor=payment.refunded_minor or 0,
        currency=payment.currency, status=payment.status, method=payment.method,
        provider=payment.provider, provider_ref=payment.provider_ref,
        failure_reason=payment.failure_reason, card=card, call_id=payment.call_id,
        created_at=iso(payment.created_at) or "", status_at=iso(payment.status_at),
    )  # fmt: skip


async def mandate_object(session: AsyncSession, mandate: Mandate) -> MandateObject:
    owner = await refs(session, mandate.account_id)
    return MandateObject(
        id=mandate.id, account_id=mandate.account_id, account_ref=owner.account_ref,
        customer_id=owner.customer_id, customer_ref=owner.customer_ref, scheme=mandate.scheme,
        status=mandate.status, provider=mandate.provider, provider_ref=mandate.provider_ref,
        created_at=iso(mandate.created_at) or "", status_at=iso(mandate.status_at),
    )  # fmt: skip


async def credit_object(session: AsyncSession, credit: Credit) -> CreditObject:
    owner = await refs(session, credit.account_id)
    return CreditObject(
        id=credit.id, account_id=credit.account_id, account_ref=owner.account_ref,
        customer_id=owner.customer_id, customer_ref=owner.customer_ref,
        amount_minor=credit.amount_minor, currency=credit.currency,
        reason_code=credit.reason_code, status=credit.status, note=credit.note,
        call_id=credit.call_id, requested_by=credit.granted_by_id,
        decided_by=credit.approved_by_id, created_at=iso(credit.created_at) or "",
        decided_at=iso(credit.decided_at),
    )  # fmt: skip


def _latest(column: Any) -> Scoped:
    """A column of the call's latest recording."""
    return Scoped(
        select(column).where(Recording.call_id == bindparam("call"))
        .order_by(Recording.id.desc()).limit(1),
        Recording,
    )  # fmt: skip


# Built once: a call's end runs it for every call, in a session or with the call's closing
# UPDATE (`pbx.callflow.call_log`, PostgreSQL). Their parameters, and the call's columns
# that give them (`CALL_NAMES_FROM_ROW`).
CALL_NAMES = (
    Scoped(select(Customer.customer_ref).where(Customer.id == bindparam("customer")), Customer),
    Scoped(select(Queue.name).where(Queue.id == bindparam("queue")), Queue),
    Scoped(select(User.username).where(User.id == bindparam("agent")), User),
    _latest(Recording.id),
    _latest(Recording.status),
)
CALL_NAMES_FROM_ROW = {"customer": "customer_id", "queue": "queue_id", "agent": "agent_id",
                       "call": "id"}  # fmt: skip
_CALL_NAMES = ScopedValues(*CALL_NAMES)


async def call_object(session: AsyncSession, call: Call) -> CallObject:
    """The call as it is, with the names its ids stand for and its latest recording, read in
    one statement (a call's end writes this for every call), as the session sees them
    (its changes flushed first)."""
    given = {name: getattr(call, column) for name, column in CALL_NAMES_FROM_ROW.items()}
    values = _CALL_NAMES.parameters(given, call.tenant_id)
    return named_call_object(call, (await session.execute(_CALL_NAMES.statement, values)).one())


def named_call_object(call: Any, names: Sequence[Any]) -> CallObject:
    """The call (a `Call`, or a row with its columns) with the values of `CALL_NAMES` read
    for it."""
    customer_ref, queue, agent, recording_id, recording_status = names
    return CallObject(
        id=call.id, direction=call.direction, caller_number=call.caller_number,
        dialed_number=call.dialed_number, customer_id=call.customer_id,
        customer_ref=customer_ref, queue_id=call.queue_id, queue=queue,
        agent_id=call.agent_id, agent=agent, outcome=call.outcome,
        disposition=call.disposition, notes=call.notes,
        recording_id=recording_id, recording_status=recording_status,
        arrived_at=iso(call.arrived_at) or "", answered_at=iso(call.answered_at),
        ended_at=iso(call.ended_at), wait_seconds=call.wait_seconds,
        talk_seconds=call.talk_seconds,
    )  # fmt: skip
