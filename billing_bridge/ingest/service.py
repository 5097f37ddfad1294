"""Taking in the billing system's records: one at a time (`upsert_customer`, ...) or many
(`apply_records`, a batch), in the caller's transaction, each all-or-nothing on its own.

A batch is cut into chunks of consecutive records of one type with distinct refs (a record
that names a ref again starts a new chunk, so a later version meets the earlier one as
stored), and each chunk is written with set-based SQL under one savepoint. Should a chunk
fail in the database (a ref inserted by another request at the same moment), its savepoint
is rolled back and it is written again in two halves, each under its own savepoint, and so
on down to single records: a record that still fails alone is refused alone. A refusal
decided from what is stored (an unknown parent) never needs the fallback. Every change is
audited, with the key's name as the actor: one entry per chunk and type naming the refs
created and updated; an external payment or adjustment (money) one entry each.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.balances import UnknownEvents
from billing_bridge.ingest.customer_store import write_accounts, write_customers
from billing_bridge.ingest.invoice_store import write_entry, write_invoices
from billing_bridge.ingest.outcomes import IngestRefused, Outcome, Result
from billing_bridge.ingest.records import (
    AccountRecord,
    AdjustmentRecord,
    Business,
    CustomerRecord,
    ExternalPaymentRecord,
    InvoiceRecord,
    Record,
    ref_of,
)
from billing_bridge.ingest.sql import plan_for_values
from pbx.audit import Actor, Target, record

log = logging.getLogger(__name__)

# What refuses one record (or, in a chunk, splits it in halves): a ref written by
# another request at the same moment, an acknowledged event unknown, a value out of range.
_REFUSED = (IntegrityError, DataError, UnknownEvents, IngestRefused)
# Records per set-based write (a batch holds at most 10,000 lines). Each value is bound in an
# array or copied, never as a parameter of its own, so no driver's parameter limit applies.
# Larger chunks write faster, not cheaper: at 5,000 the full billing sync
# (`bench/billing_sync.py`) took 35-40 s instead of 41-46 with the same CPU a record on both
# sides, the batch's turn (`turns.py`) spending fewer round trips, and the caller lookups
# running meanwhile had a p99 over 20 ms in 2 of 10 runs (at 1,000: in none of 10). The
# callers first.
CHUNK_SIZE = 1000
# PostgreSQL's deadlock_detected and serialization_failure: two requests writing the same rows
# at once. The loser's savepoint is rolled back and its records written again.
_CONTENTION = ("40P01", "40001")
Writer = Callable[[AsyncSession, Business, Actor, Sequence[Any]], Awaitable[list[Result]]]


async def upsert_customer(
    session: AsyncSession, business: Business, customer: CustomerRecord, actor: Actor
) -> Result:
    """Create or update the customer (its phones replaced by the record's); raises
    `IngestRefused`."""
    return _one(await apply_records(session, business, [customer], actor))


async def upsert_account(
    session: AsyncSession, business: Business, account: AccountRecord, actor: Actor
) -> Result:
    """Create or update the account; a stated balance goes through `billing_bridge.balances`."""
    return _one(await apply_records(session, business, [account], actor))


async def upsert_invoice(
    session: AsyncSession, business: Business, invoice: InvoiceRecord, actor: Actor
) -> Result:
    return _one(await apply_records(session, business, [invoice], actor))


async def record_external_payment(
    session: AsyncSession, business: Business, payment: ExternalPaymentRecord, actor: Actor
) -> Result:
    return _one(await apply_records(session, business, [payment], actor))


async def record_adjustment(
    session: AsyncSession, business: Business, adjustment: AdjustmentRecord, actor: Actor
) -> Result:
    return _one(await apply_records(session, business, [adjustment], actor))


def _one(results: list[Result]) -> Result:
    (result,) = results
    if result.refused is not None:
        raise result.refused
    return result


async def apply_records(
    session: AsyncSession, business: Business, records: Sequence[Record], actor: Actor,
    *, fresh_statistics: bool = True,
) -> list[Result]:  # fmt: skip
    """Each record's result, in the order given. The session's transaction is the caller's.
    Without `fresh_statistics` (`statistics.refresh_statistics` failed) its reads are
    planned for their values (`sql.plan_for_values`), not by plans made from old figures.

    Records are applied by type, parents first (customers, accounts, invoices, then external
    payments and adjustments), each type in the order given: a record may name a parent sent
    anywhere in the same call, and the records of a type are written in long chunks however
    the types were interleaved."""
    if not fresh_statistics:
        await plan_for_values(session)
    order = sorted(range(len(records)), key=lambda index: _RANK[type(records[index])])
    ranked = [records[index] for index in order]
    applied: list[Result] = []
    for chunk in chunks(ranked):
        writer = _WRITERS[type(chunk[0])]
        applied += await _write_chunk(session, business, actor, writer, chunk)
    results: list[Result] = [applied[0]] * len(records) if records else []
    for index, result in zip(order, applied, strict=True):
        results[index] = result
    return results


def chunks(records: Sequence[Record]) -> Iterator[Sequence[Record]]:
    """Runs of one type, at most CHUNK_SIZE long, in which no ref comes twice."""
    start, refs = 0, set()
    for index, item in enumerate(records):
        ref = ref_of(item)
        first = records[start] if index > start else item
        if type(item) is not type(first) or ref in refs or index - start >= CHUNK_SIZE:
            yield records[start:index]
            start, refs = index, set()
        refs.add(ref)
    if start < len(records):
        yield records[start:]


async def _write_chunk(
    session: AsyncSession, business: Business, actor: Actor, writer: Writer,
    chunk: Sequence[Record],
) -> list[Result]:  # fmt: skip
    """The chunk's results. A chunk the database refuses is split in two and each half
    written again, down to the single record that fails: one bad record among 1,000 costs
    about 20 writes of shrinking halves, not 1,000 of one record each."""
    try:
        return await _under_savepoint(session, business, actor, writer, chunk)
    except _REFUSED as exc:
        if len(chunk) == 1:
            return [Result(ref_of(chunk[0]), refused=_refusal(exc))]
    middle = len(chunk) // 2
    first = await _write_chunk(session, business, actor, writer, chunk[:middle])
    return first + await _write_chunk(session, business, actor, writer, chunk[middle:])


async def _under_savepoint(
    session: AsyncSession, business: Business, actor: Actor, writer: Writer,
    chunk: Sequence[Record], attempts: int = 3,
) -> list[Result]:  # fmt: skip
    """The chunk written under a savepoint; one that lost a deadlock or a serialization
    conflict to another request is written again (at most `attempts` times), then refused as
    a conflict (the client sends it again), never a server error."""
    for attempt in range(1, attempts + 1):
        try:
            async with session.begin_nested():
                return await writer(session, business, actor, chunk)
        except DBAPIError as exc:
            if _sqlstate(exc) not in _CONTENTION:
                raise
            log.info("billing chunk lost a write conflict (attempt %d of %d)", attempt, attempts)
    raise IngestRefused("conflict", None, "changed by another request at the same moment; "
                        "send it again")  # fmt: skip


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)


def _refusal(exc: Exception) -> IngestRefused:
    if isinstance(exc, IngestRefused):
        return exc
    if isinstance(exc, UnknownEvents):
        return IngestRefused("unknown_events", exc.field, str(exc))
    if isinstance(exc, DataError):  # e.g. a balance summed beyond what BIGINT holds
        return IngestRefused("invalid", None, "a value is out of the range Ledgerline holds")
    log.info("billing record refused by the database: %s", type(exc).__name__)
    return IngestRefused("conflict", None, "changed by another request at the same moment; "
                         "send it again")  # fmt: skip


def _audited(kind: str, write: Callable[..., Awaitable[list[Result]]]) -> Writer:
    async def writer(
        session: AsyncSession, business: Business, actor: Actor, chunk: Sequence[Any]
    ) -> list[Result]:
        results = await write(session, business, chunk)
        _audit_chunk(session, business, actor, kind, results)
        return results

    return writer


async def _write_entries(
    session: AsyncSession, business: Business, actor: Actor,
    chunk: Sequence[ExternalPaymentRecord | AdjustmentRecord],
) -> list[Result]:  # fmt: skip
    return [await write_entry(session, business, entry, actor) for entry in chunk]


def _audit_chunk(
    session: AsyncSession, business: Business, actor: Actor, kind: str, results: list[Result]
) -> None:
    created = [r.ref for r in results if r.outcome is Outcome.CREATED]
    updated = [r.ref for r in results if r.outcome is Outcome.UPDATED]
    if not created and not updated:
        return
    refs = created + updated
    record(
        session, tenant_id=business.tenant_id, actor=actor, action=f"billing.{kind}.upserted",
        target=Target(kind, refs[0] if len(refs) == 1 else None),
        details={"created": created, "updated": updated},
    )  # fmt: skip


_RANK: dict[type, int] = {
    CustomerRecord: 0, AccountRecord: 1, InvoiceRecord: 2, ExternalPaymentRecord: 3,
    AdjustmentRecord: 3,
}  # fmt: skip
_WRITERS: dict[type, Writer] = {
    CustomerRecord: _audited("customers", write_customers),
    AccountRecord: _audited("accounts", write_accounts),
    InvoiceRecord: _audited("invoices", write_invoices),
    ExternalPaymentRecord: _write_entries,
    AdjustmentRecord: _write_entries,
}
