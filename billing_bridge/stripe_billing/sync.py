"""`ledgerline sync stripe-billing --tenant T [--since DATE]`: a business's Stripe customers
(with their phones) and the invoices it is still owed (open, past due or uncollectible),
pulled into Ledgerline. A re-run updates what changed and never duplicates.

Every record read carries the sync's start as its version: what Stripe lists after that
moment is at least as new, and an event of an earlier moment delivered later is stale. Each
page is one transaction with its audit entry. Invoices kept open here that Stripe no longer
lists as owed (paid or voided while no event reached us) are fetched one by one and updated,
unless the sync is limited by `--since`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.payments.port import WebhookMalformed
from billing_bridge.stripe_billing import mapping, store
from billing_bridge.stripe_billing.api import PAGE, StripeBillingApi
from billing_bridge.stripe_billing.mapping import Business
from pbx.audit import By, Target, record
from pbx.db.database import Database
from pbx.db.models import Invoice

log = logging.getLogger(__name__)

NumbersChanged = Callable[[int, set[str]], Awaitable[None]]
OWED = ("open", "uncollectible")  # Stripe's statuses of an invoice still owed


@dataclass
class SyncReport:
    customers: Counter[str] = field(default_factory=Counter)
    invoices: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    cache_error: str | None = None

    def summary_lines(self) -> list[str]:
        def counts(kind: str, seen: Counter[str]) -> str:
            shown = ", ".join(f"{n} {outcome}" for outcome, n in sorted(seen.items()))
            return f"{kind}: {sum(seen.values())} read ({shown or 'none'})"

        lines = [counts("customers", self.customers), counts("invoices", self.invoices)]
        lines += [f"problem: {p}" for p in self.problems]
        if self.cache_error:
            lines.append(f"caller-lookup cache not cleared: {self.cache_error}")
        return lines


async def sync_stripe_billing(
    database: Database,
    api: StripeBillingApi,
    tenant_slug: str,
    *,
    since: datetime | None,
    actor: str,
    started: datetime,
    on_numbers_changed: NumbersChanged | None = None,
) -> SyncReport:
    """Raises `store.UnknownBusiness`, or `ProviderError` when Stripe cannot be read (the
    pages written before it stay: a re-run carries on)."""
    async with database.system_session() as session:
        business = await store.business_by_slug(session, tenant_slug)
    version = mapping.version_of(started)
    gte = int(since.timestamp()) if since else None
    report = SyncReport()
    sync = _Sync(database, business, version, report, By(actor))
    numbers: set[str] = set()
    async for page in _batches(api.customers(created_gte=gte)):
        numbers |= await sync.customers(page)
    seen: set[str] = set()
    for status in OWED:
        async for page in _batches(api.invoices(status, created_gte=gte)):
            seen |= await sync.invoices(page)
    if since is None:
        for stripe_id in await _open_here(database, business.tenant_id, seen):
            await sync.invoices([await api.invoice(stripe_id)])
    if numbers and on_numbers_changed is not None:
        try:
            await on_numbers_changed(business.tenant_id, numbers)
        except Exception as exc:  # the sync is committed: report, do not pretend it failed
            log.warning("stripe sync: caller-lookup cache not cleared: %r", exc)
            report.cache_error = type(exc).__name__
    return report


@dataclass
class _Sync:
    database: Database
    business: Business
    version: int
    report: SyncReport
    actor: By

    async def customers(self, objects: list[dict[str, Any]]) -> set[str]:
        return await _twice(self._customers, objects)

    async def invoices(self, objects: list[dict[str, Any]]) -> set[str]:
        return await _twice(self._invoices, objects)

    async def _customers(self, objects: list[dict[str, Any]]) -> set[str]:
        numbers: set[str] = set()
        page: Counter[str] = Counter()
        problems: list[str] = []
        async with self._transaction() as session:
            for obj in objects:
                try:
                    wanted = mapping.customer_record(obj, self.business, self.version)
                except WebhookMalformed as exc:
                    _refused(page, problems, f"customer {_id(obj)}: {exc}")
                    continue
                if wanted.phone_unusable:
                    problems.append(
                        f"customer {wanted.stripe_id}: phone is not a number in "
                        f"{self.business.region}; kept without it"
                    )
                written = await store.upsert_customer(session, self.business, wanted)
                page[written.outcome] += 1
                numbers |= written.numbers
            self._audit(session, "stripe.sync.customers", page)
        self.report.customers.update(page)
        self.report.problems += problems
        return numbers

    async def _invoices(self, objects: list[dict[str, Any]]) -> set[str]:
        seen: set[str] = set()
        accounts: set[int] = set()
        page: Counter[str] = Counter()
        problems: list[str] = []
        async with self._transaction() as session:
            for obj in objects:
                seen.add(_id(obj))
                try:
                    wanted = mapping.invoice_record(obj, self.business, self.version)
                except (WebhookMalformed, mapping.WrongCurrency) as exc:
                    _refused(page, problems, f"invoice {_id(obj)}: {exc}")
                    continue
                if wanted is None:
                    page["skipped_draft"] += 1
                    continue
                written = await store.upsert_invoice(session, self.business, wanted)
                page[written.outcome] += 1
                if written.account_id is not None:
                    accounts.add(written.account_id)
            for account_id in sorted(accounts):
                await store.state_stripe_balance(session, account_id)
            self._audit(session, "stripe.sync.invoices", page)
        self.report.invoices.update(page)
        self.report.problems += problems
        return seen

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        tenant = self.business.tenant_id
        async with self.database.tenant_session(tenant) as session, session.begin():
            yield session

    def _audit(self, session: AsyncSession, action: str, page: Counter[str]) -> None:
        if not page:
            return
        record(
            session, tenant_id=self.business.tenant_id, actor=self.actor, action=action,
            target=Target("tenant", self.business.tenant_id), details=dict(page),
        )  # fmt: skip


async def _twice(
    write: Callable[[list[dict[str, Any]]], Awaitable[set[str]]], objects: list[dict[str, Any]]
) -> set[str]:
    """A page refused by a unique key (a webhook making the same customer at that moment) is
    written again once: it then finds that customer."""
    try:
        return await write(objects)
    except IntegrityError:
        log.info("stripe sync: a page met a concurrent change; writing it again")
        return await write(objects)


def _refused(page: Counter[str], problems: list[str], problem: str) -> None:
    page["refused"] += 1
    problems.append(problem)


async def _batches(objects: AsyncIterator[dict[str, Any]]) -> AsyncIterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    async for obj in objects:
        batch.append(obj)
        if len(batch) == PAGE:
            yield batch
            batch = []
    if batch:
        yield batch


async def _open_here(database: Database, tenant_id: int, listed: Iterable[str]) -> list[str]:
    """Stripe invoices open here that the listing did not show as owed."""
    async with database.tenant_autocommit(tenant_id) as session:
        kept = await session.scalars(
            select(Invoice.provider_ref).where(
                Invoice.provider == mapping.PROVIDER, Invoice.status == "open"
            )
        )
        return sorted({ref for ref in kept if ref} - set(listed))


def _id(obj: dict[str, Any]) -> str:
    value = obj.get("id")
    return value[:64] if isinstance(value, str) else "(no id)"
