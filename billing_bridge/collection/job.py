"""A collection run: every business's due invoices, batch by batch, charged once.

Per batch: read and decide, write the intents (attempt rows) and commit; then call the
provider, a bounded number of calls at a time; then write the answers and commit. A run
killed anywhere leaves intents without answers, and the next run sends exactly those again
under the same idempotency keys: the provider answers what it answered before.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from billing_bridge.collection import instalments, rules, store
from billing_bridge.collection.report import CollectionReport, TenantReport
from billing_bridge.collection.rules import Action
from billing_bridge.payments.port import (
    ChargeResult,
    PaymentProvider,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
)
from pbx.db.database import Database
from pbx.db.types import utcnow

BATCH = {"postgresql": 2000, "sqlite": 200}  # SQLite: one writer, keep its locks short
CONCURRENCY = 16  # provider calls in flight (real providers rate-limit around here)


class UnknownTenant(LookupError):
    pass


@dataclass(frozen=True)
class Send:
    """One request to the provider: a new attempt, or an unanswered one again."""

    attempt_id: int
    invoice_id: int
    account_id: int
    number: int
    key: str
    mandate_ref: str | None
    scheme: str
    amount_minor: int
    currency: str

    def with_id(self, attempt_id: int) -> Send:
        return Send(
            attempt_id, self.invoice_id, self.account_id, self.number, self.key,
            self.mandate_ref, self.scheme, self.amount_minor, self.currency,
        )  # fmt: skip


@dataclass(frozen=True)
class Answer:
    send: Send
    result: ChargeResult | None  # None: the provider was unavailable
    failure_code: str | None = None


@dataclass
class _Plan:
    reconciled: list[dict[str, Any]] = field(default_factory=list)
    intents: list[dict[str, Any]] = field(default_factory=list)
    new: dict[str, Send] = field(default_factory=dict)  # by key, ids once inserted
    resends: list[Send] = field(default_factory=list)


async def run_collection(
    database: Database,
    provider: PaymentProvider,
    *,
    today: date | None = None,
    now: datetime | None = None,
    batch: int | None = None,
    concurrency: int = CONCURRENCY,
    tenant: str | None = None,
    node: str | None = None,
) -> CollectionReport:
    """Collect what is due on `today` (default: each business's own today) for every
    business, or the one with slug `tenant`. Safe to run twice, concurrently, or after a
    run that was killed."""
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    refs = await store.tenants(database, tenant)
    if tenant is not None and not refs:
        raise UnknownTenant(f"no business with slug {tenant!r}")
    size = batch or BATCH.get(database.dialect, BATCH["sqlite"])
    run_id = await store.start_run(database, today, node or socket.gethostname(), clock())
    report = CollectionReport(run_id, today)
    for ref in refs:
        run_on = today or clock().astimezone(ZoneInfo(ref.timezone)).date()
        one = _TenantRun(database, provider, ref, run_id, run_on, size, concurrency, clock)
        await one.run()
        # Payment plans' instalments due today, from the plan's mandate or card on file.
        await instalments.collect(database, provider, ref.id, run_on, clock, one.tally,
                                  concurrency=concurrency)  # fmt: skip
        async with database.tenant_session(ref.id) as session, session.begin():
            await store.audit(session, ref.id, run_id, run_on, one.tally.as_dict(), clock())
        report.tenants[ref.slug] = one.tally
    await store.finish_run(database, run_id, report.total.as_dict(), clock())
    return report


@dataclass(frozen=True)
class _Prepared:
    """A batch read, decided and its intents committed: what goes to the provider."""

    sends: list[Send]
    invoice_range: tuple[int, int] | None  # of the invoices decided (None: all in flight)
    last_id: int  # the page's last invoice: the next batch starts after it


# A run grows the attempts table a hundredfold; the planner needs to know, or it keeps the
# plans it made for an empty table (autovacuum may be slow, or off). After these batches:
ANALYZE_AFTER = frozenset({3, 30, 150})


@dataclass
class _TenantRun:
    """Three batches at once, each at its own stage: batch N's calls go out while batch
    N + 1 is read and its intents written, and batch N - 1's answers are written. The
    database and the provider calls overlap. Batches are disjoint ranges of invoices."""

    database: Database
    provider: PaymentProvider
    ref: store.TenantRef
    run_id: int
    run_on: date
    size: int
    concurrency: int
    clock: Callable[[], datetime]
    tally: TenantReport = field(default_factory=TenantReport)
    writing: asyncio.Task[None] | None = None  # the previous batch's answers

    async def run(self) -> None:
        ready = asyncio.ensure_future(self._prepare(0))
        batches = 0
        try:
            while (prepared := await ready) is not None:
                batches += 1
                if batches in ANALYZE_AFTER:
                    await store.refresh_statistics(self.database)
                ready = asyncio.ensure_future(self._prepare(prepared.last_id))
                await self._send(prepared)
        finally:
            # Killed: the next batch's intents, committed or not, are sent by the next run.
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
            await self.written()

    async def written(self) -> None:
        if self.writing is not None:
            task, self.writing = self.writing, None
            await task

    async def _prepare(self, after: int) -> _Prepared | None:
        """The batch after invoice id `after`, decided, its intents committed; None when
        no invoice is left."""
        database, tenant_id = self.database, self.ref.id
        async with database.tenant_session(tenant_id) as session, session.begin():
            batch = await store.read_batch(session, today=self.run_on, after=after,
                                           limit=self.size)  # fmt: skip
            if batch.last_id is None:
                return None
            self.tally.in_flight += batch.in_flight
            if not batch.invoices:
                return _Prepared([], None, batch.last_id)
            now = self.clock()
            plan = _plan(batch, tenant_id, self.run_id, self.run_on, now, self.tally)
            await store.reconcile(session, plan.reconciled)
            inserted = await store.write_intents(session, database.dialect, plan.intents,
                                                 run_id=self.run_id, now=now)  # fmt: skip
        sends = plan.resends
        for key, attempt_id in inserted.items():
            sends.append(plan.new[key].with_id(attempt_id))
        invoice_range = (batch.invoices[0].id, batch.invoices[-1].id)
        return _Prepared(sends, invoice_range, batch.last_id)

    async def _send(self, prepared: _Prepared) -> None:
        """The batch's calls, then its answers written in the background."""
        answers = await _send_all(self.provider, prepared.sends, self.concurrency)
        now = self.clock()
        payments: list[dict[str, Any]] = []
        retries: list[tuple[int, str, date | None]] = []
        for answer in answers:
            _count(answer, self.tally)
            if answer.result is None:
                continue  # unanswered: the intent stays pending and goes again next run
            payments.append(_payment_row(self.ref.id, self.provider.name, answer, now))
            if answer.result.status is PaymentStatus.FAILED:
                next_on = rules.retry_on(answer.send.number, answer.failure_code, now.date())
                retries.append((answer.send.attempt_id, answer.send.key, next_on))
        await self.written()
        if prepared.invoice_range is not None:
            self.writing = asyncio.create_task(
                self._write(payments, retries, prepared.invoice_range, now)
            )

    async def _write(
        self,
        payments: list[dict[str, Any]],
        retries: list[tuple[int, str, date | None]],
        invoice_range: tuple[int, int],
        now: datetime,
    ) -> None:
        async with self.database.tenant_session(self.ref.id) as session, session.begin():
            written = await store.write_outcomes(
                session, self.database.dialect, payments, retries=retries, now=now,
                invoice_range=invoice_range, provider=self.provider.name,
            )  # fmt: skip
            # Only a payment written now lowers the balance: one kept from before already did.
            await store.apply_immediate_outcomes(session, self.ref.id, written)


def _plan(
    batch: store.Batch,
    tenant_id: int,
    run_id: int,
    run_on: date,
    now: datetime,
    tally: TenantReport,
) -> _Plan:
    """Decide every invoice of the batch (`rules.decide`) and count what is not sent."""
    plan = _Plan()
    for invoice in batch.invoices:
        attempt = batch.attempts.get(invoice.id)
        if attempt is not None and attempt.outcome != attempt.stored_status:
            plan.reconciled.append(_settled(attempt))
        active = batch.active_mandate(invoice.account_id)
        # Empty only if the mandate was deleted between the reads (each sees its own moment).
        newest = next(iter(batch.mandates[invoice.account_id]), None)
        decision = rules.decide(
            attempt.last() if attempt else None,
            active_mandate_id=active.id if active else None,
            mandate_status=newest.status if newest else None, today=run_on,
        )  # fmt: skip
        if decision.action is Action.RESEND and attempt is not None:
            plan.resends.append(Send(
                attempt.id, invoice.id, invoice.account_id, attempt.number,
                attempt.idempotency_key, attempt.mandate_ref, attempt.scheme,
                attempt.amount_minor, attempt.currency,
            ))  # fmt: skip
        elif decision.action is Action.CHARGE and invoice.account_id in batch.planned:
            # An active payment plan replaces collecting the balance: its instalments are.
            tally.skipped.add(invoice.outstanding_minor, invoice.currency, "payment_plan")
        elif decision.action is Action.CHARGE and active is not None:
            key = rules.idempotency_key(invoice.id, decision.attempt)
            plan.intents.append({
                "tenant_id": tenant_id, "run_id": run_id, "invoice_id": invoice.id,
                "mandate_id": active.id, "attempt": decision.attempt, "idempotency_key": key,
                "amount_minor": invoice.outstanding_minor, "currency": invoice.currency,
                "status": "pending", "created_at": now, "updated_at": now,
            })  # fmt: skip
            plan.new[key] = Send(
                0, invoice.id, invoice.account_id, decision.attempt, key, active.provider_ref,
                active.scheme, invoice.outstanding_minor, invoice.currency,
            )  # fmt: skip
        elif decision.action is Action.SKIP:
            tally.skipped.add(invoice.outstanding_minor, invoice.currency, decision.reason)
        elif decision.action is Action.WAIT:
            tally.waiting += 1
        else:
            tally.in_flight += 1
    return plan


def _settled(attempt: store.Attempt) -> dict[str, Any]:
    """An attempt whose payment settled by webhook since: its outcome and next retry day."""
    last = attempt.last()
    next_on = None
    if last.outcome == "failed" and last.failed_on is not None:
        next_on = rules.retry_on(last.number, last.failure_code, last.failed_on)
    return {
        "id": attempt.id, "status": last.outcome, "failure_code": last.failure_code,
        "next_retry_on": next_on, "updated_at": attempt.failed_at or utcnow(),
        "payment_id": attempt.payment_id,
    }  # fmt: skip


async def _send_all(provider: PaymentProvider, sends: list[Send], concurrency: int) -> list[Answer]:
    """Every send, `concurrency` at a time: that many workers, not a task per call."""
    answers: list[Answer] = []
    queue = iter(sends)

    async def worker() -> None:
        for send in queue:
            answers.append(await _send(provider, send))

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(sends)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:  # one died: the others stop too, as the process would
            task.cancel()
    return answers


async def _send(provider: PaymentProvider, send: Send) -> Answer:
    if send.mandate_ref is None:
        return _refused(send, rules.PROVIDER_ERROR)
    try:
        result = await provider.charge_mandate(
            send.mandate_ref,
            amount_minor=send.amount_minor,
            currency=send.currency,
            idempotency_key=send.key,
            # Part of the request the key stands for: derived from the key, so a resend
            # is the same request.
            description=f"Ledgerline {send.key}",
        )
    except ProviderUnavailable:
        return Answer(send, None, "provider_unavailable")
    except ProviderError:
        return _refused(send, rules.PROVIDER_ERROR)
    return Answer(send, result, result.failure_code)


def _refused(send: Send, code: str) -> Answer:
    return Answer(send, ChargeResult(PaymentStatus.FAILED, "", code), code)


def _count(answer: Answer, tally: TenantReport) -> None:
    send = answer.send
    if answer.result is None:
        tally.unanswered += 1
    elif answer.result.status is PaymentStatus.FAILED:
        tally.failed.add(send.amount_minor, send.currency, answer.failure_code or "failed")
    else:
        tally.collected.add(send.amount_minor, send.currency)


def _payment_row(tenant_id: int, provider: str, answer: Answer, now: datetime) -> dict[str, Any]:
    send, result = answer.send, answer.result
    assert result is not None
    settled = result.status is not PaymentStatus.PENDING
    return {
        "tenant_id": tenant_id, "account_id": send.account_id,
        "amount_minor": send.amount_minor, "currency": send.currency,
        "method": "card" if send.scheme == "card" else "direct_debit", "provider": provider,
        "provider_ref": result.provider_ref or None, "idempotency_key": send.key,
        "status": result.status.value, "failure_reason": (answer.failure_code or None),
        "created_at": now, "call_id": None, "card_brand": result.card_brand,
        "card_last4": result.card_last4,
        # A pending debit's status time is its settlement event's, written by the webhook.
        "status_at": now if settled else None,
    }  # fmt: skip
