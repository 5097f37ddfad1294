"""Credits as the API asks for them outside a call: granted on an account of the business,
decided by a supervisor, listed for whoever may see them (`billing_bridge.credits` holds
the rules; a credit in a call goes through `billing_bridge.call_credits`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.credits import CreditNotFound, Requester, decide, grant_credit
from billing_bridge.money_settings import business
from pbx.db.models import Account, Credit

PAGE = 100


@dataclass(frozen=True)
class CreditAsked:
    account_id: int
    amount_minor: int
    currency: str | None  # None: the account's
    reason_code: str
    note: str | None = None


@dataclass(frozen=True)
class CreditFilter:
    status: str | None = None
    account_id: int | None = None
    asked_by: int | None = None  # only the credits this user asked for (an agent's view)


async def grant_on_account(
    session: AsyncSession, tenant_id: int, asked: CreditAsked, *, by: Requester, now: datetime
) -> Credit:
    """Grant (or request) a credit on one of the business's accounts, off any call."""
    tenant = await business(session, tenant_id)
    account = await session.get(Account, asked.account_id)
    if account is None:
        raise CreditNotFound("account not found")
    return await grant_credit(
        session, tenant, account_id=account.id, amount_minor=asked.amount_minor,
        currency=asked.currency or account.currency, reason_code=asked.reason_code,
        note=asked.note, call_id=None, by=by, now=now,
    )  # fmt: skip


async def decide_credit(
    session: AsyncSession, tenant_id: int, credit_id: int, *, approve: bool, by: Requester,
    now: datetime,
) -> Credit:  # fmt: skip
    return await decide(session, await business(session, tenant_id), credit_id, approve, by, now)


async def recent_credits(session: AsyncSession, only: CreditFilter) -> list[Credit]:
    """The newest credits (a page of them) that match."""
    query = select(Credit).order_by(Credit.id.desc()).limit(PAGE)
    if only.status is not None:
        query = query.where(Credit.status == only.status)
    if only.account_id is not None:
        query = query.where(Credit.account_id == only.account_id)
    if only.asked_by is not None:
        query = query.where(Credit.granted_by_id == only.asked_by)
    return list(await session.scalars(query))
