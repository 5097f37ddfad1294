"""The SQL of recurring collection: a batch of due invoices in, intents and outcomes out.

Everything runs in tenant sessions (`pbx.db.tenancy` scopes every statement), one batch per
transaction, set-based: a batch is three reads (two once every invoice of the page is
already with the provider) and, on the way back, the payments and the attempts' outcomes.
On PostgreSQL the writes are one array statement each (`arrays`); on SQLite, executemany.
Memory is one batch, however many invoices are due.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, case, exists, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collection import arrays
from billing_bridge.collection.rules import LastAttempt
from billing_bridge.events import changes
from billing_bridge.payments.ledger import post_account_entry
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import (
    CollectionAttempt,
    CollectionRun,
    Invoice,
    Mandate,
    Payment,
    PaymentPlan,
    Tenant,
)

ACTOR = "system:collection"
# Else succeeded (a refund or chargeback after it is the payment's story, not a reason
# to collect again).
_OUTCOME_OF_PAYMENT = {"pending": "submitted", "failed": "failed", "cancelled": "failed"}
_IN_FLIGHT = frozenset({"submitted", "succeeded"})  # the provider has it: nothing to do


@dataclass(frozen=True)
class TenantRef:
    id: int
    slug: str
    timezone: str


@dataclass(frozen=True)
class DueInvoice:
    id: int
    account_id: int
    outstanding_minor: int
    currency: str


@dataclass(frozen=True)
class MandateRef:
    id: int
    status: str
    provider_ref: str | None
    scheme: str


@dataclass(frozen=True)
class Attempt:
    """The latest attempt on an invoice, with what its payment row says of the outcome."""

    id: int
    invoice_id: int
    number: int
    mandate_id: int
    mandate_ref: str | None
    scheme: str
    idempotency_key: str
    amount_minor: int
    currency: str
    stored_status: str
    stored_failure: str | None
    payment_status: str | None
    payment_failure: str | None
    failed_at: datetime | None
    payment_id: int | None

    @property
    def outcome(self) -> str:
        if self.payment_status is None:
            return "pending"
        return _OUTCOME_OF_PAYMENT.get(self.payment_status, "succeeded")

    def last(self) -> LastAttempt:
        failed_on = self.failed_at.date() if self.failed_at else None
        return LastAttempt(
            self.number, self.mandate_id, self.outcome, self.payment_failure, failed_on
        )


@dataclass
class Batch:
    invoices: list[DueInvoice]  # those not already with the provider
    mandates: dict[int, list[MandateRef]]  # by account, newest first
    attempts: dict[int, Attempt]  # the latest, by invoice
    last_id: int | None = None  # the page's last due invoice; None: no more
    in_flight: int = 0  # due invoices of the page whose charge the provider has, unchanged
    planned: frozenset[int] = frozenset()  # accounts with an active payment plan

    def active_mandate(self, account_id: int) -> MandateRef | None:
        return next((m for m in self.mandates[account_id] if m.status == "active"), None)


# -- runs and tenants (system session: a run crosses tenants) -------------------------------


async def tenants(database: Any, slug: str | None) -> list[TenantRef]:
    async with database.system_session() as session:
        query = select(Tenant.id, Tenant.slug, Tenant.timezone).order_by(Tenant.id)
        if slug is not None:
            query = query.where(Tenant.slug == slug)
        return [TenantRef(*row) for row in await session.execute(query)]


async def start_run(database: Any, run_on: date | None, node: str, now: datetime) -> int:
    async with database.system_session() as session, session.begin():
        run = CollectionRun(run_on=run_on, node=node, started_at=now, totals={})
        session.add(run)
        await session.flush()
        return run.id


async def finish_run(database: Any, run_id: int, totals: dict[str, Any], now: datetime) -> None:
    async with database.system_session() as session, session.begin():
        await session.execute(
            update(CollectionRun).where(CollectionRun.id == run_id)
            .values(finished_at=now, totals=totals)
        )  # fmt: skip


# -- one batch ---------------------------------------------------------------------------------


async def read_batch(session: AsyncSession, *, today: date, after: int, limit: int) -> Batch:
    """The next `limit` due invoices after invoice id `after` whose account has a mandate
    (of any status: an inactive one is reported as skipped), their mandates and attempts.
    An invoice whose latest attempt the provider has, as its payment says, is only counted:
    a second run the same day reads no mandates and builds nothing for it."""
    has_mandate = exists().where(Mandate.account_id == Invoice.account_id)
    rows = (await session.execute(
        select(Invoice.id, Invoice.account_id, Invoice.outstanding_minor, Invoice.currency)
        .where(
            Invoice.id > after, Invoice.status == "open", Invoice.outstanding_minor > 0,
            Invoice.due_on <= today, has_mandate,
        )
        .order_by(Invoice.id)
        .limit(limit)
    )).all()  # fmt: skip
    if not rows:
        return Batch([], {}, {})
    # One range read for the page's attempts (the latest wins): per invoice, a lookup would
    # be planned as a scan of the business's attempts while the table's statistics are old.
    latest: dict[int, Row[Any]] = {}
    for row in await session.execute(
        select(
            CollectionAttempt.id, CollectionAttempt.invoice_id, CollectionAttempt.attempt,
            CollectionAttempt.mandate_id, Mandate.provider_ref, Mandate.scheme,
            CollectionAttempt.idempotency_key, CollectionAttempt.amount_minor,
            CollectionAttempt.currency, CollectionAttempt.status, CollectionAttempt.failure_code,
            Payment.status, Payment.failure_reason,
            # The provider's event time (else our last change): the day a retry counts from.
            func.coalesce(Payment.status_at, CollectionAttempt.updated_at).label("failed_at"),
            Payment.id,
        )
        .join(Mandate, Mandate.id == CollectionAttempt.mandate_id)
        .outerjoin(Payment, (Payment.tenant_id == CollectionAttempt.tenant_id)
                   & (Payment.idempotency_key == CollectionAttempt.idempotency_key))
        .where(CollectionAttempt.invoice_id.between(rows[0][0], rows[-1][0]))
        .order_by(CollectionAttempt.invoice_id, CollectionAttempt.attempt)
    ):  # fmt: skip
        latest[row[1]] = row  # ordered: the latest wins
    invoices: list[DueInvoice] = []
    attempts: dict[int, Attempt] = {}
    for row in rows:
        found = latest.get(row[0])
        if found is not None and found[9] in _IN_FLIGHT and _unchanged(found[9], found[11]):
            continue
        invoices.append(DueInvoice(*row))
        if found is not None:
            attempts[row[0]] = Attempt(*found)
    batch = Batch(invoices, {}, attempts, rows[-1][0], len(rows) - len(invoices))
    if not invoices:
        return batch
    accounts = select(Invoice.account_id).where(Invoice.id.between(invoices[0].id, invoices[-1].id))
    mandates: dict[int, list[MandateRef]] = defaultdict(list)
    for row in await session.execute(
        select(Mandate.account_id, Mandate.id, Mandate.status, Mandate.provider_ref, Mandate.scheme)
        .where(Mandate.account_id.in_(accounts))
        .order_by(Mandate.account_id, Mandate.id.desc())
    ):  # fmt: skip
        mandates[row.account_id].append(MandateRef(*row[1:]))
    batch.mandates = mandates
    batch.planned = frozenset(await session.scalars(
        select(PaymentPlan.account_id)
        .where(PaymentPlan.status == "active", PaymentPlan.account_id.in_(accounts))
    ))  # fmt: skip
    return batch


def _unchanged(stored_status: str, payment_status: str | None) -> bool:
    """The attempt says what its payment says (nothing to reconcile)."""
    if payment_status is None:
        return False
    return _OUTCOME_OF_PAYMENT.get(payment_status, "succeeded") == stored_status


async def reconcile(session: AsyncSession, changes: Sequence[dict[str, Any]]) -> None:
    """Attempts whose payment settled since (by webhook): status, failure, next retry day.
    Each dict: id, status, failure_code, next_retry_on, updated_at, payment_id."""
    if changes:
        await session.execute(update(CollectionAttempt), list(changes))


async def write_intents(
    session: AsyncSession,
    dialect: str,
    intents: Sequence[dict[str, Any]],
    *,
    run_id: int,
    now: datetime,
) -> dict[str, int]:
    """Insert attempts before the provider hears of them; returns {key: attempt id} for the
    rows this run inserted. A key another run inserted first is not returned: that run
    sends it (and were both to send it, the provider would charge once)."""
    if not intents:
        return {}
    if dialect == "postgresql":
        return await arrays.write_intents(session, intents, run_id, now)
    statement = _insert(dialect, CollectionAttempt).on_conflict_do_nothing()
    rows = await session.execute(
        statement.returning(CollectionAttempt.idempotency_key, CollectionAttempt.id),
        list(intents),
    )
    return {key: attempt_id for key, attempt_id in rows}


async def write_outcomes(
    session: AsyncSession,
    dialect: str,
    payments: Sequence[dict[str, Any]],
    *,
    invoice_range: tuple[int, int],
    retries: Sequence[tuple[int, str, date | None]],
    provider: str,
    now: datetime,
) -> set[str]:
    """The provider's answers: payment rows (the same key as the attempt; a row already
    there from a run that died after writing it is kept), and the batch's pending attempts
    take their payment's outcome. `retries`: (attempt id, key, next retry day) of attempts
    refused at once. Returns the keys whose payment this call wrote."""
    if dialect == "postgresql":
        by_key = {key: next_on for _, key, next_on in retries}
        return await arrays.write_outcomes(session, payments, by_key, provider, now)
    if payments:
        await session.execute(_insert(dialect, Payment).on_conflict_do_nothing(), list(payments))
    outcome = case(
        *((Payment.status == status, attempt) for status, attempt in _OUTCOME_OF_PAYMENT.items()),
        else_="succeeded",
    )
    first, last = invoice_range
    await session.execute(
        update(CollectionAttempt)
        .where(
            CollectionAttempt.status == "pending",
            CollectionAttempt.invoice_id.between(first, last),
            Payment.tenant_id == CollectionAttempt.tenant_id,
            Payment.idempotency_key == CollectionAttempt.idempotency_key,
        )
        .values(status=outcome, payment_id=Payment.id, failure_code=Payment.failure_reason,
                updated_at=now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if retries:
        rows = [{"id": attempt_id, "next_retry_on": next_on} for attempt_id, _, next_on in retries]
        await session.execute(update(CollectionAttempt), rows)
    return {payment["idempotency_key"] for payment in payments}


async def apply_immediate_outcomes(
    session: AsyncSession, tenant_id: int, written: Iterable[str]
) -> None:
    """Idempotency keys of the payments written now: each that succeeded at once (a card on
    file) lowers its balance now, with its entry, as a card payment by phone does (a direct
    debit does when it settles), and each that succeeded or failed at once is announced to
    the billing system (a pending debit is announced by its settlement's webhook)."""
    keys = list(written)
    if not keys:
        return
    payments = await session.scalars(
        select(Payment).where(Payment.idempotency_key.in_(keys), Payment.status != "pending")
        .order_by(Payment.id)
    )  # fmt: skip
    for payment in payments.all():
        entry = None
        if payment.status == "succeeded":
            entry = await post_account_entry(
                session, tenant_id, account_id=payment.account_id, kind="payment",
                amount_minor=-payment.amount_minor, currency=payment.currency,
                payment_id=payment.id,
            )  # fmt: skip
        await changes.payment_moved(session, payment, entry_id=entry.id if entry else None)


async def audit(
    session: AsyncSession, tenant_id: int, run_id: int, run_on: date, totals: dict[str, Any],
    now: datetime,
) -> None:  # fmt: skip
    """One entry per business per run, with its totals: not one per invoice."""
    record(
        session, tenant_id=tenant_id, actor=By(ACTOR), action="collection.run",
        target=Target("collection_run", run_id), details={"run_on": run_on.isoformat(), **totals},
        at=now,
    )  # fmt: skip


def _insert(dialect: str, entity: type) -> Any:
    # ON CONFLICT DO NOTHING is spelled by each dialect's own insert().
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(entity)


async def refresh_statistics(database: Database) -> None:
    """PostgreSQL's statistics of the tables a run grows (maintenance, not tenant data: it
    reads and returns nothing). SQLite plans without them."""
    if database.dialect != "postgresql":
        return
    async with database.engine.connect() as connection:
        await connection.execute(text("ANALYZE collection_attempts, payments"))
        await connection.commit()
