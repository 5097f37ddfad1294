"""Credits and discounts: an agent lowers what a customer owes, for a stated reason.

A credit within the granting role's limit (`Tenant.credit_limits`, minor units of the
tenant's currency), or within the user's own limit where an admin set one above zero
(`User.credit_limit_minor`, which then replaces the role's), is granted at once and lowers
the account's balance in the same transaction; above it, or for a role with no limit set,
it waits for a supervisor or an admin other than the requester. Admins never wait. Every
grant, request, approval and rejection is audited in the transaction that makes it.

The functions take a tenant session inside a transaction and leave the commit to the caller,
so an API handler or a desk operation can add its own work to the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.db.models import Account, AuditEntry, Credit, Tenant, User
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
GRANTED, PENDING, REJECTED = "granted", "pending_approval", "rejected"
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


# --- the limit rule (pure) ------------------------------------------------------------------


def credit_status(
    role: str,
    amount_minor: int,
    currency: str,
    tenant_currency: str,
    limits: Mapping[str, Any],
    personal_limit: int = 0,
) -> str:
    """GRANTED when `role` (or the user, with a `personal_limit` above zero) may give
    `amount_minor` on their own, else PENDING.

    Limits are in the tenant's currency; a credit in another currency cannot be compared
    without an exchange rate we do not keep, so it waits for approval. A limit that is not
    a whole non-negative number (a hand-edited row) counts as no limit: approval is the
    safe side.
    """
    if role == "admin":
        return GRANTED
    if currency != tenant_currency:
        return PENDING
    limit = personal_limit if personal_limit > 0 else limits.get(role)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        return PENDING
    return GRANTED if amount_minor <= limit else PENDING


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
    """Grant at once within `by`'s limit (their own, else their role's), else request
    approval. `call_id` is the call log row (`calls.id`) the credit was given in."""
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
    personal = await session.scalar(select(User.credit_limit_minor).where(User.id == by.user_id))
    status = credit_status(
        str(by.role),
        amount_minor,
        currency,
        tenant.currency,
        tenant.credit_limits or {},
        personal or 0,
    )
    credit = Credit(
        tenant_id=tenant.id, account_id=account_id, amount_minor=amount_minor, currency=currency,
        reason_code=reason_code, note=note or None, call_id=call_id, granted_by_id=by.user_id,
        status=status, created_at=now,
    )  # fmt: skip
    session.add(credit)
    await session.flush()
    if status == GRANTED:
        await _lower_balance(session, account_id, amount_minor)
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
        await _lower_balance(session, credit.account_id, credit.amount_minor)
    _audit(session, tenant, by, "credit.approve" if approve else "credit.reject", credit, now)
    return credit


async def _lower_balance(session: AsyncSession, account_id: int, amount_minor: int) -> None:
    # In SQL, not read-modify-write: a payment landing at the same moment is not lost.
    await session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(balance_minor=Account.balance_minor - amount_minor)
    )


def _audit(
    session: AsyncSession, tenant: Tenant, by: Requester, action: str, credit: Credit,
    now: datetime,
) -> None:  # fmt: skip
    session.add(AuditEntry(
        tenant_id=tenant.id, actor_id=by.user_id, actor_label=by.label, action=action,
        target_type="credit", target_id=str(credit.id), created_at=now,
        details={
            "account_id": credit.account_id, "amount_minor": credit.amount_minor,
            "currency": credit.currency, "reason_code": credit.reason_code,
            "status": credit.status, "call_id": credit.call_id,
            "requested_by": credit.granted_by_id, "note": credit.note,
        },
    ))  # fmt: skip


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
class CreditReport:
    date_from: datetime
    date_to: datetime
    by_reason: list[ReasonTotal]
    by_agent: list[AgentTotal]
    retention_cost: list[CurrencyTotal]  # retention discounts granted, per currency


async def credit_report(
    session: AsyncSession, tenant: Tenant, *, date_from: datetime, date_to: datetime
) -> CreditReport:
    """Credits that took effect in [date_from, date_to): granted at once (when asked) or
    approved (when decided). Pending and rejected credits cost nothing and are left out.
    Totals are per currency: amounts in different currencies are never added."""
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
    return CreditReport(date_from, date_to, by_reason, by_agent, retention)


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
