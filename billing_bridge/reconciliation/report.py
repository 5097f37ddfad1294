"""The daily reconciliation report: every balance change Ledgerline made on one day of the
business's calendar, summed, and set against what the billing system acknowledged.

The rows are the account entries Ledgerline writes itself (`ledger.post_entry`): a payment
that succeeded, a refund, a chargeback, a credit that took effect (granted at once or
approved; a rejected or still pending one moved nothing and has no entry), and the two rare
reversals (a succeeded payment undone on a supervisor's word, a chargeback lost then won).
An entry belongs to the day of its `created_at` in the business's time zone, from local
midnight to the next (23 or 25 hours when the clocks change).

An entry is acknowledged when an event that carries it (`billing_events.entry_id`) has been
acknowledged by the billing system, as of when the report is made; an entry whose event is
not yet acknowledged (or that has no event at all: written before events existed) is
pending in billing. Pending entries older than the business's `billing_ack_hours` are
flagged, each with what a billing team needs to find it.

Amounts are integer minor units per currency, never added across currencies, and always
positive: the kind says which way the money went.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from pbx.db.database import Database
from pbx.db.models import Account, AccountEntry, BillingEvent, Credit, Payment, Tenant

# Entry kind -> (the report's name for it, the sign that makes its amount positive).
KINDS: dict[str, tuple[str, int]] = {
    "payment": ("collected", -1),
    "refund": ("refunded", 1),
    "chargeback": ("charged_back", 1),
    "credit": ("credited", -1),
    "payment_reversed": ("collection_reversed", 1),
    "chargeback_reversed": ("chargeback_reversed", -1),
}
ORDER = [name for name, _ in KINDS.values()]
# How a credit took effect, in the place a payment's method goes.
CREDIT_GRANTED, CREDIT_APPROVED = "granted", "approved"
# The calendar days a report may name: far years overflow a day's bounds in UTC.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(8999, 12, 31)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_PAGE = 1000


class BadDay(ValueError):
    """A day that is not a real calendar day within the range a report covers."""


class UnknownBusiness(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Figure:
    """What one kind of change added up to, for one method, provider and currency, split by
    whether the billing system has acknowledged it."""

    kind: str
    method: str | None  # a payment's method (card, bank, ...); a credit's: granted or approved
    provider: str | None  # a payment's provider; None for credits
    currency: str
    acknowledged: bool
    count: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Total:
    """One kind in one currency, all methods together."""

    kind: str
    currency: str
    count: int
    amount_minor: int
    acknowledged_count: int
    acknowledged_minor: int
    pending_count: int
    pending_minor: int


@dataclass(frozen=True, slots=True)
class Unacknowledged:
    """A change the billing system has not acknowledged after the business's hours."""

    kind: str
    entry_id: int
    payment_id: int | None
    credit_id: int | None
    account_id: int
    account_ref: str
    amount_minor: int
    currency: str
    event_id: str | None  # the event that carries it ("evt_..."); None: never sent
    created_at: datetime
    age_hours: int  # whole hours since it was sent (or made, if never sent)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    day: date
    timezone: str
    start: datetime  # UTC, inclusive: local midnight
    end: datetime  # UTC, exclusive: the next local midnight
    ack_hours: int
    as_of: datetime  # acknowledgements and ages are as of this moment
    figures: list[Figure]
    totals: list[Total]
    flagged: list[Unacknowledged]


@dataclass(frozen=True, slots=True)
class UnacknowledgedPage:
    ack_hours: int
    as_of: datetime
    items: list[Unacknowledged]
    has_more: bool  # more flagged items than the page holds (oldest come first)


def parse_day(text: str) -> date:
    """A calendar day written YYYY-MM-DD, between FIRST_DAY and LAST_DAY."""
    if not _DAY.fullmatch(text):
        raise BadDay("must be a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadDay("is not a day of the calendar") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadDay(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def yesterday(tenant: Tenant, now: datetime) -> date:
    """The day before today in the business's time zone: the last whole day."""
    return now.astimezone(_zone(tenant.timezone)).date() - timedelta(days=1)


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """Local midnight of `day` and of the next day, in UTC."""
    zone = _zone(timezone)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


async def day_report(
    session: AsyncSession, tenant: Tenant, day: date, *, now: datetime
) -> Reconciliation:
    """The business's report for `day` (its own calendar), acknowledgements as of `now`.
    `session` is the business's own (tenant-scoped)."""
    start, end = day_bounds(day, tenant.timezone)
    in_day = (AccountEntry.created_at >= start, AccountEntry.created_at < end)
    figures = await _figures(session, tenant.id, in_day)
    cutoff = now - timedelta(hours=tenant.billing_ack_hours)
    rows = await session.execute(
        _pending_items(tenant.id).where(*in_day, _sent_at() < cutoff)
        .order_by(AccountEntry.created_at, AccountEntry.id)
    )  # fmt: skip
    return Reconciliation(
        day, tenant.timezone, start, end, tenant.billing_ack_hours, now, figures,
        totals_of(figures), [_item(row, now) for row in rows],
    )  # fmt: skip


async def report_of_business(
    database: Database, slug: str, day: date | None, *, now: datetime
) -> Reconciliation:
    """The report of the business named by `slug` (the operator's command), for `day` or,
    with None, its yesterday."""
    async with database.system_session() as session:
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise UnknownBusiness(f"no business {slug!r}")
    async with database.tenant_session(tenant_id) as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise UnknownBusiness(f"no business {slug!r}")
        return await day_report(session, tenant, day or yesterday(tenant, now), now=now)


async def unacknowledged(
    session: AsyncSession, tenant: Tenant, *, now: datetime, limit: int = MAX_PAGE
) -> UnacknowledgedPage:
    """Every change sent to the billing system and still not acknowledged after the
    business's hours, whatever its day, oldest first. Read from the events not yet
    acknowledged (`ix_billing_events_unacknowledged`), so it is as quick with years of
    acknowledged history as with none; a change never sent (no event) is in its day's
    report, not here."""
    cutoff = now - timedelta(hours=tenant.billing_ack_hours)
    limit = max(1, min(limit, MAX_PAGE))
    rows = (await session.execute(
        _pending_items(tenant.id, sent_only=True)
        .where(BillingEvent.created_at < cutoff)
        .order_by(BillingEvent.created_at, BillingEvent.id).limit(limit + 1)
    )).all()  # fmt: skip
    return UnacknowledgedPage(
        tenant.billing_ack_hours, now, [_item(row, now) for row in rows[:limit]],
        len(rows) > limit,
    )  # fmt: skip


def totals_of(figures: Iterable[Figure]) -> list[Total]:
    """Each kind and currency summed over methods and providers, acknowledged and not."""
    sums: dict[tuple[str, str], list[int]] = {}
    for f in figures:
        acc = sums.setdefault((f.kind, f.currency), [0, 0, 0, 0])
        at = 0 if f.acknowledged else 2
        acc[at] += f.count
        acc[at + 1] += f.amount_minor
    return [
        Total(kind, currency, a + p, a_minor + p_minor, a, a_minor, p, p_minor)
        for (kind, currency), (a, a_minor, p, p_minor) in sorted(
            sums.items(), key=lambda item: (ORDER.index(item[0][0]), item[0][1])
        )
    ]


# --- the statements -------------------------------------------------------------------------


def _acknowledged(tenant_id: int) -> ColumnElement[bool]:
    """Whether an event carrying the entry has been acknowledged (one index probe by
    `billing_events.entry_id`)."""
    event = aliased(BillingEvent)
    return (
        exists().where(event.tenant_id == tenant_id, event.entry_id == AccountEntry.id,
                       event.acknowledged_at.is_not(None))
        .correlate(AccountEntry)
    )  # fmt: skip


def _method() -> ColumnElement[Any]:
    credit_way = case((Credit.decided_at.is_not(None), literal(CREDIT_APPROVED)),
                      else_=literal(CREDIT_GRANTED))  # fmt: skip
    return case((AccountEntry.kind == "credit", credit_way), else_=Payment.method)


def _provider() -> ColumnElement[Any]:
    return case((AccountEntry.kind == "credit", literal(None)), else_=Payment.provider)


async def _figures(
    session: AsyncSession, tenant_id: int, in_day: Sequence[ColumnElement[bool]]
) -> list[Figure]:
    entries = (
        select(
            AccountEntry.kind.label("kind"), _method().label("method"),
            _provider().label("provider"), AccountEntry.currency.label("currency"),
            case((_acknowledged(tenant_id), 1), else_=0).label("acknowledged"),
            AccountEntry.amount_minor.label("amount_minor"),
        )
        .outerjoin(Payment, Payment.id == AccountEntry.payment_id)
        .outerjoin(Credit, Credit.id == AccountEntry.credit_id)
        .where(AccountEntry.tenant_id == tenant_id, AccountEntry.kind.in_(KINDS), *in_day)
    ).subquery()  # fmt: skip
    keys = (entries.c.kind, entries.c.method, entries.c.provider, entries.c.currency,
            entries.c.acknowledged)  # fmt: skip
    rows = await session.execute(
        select(*keys, func.count(), func.sum(entries.c.amount_minor)).group_by(*keys)
    )
    figures = [
        Figure(KINDS[kind][0], method, provider, currency, bool(acknowledged), int(count),
               int(total) * KINDS[kind][1])
        for kind, method, provider, currency, acknowledged, count, total in rows
    ]  # fmt: skip
    return sorted(figures, key=lambda f: (ORDER.index(f.kind), f.currency, f.method or "",
                                          f.provider or "", f.acknowledged))  # fmt: skip


def _sent_at() -> ColumnElement[datetime]:
    return func.coalesce(BillingEvent.created_at, AccountEntry.created_at)


def _pending_items(tenant_id: int, *, sent_only: bool = False) -> Select[Any]:
    """Ledgerline's entries not acknowledged, each with its (unacknowledged) event if it has
    one; `sent_only`: only those with an event, read from the events' side."""
    carried = and_(BillingEvent.entry_id == AccountEntry.id, BillingEvent.tenant_id == tenant_id)
    columns = (
        AccountEntry.kind, AccountEntry.id, AccountEntry.payment_id, AccountEntry.credit_id,
        AccountEntry.account_id, Account.account_ref, AccountEntry.amount_minor,
        AccountEntry.currency, BillingEvent.public_id, _sent_at().label("sent_at"),
    )  # fmt: skip
    if sent_only:
        statement = select(*columns).select_from(BillingEvent).join(AccountEntry, carried)
        statement = statement.where(BillingEvent.acknowledged_at.is_(None))
    else:
        statement = select(*columns).select_from(AccountEntry).outerjoin(BillingEvent, carried)
    return (
        statement.join(Account, Account.id == AccountEntry.account_id)
        .where(AccountEntry.tenant_id == tenant_id, AccountEntry.kind.in_(KINDS),
               ~_acknowledged(tenant_id))
    )  # fmt: skip


def _item(row: Any, now: datetime) -> Unacknowledged:
    kind, sign = KINDS[row.kind]
    age = int((now - row.sent_at).total_seconds() // 3600)
    return Unacknowledged(
        kind, row.id, row.payment_id, row.credit_id, row.account_id, row.account_ref,
        row.amount_minor * sign, row.currency, row.public_id, row.sent_at, age,
    )  # fmt: skip


def _zone(timezone: str) -> Any:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
