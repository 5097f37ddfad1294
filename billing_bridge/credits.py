"""Credits and discounts: an agent lowers what a customer owes, for a stated reason.

Limits hold in total over the business's period (`billing_bridge.credit_limits`): a credit
that fits, with what the granter already gave on their own authority in the period, under
their limit (`Tenant.credit_limits` by role, minor units of the tenant's currency, or the
user's own where an admin set `User.credit_limit_minor` above zero), and, with what the
account already got in the period, under the account's total (`Tenant.
credit_account_limit_minor`), is granted at once and lowers the account's balance in the
same transaction; anything else waits for a supervisor or an admin other than the requester.
Admins never wait. A credit that would take the balance below zero is refused (409
`balance_below_zero`) unless the business allows it (`Tenant.credits_below_zero`), whoever
grants or approves it. Every grant, request, approval and rejection is audited in the
transaction that makes it.

Totals are read only after the rows they depend on are locked (the granter's user row and
the account's row: `SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the transaction's first
statement is a write, which takes the database's one write lock), so two credits asked for
at the same moment cannot both fit under a limit that only one of them fits.

The functions take a tenant session inside a transaction and leave the commit to the caller,
so an API handler or a desk operation can add its own work to the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.credit_limits import (
    GRANTED,
    PENDING,
    Period,
    credit_status,
    limit_of,
    period_around,
    stays_within_zero,
)
from billing_bridge.events import changes
from billing_bridge.payments.ledger import post_account_entry
from pbx.audit import Target, record
from pbx.db.models import Account, Credit, Tenant, User
from pbx.db.tenancy import TENANT_KEY, CrossTenantAccess

# The reasons an agent may give, fixed so the report's rows mean the same in every business.
REASON_CODES: dict[str, str] = {
    "goodwill": "a gesture after a complaint",
    "retention_discount": "a discount to keep a customer who wants to leave",
    "billing_error": "the customer was charged wrongly",
    "service_outage": "compensation for time without service",
    "late_fee_waiver": "a late-payment fee taken back",
}
RETENTION = "retention_discount"
REJECTED = "rejected"
DECIDING_ROLES = frozenset({"supervisor", "admin"})


class Requester(Protocol):
    """Who grants or decides: `pbx.auth.roles.Principal` is one, so is `By`."""

    @property
    def user_id(self) -> int | None: ...
    @property
    def role(self) -> str: ...
    @property
    def label(self) -> str: ...


@dataclass(frozen=True, slots=True)
class By:
    user_id: int | None
    role: str
    label: str


class CreditError(Exception):
    """`code` is what the API and the desk answer with: not_found, invalid, forbidden,
    conflict."""

    code = "conflict"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class CreditNotFound(CreditError):
    code = "not_found"


class CreditRefused(CreditError):
    code = "invalid"


class NotAllowed(CreditError):
    code = "forbidden"


class AlreadyDecided(CreditError):
    code = "conflict"


class BelowZero(CreditError):
    """The credit would take the balance below zero, which the business does not allow."""

    code = "balance_below_zero"



# --- grants and decisions -------------------------------------------------------------------


async def grant_credit(
    session: AsyncSession,
    tenant: Tenant,
    *,
    account_id: int,
    amount_minor: int,
    currency: str,
    reason_code: str,
    note: str | None,
    call_id: int | None,
    by: Requester,
    now: datetime,
) -> Credit:
    """Grant at once when it fits under `by`'s period total (their own limit, else their
    role's) and the account's, else request approval; refuse one that would take the
    balance below zero where the business does not allow it. `call_id` is the call log row
    (`calls.id`) the credit was given in."""
    _same_tenant(session, tenant)
    if reason_code not in REASON_CODES:
        raise CreditRefused(f"unknown reason code {reason_code!r}", "reason_code")
    if amount_minor <= 0:
        raise CreditRefused("a credit must be more than zero", "amount_minor")
    account = await session.get(Account, account_id)
    if account is None:
        raise CreditNotFound("account not found")
    if currency != account.currency:
        raise CreditRefused(f"the account is in {account.currency}, not {currency}", "currency")
    balance = await _lock(session, account_id, by.user_id)
    _check_zero(tenant, balance, amount_minor, currency)
    period = period_around(tenant.credit_period, now, tenant.timezone)
    personal = await session.scalar(select(User.credit_limit_minor).where(User.id == by.user_id))
    status = credit_status(
        str(by.role), amount_minor, currency, tenant.currency, tenant.credit_limits or {},
        personal or 0,
        used_minor=await _granted_by(session, tenant, by.user_id, period),
        account_used_minor=await _taken_off(session, tenant, account_id, period),
        account_limit=tenant.credit_account_limit_minor,
    )  # fmt: skip
    credit = Credit(
        tenant_id=tenant.id, account_id=account_id, amount_minor=amount_minor, currency=currency,
        reason_code=reason_code, note=note or None, call_id=call_id, granted_by_id=by.user_id,
        status=status, created_at=now,
    )  # fmt: skip
    session.add(credit)
    await session.flush()
    if status == GRANTED:
        entry_id = await _lower_balance(session, credit)
        await changes.credit_decided(session, credit, "credit.granted", entry_id=entry_id)
    action = "credit.grant" if status == GRANTED else "credit.request"
    _audit(session, tenant, by, action, credit, now)
    return credit


async def decide(
    session: AsyncSession,
    tenant: Tenant,
    credit_id: int,
    approve: bool,
    by: Requester,
    now: datetime,
) -> Credit:
    """Approve (the balance is lowered now) or reject a pending credit, once."""
    _same_tenant(session, tenant)
    if str(by.role) not in DECIDING_ROLES:
        raise NotAllowed("only a supervisor or an admin approves credits")
    credit = await session.get(Credit, credit_id)
    if credit is None:
        raise CreditNotFound("credit not found")
    if credit.granted_by_id is not None and credit.granted_by_id == by.user_id:
        raise NotAllowed("a credit you asked for needs someone else to decide it")
    if credit.status != PENDING:
        raise AlreadyDecided(f"this credit is {credit.status} already")
    if approve:  # the balance may have changed since it was asked for
        balance = await _lock(session, credit.account_id, None)
        _check_zero(tenant, balance, credit.amount_minor, credit.currency)
    # Conditional on still pending: of two supervisors deciding at once only one changes
    # the row, so the balance is lowered once whatever the interleaving.
    changed = await session.execute(
        update(Credit)
        .where(Credit.id == credit_id, Credit.status == PENDING)
        .values(status=GRANTED if approve else REJECTED, approved_by_id=by.user_id,
                decided_at=now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyDecided("this credit was decided meanwhile")
    await session.refresh(credit)
    if approve:
        entry_id = await _lower_balance(session, credit)
        await changes.credit_decided(session, credit, "credit.approved", entry_id=entry_id)
    else:
        await changes.credit_decided(session, credit, "credit.rejected")
    _audit(session, tenant, by, "credit.approve" if approve else "credit.reject", credit, now)
    return credit


async def _lock(session: AsyncSession, account_id: int, user_id: int | None) -> int:
    """Lock the rows a credit's totals depend on (the granter's, then the account's: always
    in this order), and return the account's balance as it is now.

    PostgreSQL: row locks; a second credit for the same agent or account waits here until
    the first commits, and its totals (read after, each statement with a fresh snapshot
    under READ COMMITTED) include the first. SQLite has one writer at a time: a write as the
    transaction's first statement (the driver begins it there) takes that lock before any
    total is read. Nothing before it in the transaction may have written, or its reads
    would come from an older snapshot.
    """
    if session.bind.dialect.name == "postgresql":
        if user_id is not None:
            await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    else:
        await session.execute(
            update(Account).where(Account.id == account_id)
            .values(balance_minor=Account.balance_minor, updated_at=Account.updated_at)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    balance = await session.scalar(
        select(Account.balance_minor).where(Account.id == account_id).with_for_update()
    )
    if balance is None:
        raise CreditNotFound("account not found")
    return int(balance)


def _check_zero(tenant: Tenant, balance: int, amount_minor: int, currency: str) -> None:
    if not stays_within_zero(balance, amount_minor, tenant.credits_below_zero):
        raise BelowZero(
            f"the balance is {balance} (minor units of {currency}): a credit of {amount_minor} "
            "would take it below zero, which this business does not allow"
        )


async def _granted_by(
    session: AsyncSession, tenant: Tenant, user_id: int | None, period: Period
) -> int:
    """What the user granted on their own authority in the period (approved credits were
    someone else's decision), in the tenant's currency: what their limit is measured by."""
    if user_id is None:
        return 0
    total = await session.scalar(
        select(func.coalesce(func.sum(Credit.amount_minor), 0)).where(
            Credit.granted_by_id == user_id, Credit.status == GRANTED,
            Credit.approved_by_id.is_(None), Credit.currency == tenant.currency,
            Credit.created_at >= period.start, Credit.created_at < period.end,
        )
    )  # fmt: skip
    return int(total or 0)


async def _taken_off(session: AsyncSession, tenant: Tenant, account_id: int,
                     period: Period) -> int:  # fmt: skip
    """What credits took off the account in the period, whoever gave or approved them."""
    effective = func.coalesce(Credit.decided_at, Credit.created_at)
    total = await session.scalar(
        select(func.coalesce(func.sum(Credit.amount_minor), 0)).where(
            Credit.account_id == account_id, Credit.status == GRANTED,
            Credit.currency == tenant.currency, effective >= period.start,
            effective < period.end,
        )
    )  # fmt: skip
    return int(total or 0)


async def _lower_balance(session: AsyncSession, credit: Credit) -> int:
    # In SQL, not read-modify-write (a payment landing at the same moment is not lost), with
    # the account entry that says why, in the credit's transaction; the entry's id.
    entry = await post_account_entry(
        session, credit.tenant_id, account_id=credit.account_id, kind="credit",
        amount_minor=-credit.amount_minor, currency=credit.currency, credit_id=credit.id,
    )  # fmt: skip
    return entry.id


def _audit(
    session: AsyncSession, tenant: Tenant, by: Requester, action: str, credit: Credit,
    now: datetime,
) -> None:  # fmt: skip
    record(
        session, tenant_id=tenant.id, actor=by, action=action,
        target=Target("credit", credit.id), at=now,
        details={
            "account_id": credit.account_id, "amount_minor": credit.amount_minor,
            "currency": credit.currency, "reason_code": credit.reason_code,
            "status": credit.status, "call_id": credit.call_id,
            "requested_by": credit.granted_by_id, "note": credit.note,
        },
    )  # fmt: skip


def _same_tenant(session: AsyncSession, tenant: Tenant) -> None:
    """The tenant row decides limits and currency: it must be the session's own."""
    if session.info.get(TENANT_KEY) != tenant.id:
        raise CrossTenantAccess(f"tenant {tenant.id} given to another tenant's session")


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReasonTotal:
    reason_code: str
    currency: str
    count: int
    total_minor: int


@dataclass(frozen=True, slots=True)
class AgentTotal:
    agent_id: int | None
    agent: str  # the username ("" for a credit whose granter is gone)
    currency: str
    count: int
    total_minor: int


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    currency: str
    count: int
    total_minor: int


@dataclass(frozen=True, slots=True)
class LimitUse:
    """What a user granted on their own authority in a limit period, against their limit
    (None: they have none, so every credit of theirs waits for approval)."""

    agent_id: int
    agent: str
    role: str
    used_minor: int
    limit_minor: int | None
    remaining_minor: int


@dataclass(frozen=True, slots=True)
class CreditReport:
    date_from: datetime
    date_to: datetime
    by_reason: list[ReasonTotal]
    by_agent: list[AgentTotal]
    retention_cost: list[CurrencyTotal]  # retention discounts granted, per currency
    limit_period: Period  # the period `against_limits` covers
    against_limits: list[LimitUse]


async def credit_report(
    session: AsyncSession, tenant: Tenant, *, date_from: datetime, date_to: datetime,
    limits_at: datetime,
) -> CreditReport:  # fmt: skip
    """Credits that took effect in [date_from, date_to): granted at once (when asked) or
    approved (when decided). Pending and rejected credits cost nothing and are left out.
    Totals are per currency: amounts in different currencies are never added. With them,
    what each agent and supervisor granted in the limit period holding `limits_at`, against
    their limit."""
    _same_tenant(session, tenant)
    # An approved credit hits the balance when it is decided, not when it was asked for.
    effective = func.coalesce(Credit.decided_at, Credit.created_at)
    window = (Credit.status == GRANTED, effective >= date_from, effective < date_to)
    count, total = func.count(Credit.id), func.sum(Credit.amount_minor)

    reasons = await session.execute(
        select(Credit.reason_code, Credit.currency, count, total).where(*window)
        .group_by(Credit.reason_code, Credit.currency)
        .order_by(Credit.reason_code, Credit.currency)
    )  # fmt: skip
    by_reason = [ReasonTotal(r, c, int(n), int(t)) for r, c, n, t in reasons]

    agents = await session.execute(
        select(Credit.granted_by_id, User.username, Credit.currency, count, total)
        .outerjoin(User, User.id == Credit.granted_by_id).where(*window)
        .group_by(Credit.granted_by_id, User.username, Credit.currency)
        .order_by(User.username, Credit.currency)
    )  # fmt: skip
    by_agent = [AgentTotal(a, u or "", c, int(n), int(t)) for a, u, c, n, t in agents]

    retention = [
        CurrencyTotal(row.currency, row.count, row.total_minor)
        for row in by_reason
        if row.reason_code == RETENTION
    ]
    period = period_around(tenant.credit_period, limits_at, tenant.timezone)
    against = await _against_limits(session, tenant, period)
    return CreditReport(date_from, date_to, by_reason, by_agent, retention, period, against)


async def _against_limits(session: AsyncSession, tenant: Tenant, period: Period) -> list[LimitUse]:
    """Every active agent and supervisor, and anyone else (not an admin: admins have no
    limit) who granted on their own authority in the period, by username."""
    used = {user: total for user, total in await session.execute(
        select(Credit.granted_by_id, func.sum(Credit.amount_minor)).where(
            Credit.status == GRANTED, Credit.approved_by_id.is_(None),
            Credit.currency == tenant.currency, Credit.created_at >= period.start,
            Credit.created_at < period.end, Credit.granted_by_id.is_not(None),
        ).group_by(Credit.granted_by_id)
    )}  # fmt: skip
    people = await session.execute(
        select(User.id, User.username, User.role, User.credit_limit_minor)
        .where(User.role != "admin")
        .where((User.active.is_(True) & User.role.in_(("agent", "supervisor")))
               | User.id.in_(list(used)))
        .order_by(User.username)
    )  # fmt: skip
    rows = []
    for user_id, username, role, personal in people:
        spent = int(used.get(user_id) or 0)
        limit = limit_of(role, tenant.credit_limits or {}, personal)
        left = max(limit - spent, 0) if limit is not None else 0
        rows.append(LimitUse(user_id, username, role, spent, limit, left))
    return rows


def credit_dict(credit: Credit) -> dict[str, Any]:
    """A credit as JSON-able data (what the desk operations return)."""
    return {
        "id": credit.id, "account_id": credit.account_id, "amount_minor": credit.amount_minor,
        "currency": credit.currency, "reason_code": credit.reason_code, "status": credit.status,
        "note": credit.note, "call_record_id": credit.call_id,
        "requested_by_id": credit.granted_by_id, "decided_by_id": credit.approved_by_id,
        "created_at": credit.created_at.isoformat(),
        "decided_at": credit.decided_at.isoformat() if credit.decided_at else None,
    }  # fmt: skip
