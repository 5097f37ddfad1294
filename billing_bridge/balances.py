"""The balance an agent sees, explained: what the billing system last stated, adjusted by what
Ledgerline took or granted since that the billing system has not yet acknowledged.

The billing system owns invoices and the balance it states. Ledgerline's own balance changes
(payments, refunds, chargebacks, credits) are `account_entries` rows, each told to the billing
system by a `billing_events` row that carries it (`entry_id`); such an entry is *pending in
billing* until its event is acknowledged. When the billing system states a balance B:

    balance_minor := B + (sum of the account's entries still pending in billing)

written as a `statement` entry for the difference (none when nothing changes), so an
account's entries still add up to how its balance moved. See docs/balances.md.

An entry is carried by one event (the event written with it, in its transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.ingest.sql import among, cached_plans, insert_rows
from pbx.db.models import Account, AccountEntry, BillingEvent
from pbx.db.types import utcnow

# Ledgerline's own balance changes: the kinds that can be pending in billing.
OWN_KINDS = ("payment", "payment_reversed", "refund", "chargeback", "chargeback_reversed", "credit")


class UnknownEvents(LookupError):
    """Acknowledged event ids that are not this business's events. Refused, not ignored: a
    balance stated as including an event Ledgerline cannot find would be counted wrong."""

    def __init__(self, event_ids: Sequence[str]) -> None:
        shown = ", ".join(event_ids[:5]) + (" ..." if len(event_ids) > 5 else "")
        super().__init__(f"acknowledged_events: no such event of this business: {shown}")
        self.field = "acknowledged_events"
        self.event_ids = tuple(event_ids)


async def state_balance(
    session: AsyncSession,
    account: Account,
    reported_minor: int,
    *,
    acknowledged_event_ids: Sequence[str] = (),
) -> int:
    """The billing system states `account`'s balance as `reported_minor`, including the events
    it names as acknowledged (marked so here): the account's balance becomes that plus what is
    still pending in billing, with a `statement` entry for the difference. Returns the new
    balance. Runs in the caller's transaction (the caller audits the change it belongs to).

    The account's row is locked before the pending sum is read, so a payment committing at
    the same moment is either counted as pending or applied after, never lost. Raises
    `UnknownEvents` (before anything is written) if an acknowledged id is not an event of
    the account's business; an event of another account of that business is acknowledged.
    """
    await session.flush()  # the account itself may be new
    ids = sorted(set(acknowledged_event_ids))
    if ids:
        found = set(
            await session.scalars(select(BillingEvent.public_id).where(
                BillingEvent.public_id.in_(ids)
            ))
        )  # fmt: skip
        missing = [event_id for event_id in ids if event_id not in found]
        if missing:
            raise UnknownEvents(missing)
        await session.execute(
            update(BillingEvent)
            .where(BillingEvent.public_id.in_(ids), BillingEvent.acknowledged_at.is_(None))
            .values(acknowledged_at=utcnow())
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    balances = await state_balances(session, account.tenant_id, {account.id: reported_minor})
    if account.id not in balances:
        raise LookupError(f"no account {account.id}")
    await session.refresh(account, ["balance_minor", "reported_balance_minor", "reported_at"])
    return balances[account.id]


async def state_balances(
    session: AsyncSession,
    tenant_id: int,
    stated: Mapping[int, int],
    *,
    also: Mapping[int, Mapping[str, Any]] | None = None,
    now: datetime | None = None,
) -> dict[int, int]:
    """The billing system states each account's (by id) balance, many at once, in the
    caller's transaction: each balance becomes the stated one plus what is still pending in
    billing, with a `statement` entry for the difference, and the stated balance and its time
    are kept. One statement per step for the whole set (lock, pending read, one executemany
    update, one insert of entries), not a handful of round trips per account. Returns the new
    balances; an account that no longer exists is left out.

    `also`: other columns of an account to set in the same update (its currency: the
    statement entry is in it). The rows are locked (in id order) before the pending sums are
    read, so a payment committing at the same moment is either counted as pending or applied
    after, never lost."""
    if not stated:
        return {}
    also = also or {}
    now = now or utcnow()
    ids = sorted(stated)
    held = await _lock(session, ids)
    pending = await pending_in_billing(session, ids)
    entries, accounts, balances = [], [], {}
    for account_id, balance, currency in held:
        columns = also.get(account_id, {})
        currency = columns.get("currency", currency)
        balances[account_id] = stated[account_id] + pending.get(account_id, 0)
        if balances[account_id] != balance:
            entries.append({
                "tenant_id": tenant_id, "account_id": account_id, "kind": "statement",
                "amount_minor": balances[account_id] - balance, "currency": currency,
                "balance_after_minor": balances[account_id], "created_at": now,
            })  # fmt: skip
        accounts.append({
            **columns, "id": account_id, "balance_minor": balances[account_id],
            "reported_balance_minor": stated[account_id], "reported_at": now,
        })  # fmt: skip
    if accounts:  # ORM bulk UPDATE by primary key: one executemany, one plan
        async with cached_plans(session):
            await session.execute(update(Account), accounts)
    await insert_rows(session, AccountEntry, tenant_id, entries)
    return balances


async def pending_in_billing(session: AsyncSession, account_ids: Iterable[int]) -> dict[int, int]:
    """Per account, the sum of its entries still pending in billing (signed as balances are:
    a payment is negative). Accounts with nothing pending are left out."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(AccountEntry.account_id, func.sum(AccountEntry.amount_minor))
        .join(BillingEvent, BillingEvent.entry_id == AccountEntry.id)
        .where(AccountEntry.account_id.in_(ids), AccountEntry.kind.in_(OWN_KINDS),
               BillingEvent.acknowledged_at.is_(None))
        .group_by(AccountEntry.account_id)
    )  # fmt: skip
    return {account_id: int(total) for account_id, total in rows if total}


async def _lock(session: AsyncSession, ids: Sequence[int]) -> list[tuple[int, int, str]]:
    """Lock the accounts' rows (in id order) and return each one's id, balance as it is now
    and currency.

    PostgreSQL: row locks; a payment or credit of these accounts committing meanwhile is
    waited for, and the reads after it (each statement a fresh snapshot under READ COMMITTED)
    include it. SQLite has one writer at a time: a write takes that lock (as in
    `billing_bridge.credits`).
    """
    if session.bind.dialect.name != "postgresql":
        await session.execute(
            update(Account).where(among(Account.id, ids))
            .values(balance_minor=Account.balance_minor)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    rows = await session.execute(
        select(Account.id, Account.balance_minor, Account.currency)
        .where(among(Account.id, ids)).order_by(Account.id).with_for_update()
    )  # fmt: skip
    return [(account_id, int(balance), currency) for account_id, balance, currency in rows]
