"""A credit given in a call: behind the identity gate, on the caller's own account only,
in one transaction with the gate's reading (`billing_bridge.credits` does the granting)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing_bridge.call_verification import CallNotFound, gate_in_session
from billing_bridge.credits import By, CreditNotFound, grant_credit
from pbx.db.database import Database
from pbx.db.models import Account, Credit, User


@dataclass(frozen=True, slots=True)
class CallCredit:
    tenant_id: int
    call_record_id: int
    customer_id: int | None  # the caller, as identified: only their accounts
    ivr_outcome: str | None  # what the IVR found, on the live call
    account_id: int
    amount_minor: int
    currency: str | None  # None: the account's
    reason_code: str
    note: str | None
    user_id: int
    label: str


@dataclass(frozen=True, slots=True)
class CreditView:
    """A credit as the desk answers with it."""

    id: int
    account_id: int
    amount_minor: int
    currency: str
    reason_code: str
    status: str
    note: str | None
    call_record_id: int | None
    requested_by_id: int | None
    decided_by_id: int | None
    created_at: datetime
    decided_at: datetime | None


def credit_view(credit: Credit) -> CreditView:
    return CreditView(
        credit.id, credit.account_id, credit.amount_minor, credit.currency, credit.reason_code,
        credit.status, credit.note, credit.call_id, credit.granted_by_id,
        credit.approved_by_id, credit.created_at, credit.decided_at,
    )  # fmt: skip


async def grant_in_call(database: Database, order: CallCredit, now: datetime) -> CreditView:
    """Raises `CallNotFound`, `CallerNotVerified`, or a `CreditError`."""
    async with database.tenant_session(order.tenant_id) as session, session.begin():
        user = await session.get(User, order.user_id)
        if user is None:
            raise CallNotFound()
        tenant = await gate_in_session(session, order.tenant_id, order.call_record_id,
                                       order.ivr_outcome)  # fmt: skip
        account = await session.get(Account, order.account_id)
        # In a call, only the caller's own accounts: the gate vouches for this caller only.
        if account is None or account.customer_id != order.customer_id:
            raise CreditNotFound(f"no account {order.account_id} for this caller")
        credit = await grant_credit(
            session, tenant, account_id=account.id, amount_minor=order.amount_minor,
            currency=order.currency or account.currency, reason_code=order.reason_code,
            note=order.note, call_id=order.call_record_id,
            by=By(order.user_id, user.role, order.label), now=now,
        )  # fmt: skip
        return credit_view(credit)
