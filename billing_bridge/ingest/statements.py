"""Balances a batch states, many accounts at once: `billing_bridge.balances.state_balance`'s
rule (the stated balance plus what is pending in billing, a `statement` entry for the
difference, the stated balance and its time kept) with one statement per step for a whole
chunk instead of a handful of round trips per account, which held a batch of accounts to a
few hundred a second. A record that acknowledges events goes through `state_balance` itself
(it marks them first); this is only for the others."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.balances import pending_in_billing
from billing_bridge.ingest.sql import among, insert_rows
from pbx.db.models import Account, AccountEntry
from pbx.db.types import utcnow


async def state_balances(session: AsyncSession, tenant_id: int, stated: Mapping[int, int]) -> None:
    """Each account (by id) stated at its balance, in the caller's transaction. The rows are
    locked (in id order) before what is pending is read, as `state_balance` locks its one."""
    if not stated:
        return
    ids = sorted(stated)
    held = await session.execute(
        select(Account.id, Account.balance_minor, Account.currency)
        .where(among(Account.id, ids)).order_by(Account.id).with_for_update()
    )  # fmt: skip
    rows = list(held)
    pending = await pending_in_billing(session, ids)
    now = utcnow()
    entries, accounts = [], []
    for account_id, balance, currency in rows:
        balance_now = stated[account_id] + pending.get(account_id, 0)
        if balance_now != balance:
            entries.append({
                "tenant_id": tenant_id, "account_id": account_id, "kind": "statement",
                "amount_minor": balance_now - balance, "currency": currency,
                "balance_after_minor": balance_now, "created_at": now,
            })  # fmt: skip
        reported = stated[account_id]
        accounts.append({"id": account_id, "balance_minor": balance_now,
                         "reported_balance_minor": reported, "reported_at": now})  # fmt: skip
    if accounts:
        await session.execute(update(Account), accounts)
    await insert_rows(session, AccountEntry, tenant_id, entries)
