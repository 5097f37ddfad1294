"""The database side of identification: who owns a number, and where their accounts stand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Select,
    and_,
    bindparam,
    cast,
    func,
    select,
    true,
)
from sqlalchemy.exc import DBAPIError

from billing_bridge.identification.batching import Batches
from billing_bridge.identification.model import AccountSummary, Candidate, CustomerProfile
from billing_bridge.phones import to_e164
from pbx.db.database import Database
from pbx.db.models import Account, Customer, CustomerPhone, InboundNumber, Invoice, Tenant
from pbx.db.scoped import SCOPE, Scoped


@dataclass(frozen=True, slots=True)
class TenantInfo:
    tenant_id: int
    slug: str
    default_region: str
    currency: str
    timezone: str
    language: str = "en"  # what its callers hear (the call flow sets the channel's)


@dataclass(frozen=True, slots=True)
class _Asked:
    """What lookups must share to go in one statement: the business, the cap on holders and
    the business's today (overdue is counted from it, and time zones differ)."""

    tenant_id: int
    limit: int
    today: date


# A holder and one of their accounts (all None when they have none), as `_LOOKUP` gives them.
_Row = Sequence[Any]


class CustomerDirectory:
    def __init__(self, database: Database, batch_size: int = 64) -> None:
        self._database = database
        self._lookups: Batches[_Asked, str, list[_Row]] = Batches(self._look_up, batch_size)

    async def tenant_for_did(self, dialed: str, fallback_region: str) -> TenantInfo | None:
        """The business that owns the dialed number, however the trunk wrote it: E.164, digits
        without the plus, or national form in any region a business here is in. A disabled
        business owns none (its calls get the dialplan's fallback)."""
        raw = dialed.strip()
        forms = {raw, "+" + raw} if raw.isdigit() else {raw}
        async with self._database.system_session() as session:
            regions = set(
                (await session.execute(select(Tenant.default_region).distinct())).scalars()
            )
            for region in regions | {fallback_region}:
                if e164 := to_e164(raw, region):
                    forms.add(e164)
            row = (
                await session.execute(
                    select(Tenant)
                    .join(InboundNumber, InboundNumber.tenant_id == Tenant.id)
                    .where(InboundNumber.e164.in_(forms), Tenant.disabled.is_(False))
                    .limit(1)
                )
            ).scalar_one_or_none()
        return _tenant_info(row) if row else None

    async def tenant_by_slug(self, slug: str) -> TenantInfo | None:
        async with self._database.system_session() as session:
            row = (
                await session.execute(
                    select(Tenant).where(Tenant.slug == slug, Tenant.disabled.is_(False))
                )
            ).scalar_one_or_none()
        return _tenant_info(row) if row else None

    async def owners_of(
        self, tenant: TenantInfo, e164: str, limit: int, today: date
    ) -> tuple[list[Candidate], CustomerProfile | None]:
        """The customers who hold a number, and the profile when exactly one does. A lookup
        is on the call's critical path: it goes out at once, or, while another of the same
        business is in flight, in one statement with the others that arrive meanwhile."""
        rows = await self._lookups.ask(_Asked(tenant.tenant_id, limit, today), e164)
        holders: dict[int, tuple[Candidate, list[AccountSummary]]] = {}
        for row in rows:
            candidate = Candidate(*row[:4])
            _, accounts = holders.setdefault(candidate.customer_id, (candidate, []))
            if row[4] is not None:
                accounts.append(AccountSummary(*row[4:]))
        candidates = [candidate for candidate, _ in holders.values()]
        if len(candidates) != 1:
            return candidates, None
        candidate, accounts = next(iter(holders.values()))
        return candidates, _profile(tenant, candidate, tuple(accounts))

    async def warm(self) -> None:
        """Connections open and the lookups prepared on each before the first caller."""
        params = {"limit": 1, "today": date(2000, 1, 1)}
        statements = [(_LOOKUP, params | {"e164": "+0"})]
        if self._database.dialect == "postgresql":
            statements.append((_LOOKUP_MANY, params | {"numbers": ["+0", "+1"]}))
        await self._database.warm(statements)

    async def _look_up(self, asked: _Asked, numbers: list[str]) -> dict[str, list[_Row]]:
        try:
            return await self._read(asked, numbers)
        except DBAPIError as exc:
            # The pool does not ping before each use (a round trip per call): a connection
            # the database dropped (restart, failover) fails once and is replaced.
            if not exc.connection_invalidated:
                raise
            return await self._read(asked, numbers)

    async def _read(self, asked: _Asked, numbers: list[str]) -> dict[str, list[_Row]]:
        # A prebuilt statement on a bare connection: the ORM session's per-statement work
        # (re-scoping, compiling, result objects) cost ten times the query on this path.
        found: dict[str, list[_Row]] = {number: [] for number in numbers}
        params: dict[str, object] = {"limit": asked.limit, "today": asked.today}
        async with self._database.tenant_connection(asked.tenant_id) as connection:
            if len(numbers) > 1 and self._database.dialect == "postgresql":
                for row in await connection.rows(_LOOKUP_MANY, params | {"numbers": numbers}):
                    found[row[0]].append(row[1:])
                return found
            # One number (the usual case below a few calls at once) costs less as itself;
            # SQLite has no LATERAL: there, one statement a number, on one connection.
            for number in numbers:
                found[number] = list(await connection.rows(_LOOKUP, params | {"e164": number}))
        return found


def _tenant_info(row: Tenant) -> TenantInfo:
    return TenantInfo(row.id, row.slug, row.default_region, row.currency, row.timezone,
                      row.language or "en")  # fmt: skip


class _ScopedInParts(Scoped):
    """A statement whose parts are each `Scoped` where they read a tenant's table, put
    together by hand: the filter `Scoped` adds outside would join those tables once more."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement, self.compiled, self.inserts = statement, {}, False


# Built once: building a statement costs more than running it.
_HOLDERS = Scoped(
    select(Customer.id, Customer.customer_ref, Customer.name, Customer.last_contact_at)
    .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
    .where(CustomerPhone.e164 == bindparam("e164"))
    .order_by(Customer.name, Customer.id)
    .limit(bindparam("limit")),
    Customer, CustomerPhone,
).statement.subquery("holders")  # fmt: skip

# What is overdue on an account today: open and due before today. Correlated per account, so
# only the holders' invoices are read (ix_invoices_account_open), never the whole ledger.
_OVERDUE = and_(
    Invoice.account_id == Account.id,
    Invoice.status == "open",
    Invoice.due_on < bindparam("today", type_=Date),
)
# SUM of a BIGINT is NUMERIC on PostgreSQL: money stays an integer.
_OVERDUE_SUM = select(cast(func.coalesce(func.sum(Invoice.outstanding_minor), 0), BigInteger))
_OVERDUE_COUNT = select(func.count())


def _with_accounts(holders: Any, source: Any, *leading: Any) -> _ScopedInParts:
    """`holders` (read from `source`), each with each account's balance and overdue amount,
    after the `leading` columns."""
    return _ScopedInParts(
        select(
            *leading,
            holders,
            Account.id,
            Account.account_ref,
            Account.currency,
            Account.balance_minor,
            Account.status,
            Account.vip,
            Scoped(_OVERDUE_SUM.where(_OVERDUE), Invoice, Account).statement.scalar_subquery(),
            Scoped(_OVERDUE_COUNT.where(_OVERDUE), Invoice, Account).statement.scalar_subquery(),
        )
        .select_from(source)
        .outerjoin(
            Account,
            and_(Account.customer_id == holders.c.id, Account.tenant_id == bindparam(SCOPE)),
        )
        .order_by(holders.c.name, holders.c.id, Account.id)
    )


# The holders of a number, each with each account's balance and overdue amount.
_LOOKUP = _with_accounts(_HOLDERS, _HOLDERS)

# `_LOOKUP` for many numbers at once (PostgreSQL): each number's holders with its own LIMIT
# and order, then their accounts as above; the number leads each row. One parameter, not an
# IN list, so the statement is the same for any count of numbers and is prepared once. A
# JSON array, not a SQL one: PostgreSQL sizes `unnest` of an array by the value bound, so it
# planned the statement anew at every run (0.3 ms, more than running it); a JSON array's
# size is a constant guess, so after a few runs its plan is kept like any other's.
_NUMBERS = (
    func.json_array_elements_text(bindparam("numbers", type_=JSON))
    .table_valued("e164")
    .render_derived()
    .alias("numbers")
)
_EACH_HOLDERS = Scoped(
    select(Customer.id, Customer.customer_ref, Customer.name, Customer.last_contact_at)
    .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
    .where(CustomerPhone.e164 == _NUMBERS.c.e164)
    .order_by(Customer.name, Customer.id)
    .limit(bindparam("limit")),
    Customer, CustomerPhone,
).statement.lateral("holders")  # fmt: skip
_LOOKUP_MANY = _with_accounts(_EACH_HOLDERS, _NUMBERS.join(_EACH_HOLDERS, true()), _NUMBERS.c.e164)


def _profile(
    tenant: TenantInfo, customer: Candidate, accounts: tuple[AccountSummary, ...]
) -> CustomerProfile:
    currencies = [a.currency for a in accounts]
    # The business's own currency leads; a customer billed only in another shows that one.
    headline = (
        currencies[0] if currencies and tenant.currency not in currencies else tenant.currency
    )
    return CustomerProfile(
        customer_id=customer.customer_id,
        customer_ref=customer.customer_ref,
        name=customer.name,
        last_contact_at=customer.last_contact_at,
        accounts=accounts,
        headline_currency=headline,
    )
