"""Outgoing billing events: added to the transaction of the change they report.

`emit` stages an event on the session; the session writes the staged events just before it
commits (`_write_staged`, a `before_commit` hook), after the change's own rows are flushed:
the business's next sequence numbers from `billing_event_counters`, whose row stays locked
until the commit, then the `billing_events` rows and a pending `webhook_deliveries` row for
each enabled subscription that takes the type. The counter's lock is the last one the
transaction takes, so of two transactions the one that commits first has the smaller
sequence, and a reader that has seen sequence N never later finds a new one below it.
A transaction that rolls back forgets what it staged.

Once a transaction that wrote deliveries has committed, the listeners registered for its
database (`when_deliveries_committed`) are told, so a delivery worker in the same process
looks at once instead of at its next poll; other processes' workers find them when they poll.

A transaction on a direct connection (`Database.tenant_transaction`, the call's end on
PostgreSQL) stages its event itself (`stage`), writes it last with `write_direct` and, once
committed, tells the listeners with `deliveries_committed`: the same rows by the same rules
(`_takes`, the counter made on first use and advanced under its lock), without the session,
as one statement that also carries the transaction's other last writes (`_direct_write`).
"""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CTE,
    JSON,
    BigInteger,
    Engine,
    bindparam,
    event,
    func,
    insert,
    literal,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from pbx.db.direct import DirectConnection
from pbx.db.models import (
    BillingEvent,
    BillingEventCounter,
    TenantOwned,
    WebhookDelivery,
    WebhookSubscription,
)
from pbx.db.scoped import SCOPE, TENANT, Scoped

API_VERSION = "2026-12-01"
EVENT_TYPES = (
    "payment.succeeded", "payment.failed", "payment.refunded", "payment.charged_back",
    "mandate.created", "mandate.active", "mandate.failed", "mandate.cancelled",
    "credit.granted", "credit.approved", "credit.rejected", "call.ended", "call.updated",
    "promise.created", "promise.kept", "promise.broken", "promise.cancelled", "plan.created",
    "plan.instalment_paid", "plan.instalment_failed", "plan.completed", "plan.cancelled",
    "reminder.sent", "reminder.stopped", "customer.opted_out",
)  # fmt: skip
ALL_TYPES = "*"  # a subscription's event_types entry that takes every type

_STAGED = "billing_events.staged"
_DELIVERIES_WRITTEN = "billing_events.deliveries_written"
# Per database engine, who to tell after a commit that wrote deliveries. Held weakly on both
# sides: registering a worker's `wake` keeps neither the worker nor the database alive.
_LISTENERS: weakref.WeakKeyDictionary[Engine, list[weakref.ref[Callable[[], None]]]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class Staged:
    """An event added to a transaction, written when it commits."""

    tenant_id: int
    public_id: str
    type: str
    data: dict[str, Any]
    account_id: int | None
    entry_id: int | None
    created_at: datetime


def new_event_id() -> str:
    """`evt_` and 32 random hex digits (128 bits): never a guessable sequence."""
    return "evt_" + secrets.token_hex(16)


def emit(
    session: AsyncSession,
    tenant_id: int,
    type: str,
    obj: Mapping[str, Any],
    *,
    account_id: int | None = None,
    entry_id: int | None = None,
) -> str:
    """Add an event about `obj` to the session's transaction; its public id. Written when
    the transaction commits, never if it rolls back."""
    item = stage(tenant_id, type, obj, account_id=account_id, entry_id=entry_id)
    session.sync_session.info.setdefault(_STAGED, []).append(item)
    return item.public_id


def stage(
    tenant_id: int,
    type: str,
    obj: Mapping[str, Any],
    *,
    account_id: int | None = None,
    entry_id: int | None = None,
) -> Staged:
    """An event about `obj`, for a direct transaction to write (`write_direct`)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown billing event type {type!r}")
    return Staged(tenant_id, new_event_id(), type, dict(obj), account_id, entry_id,
                  datetime.now(UTC))  # fmt: skip


def when_deliveries_committed(engine: AsyncEngine, listener: Callable[[], None]) -> None:
    """Call `listener` (a bound method, such as a delivery worker's `wake`) in this process
    after each commit on `engine` that wrote webhook deliveries; for as long as its object
    lives. It runs inside the commit, so it must only signal (set an event), never wait."""
    reference = weakref.WeakMethod(listener)  # type: ignore[arg-type]
    _LISTENERS.setdefault(engine.sync_engine, []).append(reference)


def envelope(row: BillingEvent) -> dict[str, Any]:
    """The event as receivers get it (the webhook body, an item of GET /api/v1/events)."""
    return {
        "id": row.public_id,
        "object": "event",
        "type": row.type,
        "api_version": row.version,
        "created": row.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "sequence": row.seq,
        "data": {"object": row.data},
    }


# The statements of the write, shared by the session's hook and the direct path.
_ADVANCE = Scoped(
    update(BillingEventCounter).where(BillingEventCounter.tenant_id == bindparam(SCOPE))
    .values(last_seq=BillingEventCounter.last_seq + bindparam("count"))
    .returning(BillingEventCounter.last_seq)
)  # fmt: skip
_COUNTER_ROW = {
    dialect.dialect.name: Scoped(
        dialect.insert(BillingEventCounter)
        .values(tenant_id=bindparam(TENANT), last_seq=0).on_conflict_do_nothing()
    )
    for dialect in (postgresql, sqlite)
}  # fmt: skip
_SUBSCRIPTIONS = Scoped(
    select(WebhookSubscription.id, WebhookSubscription.event_types)
    .where(WebhookSubscription.enabled.is_(True)),
    WebhookSubscription,
)  # fmt: skip
# Every column named, defaults included: statements that go straight to PostgreSQL.
_EVENT_COLUMNS = (
    "seq", "public_id", "type", "version", "account_id", "entry_id", "data", "created_at",
)  # fmt: skip
_DELIVERY_COLUMNS = (
    "subscription_id", "event_id", "account_id", "status", "attempts", "next_attempt_at",
    "created_at",
)  # fmt: skip
# The subscriptions as one value, [[id, event_types], ...] (None: none enabled), for a
# direct transaction to read with an earlier statement of its own (`write_direct`).
SUBSCRIPTIONS_VALUE = Scoped(
    select(type_coerce(
        func.json_agg(func.json_build_array(WebhookSubscription.id,
                                            WebhookSubscription.event_types)), JSON,
    )).where(WebhookSubscription.enabled.is_(True)),
    WebhookSubscription,
)  # fmt: skip


def _direct_write(first: tuple[CTE, ...], reaching: tuple[type[TenantOwned], ...]) -> Scoped:
    """One event written on PostgreSQL in one statement: `first` (the transaction's other
    writes, as WITH queries that return their rows: run to the end before the counter is
    taken, each row counted), then the business's counter advanced (made on first use),
    the event under its number, and a pending delivery for each id in `subscriptions`. The
    counter is the transaction's last lock (`write_direct`)."""
    tenant = bindparam(TENANT, type_=BigInteger)
    done = [select(func.count()).select_from(query).scalar_subquery() >= 0 for query in first]
    counter = (
        postgresql.insert(BillingEventCounter)
        .from_select(["tenant_id", "last_seq"], select(tenant, literal(1, BigInteger)).where(*done))
        .on_conflict_do_update(index_elements=[BillingEventCounter.tenant_id],
                               set_={"last_seq": BillingEventCounter.last_seq + 1})
        .returning(BillingEventCounter.last_seq).cte("counter")
    )  # fmt: skip
    table = BillingEvent.__table__.c
    given = [bindparam(name, type_=table[name].type) for name in _EVENT_COLUMNS if name != "seq"]
    written = (
        insert(BillingEvent)
        .from_select([TENANT, "seq", *(b.key for b in given)],
                     select(tenant, counter.c.last_seq, *given))
        .returning(BillingEvent.id, BillingEvent.account_id).cte("written")
    )  # fmt: skip
    now = bindparam("now", type_=WebhookDelivery.__table__.c.created_at.type)
    subscription = func.unnest(
        bindparam("subscriptions", type_=postgresql.ARRAY(BigInteger))
    ).column_valued("subscription_id")
    deliveries = insert(WebhookDelivery).from_select(
        [TENANT, *_DELIVERY_COLUMNS],
        select(tenant, subscription, written.c.id, written.c.account_id,
               literal("pending"), literal(0), now, now).select_from(written),
    )  # fmt: skip
    return Scoped(deliveries, BillingEvent, WebhookDelivery, *reaching)


_DIRECT_WRITES: dict[tuple[tuple[CTE, ...], tuple[type[TenantOwned], ...]], Scoped] = {}


@event.listens_for(Session, "before_commit")
def _write_staged(session: Session) -> None:
    staged: list[Staged] | None = session.info.pop(_STAGED, None)
    if not staged:
        return
    session.flush()  # the change's own rows first: the counter's lock is the last taken
    for tenant_id in dict.fromkeys(item.tenant_id for item in staged):
        events = [item for item in staged if item.tenant_id == tenant_id]
        last = _take_sequence(session, tenant_id, len(events))
        rows = [BillingEvent(tenant_id=tenant_id, **row) for row in _numbered(events, last)]
        session.add_all(rows)
        session.flush()
        subscriptions = session.execute(
            _SUBSCRIPTIONS.statement, _SUBSCRIPTIONS.parameters(None, tenant_id)
        ).all()
        written = [(row.id, row.type, row.account_id) for row in rows]
        deliveries = _deliveries(subscriptions, written)
        session.add_all(WebhookDelivery(tenant_id=tenant_id, **row) for row in deliveries)
        if deliveries:
            session.info[_DELIVERIES_WRITTEN] = True


async def write_direct(
    connection: DirectConnection,
    item: Staged,
    subscriptions: Sequence[Any] | None,
    *,
    first: tuple[CTE, ...] = (),
    reaching: tuple[type[TenantOwned], ...] = (),
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Write `item` (an event of the connection's business) as the session's hook writes
    it, as the last statement of the connection's transaction (`Database.
    tenant_transaction`), with a delivery for each of `subscriptions` (`SUBSCRIPTIONS_VALUE`
    as the transaction read it) that takes its type. `first`: the transaction's other
    writes, sent with it and run before it (built once by the caller: the statement is
    kept for them), the tenant-owned entities they reach (`Scoped`) and their `values`.
    Whether it wrote deliveries (then, once committed, `deliveries_committed`)."""
    if item.tenant_id != connection.tenant_id:
        raise ValueError("a direct transaction writes its own business's events only")
    taking = _taking(subscriptions or [], item.type)
    statement, row = direct_write(item, taking, first=first, reaching=reaching)
    await connection.execute(statement, {**(values or {}), **row})
    return bool(taking)


def direct_write(
    item: Staged,
    subscriptions: Sequence[int],
    *,
    first: tuple[CTE, ...] = (),
    reaching: tuple[type[TenantOwned], ...] = (),
) -> tuple[Scoped, dict[str, Any]]:
    """`write_direct`'s statement (built once for `first`) and its values for `item`, with a
    delivery for each subscription id of `subscriptions`; also for warming a pool."""
    key = (first, reaching)
    if key not in _DIRECT_WRITES:
        _DIRECT_WRITES[key] = _direct_write(first, reaching)
    now = datetime.now(UTC)
    row = {"public_id": item.public_id, "type": item.type, "version": API_VERSION,
           "account_id": item.account_id, "entry_id": item.entry_id, "data": item.data,
           "created_at": item.created_at, "subscriptions": list(subscriptions),
           "now": now}  # fmt: skip
    return _DIRECT_WRITES[key], row


def deliveries_committed(engine: AsyncEngine) -> None:
    """Tell `engine`'s listeners (`when_deliveries_committed`) that a direct transaction
    which wrote deliveries (`write_direct`) has committed."""
    _tell_listeners_of(engine.sync_engine)


@event.listens_for(Session, "after_commit")
def _tell_listeners(session: Session) -> None:
    if session.info.pop(_DELIVERIES_WRITTEN, False):
        _tell_listeners_of(session.get_bind().engine)  # type: ignore[union-attr]


def _tell_listeners_of(engine: Engine) -> None:
    references = _LISTENERS.get(engine, [])
    references[:] = [reference for reference in references if reference() is not None]
    for reference in references:
        listener = reference()
        if listener is not None:
            listener()


@event.listens_for(Session, "after_rollback")
def _forget_staged(session: Session) -> None:
    session.info.pop(_STAGED, None)
    session.info.pop(_DELIVERIES_WRITTEN, None)


def _numbered(events: Sequence[Staged], last: int) -> list[dict[str, Any]]:
    """One business's events as `billing_events` rows (without the business), numbered in
    the order they were staged up to `last`, the counter's number after them."""
    first = last - len(events) + 1
    return [
        {"seq": first + number, "public_id": item.public_id, "type": item.type,
         "version": API_VERSION, "account_id": item.account_id, "entry_id": item.entry_id,
         "data": item.data, "created_at": item.created_at}
        for number, item in enumerate(events)
    ]  # fmt: skip


def _take_sequence(session: Session, tenant_id: int, count: int) -> int:
    """Advance the business's counter by `count` under its row lock; the last number taken.
    The row is made on first use (ON CONFLICT DO NOTHING, so two first events at once
    cannot both make it), then advanced by the one UPDATE that locks it."""
    # Nothing of the counter is loaded in the session: no objects to bring up to date
    # (their search by the WHERE's criteria cost as much as the statement, every call).
    options = {"synchronize_session": False}
    advance = _ADVANCE.statement, _ADVANCE.parameters({"count": count}, tenant_id)
    last = session.execute(*advance, execution_options=options).scalar_one_or_none()
    if last is None:
        row = _COUNTER_ROW[session.get_bind().dialect.name]
        session.execute(row.statement, row.parameters(None, tenant_id))
        last = session.execute(*advance, execution_options=options).scalar_one()
    return int(last)


def _deliveries(
    subscriptions: Sequence[Any], events: Sequence[tuple[int, str, int | None]]
) -> list[dict[str, Any]]:
    """A pending `webhook_deliveries` row (without the business) for each event, as
    (id, type, account id), and each enabled subscription that takes its type."""
    now = datetime.now(UTC)
    return [
        {"subscription_id": subscription.id, "event_id": event_id, "account_id": account_id,
         "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
        for event_id, type, account_id in events
        for subscription in subscriptions
        if _takes(subscription.event_types, type)
    ]  # fmt: skip


def _taking(subscriptions: Sequence[Any], type: str) -> list[int]:
    """The ids of the subscriptions, as (id, event types), that take events of `type`."""
    return [id for id, event_types in subscriptions if _takes(event_types, type)]


def _takes(event_types: Any, type: str) -> bool:
    return isinstance(event_types, list) and (type in event_types or ALL_TYPES in event_types)
