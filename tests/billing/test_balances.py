"""Balances explained: what the billing system states, adjusted by what is pending in billing."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.balances import UnknownEvents, pending_in_billing, state_balance
from billing_bridge.payments.ledger import post_entry, record_card_payment
from billing_bridge.payments.port import ChargeResult, PaymentStatus
from billing_bridge.screen_pop import customer_panel
from pbx.db.database import Database
from pbx.db.models import Account, AccountEntry, BillingEvent
from tests.factories import make_customer, make_tenant
from tests.locks import until_a_statement_waits_on_a_lock

_SEQ = itertools.count(1)


class Books:
    """A business with one customer's account, and what Ledgerline and billing do to it."""

    def __init__(self, database: Database, tenant: int, account: int) -> None:
        self.database, self.tenant, self.account = database, tenant, account

    @classmethod
    async def open(cls, database: Database, slug: str = "ofek", balance: int = 0) -> Books:
        tenant = await make_tenant(database, slug, "IL", "ILS", [f"+9723763{next(_SEQ):04d}"])
        customer = await make_customer(database, tenant, "C-1", "Dana", ["+972501234567"], [
            {"ref": "A-1", "currency": "ILS", "balance_minor": balance}])  # fmt: skip
        async with database.tenant_session(tenant) as session:
            account = await session.scalar(
                select(Account.id).where(Account.customer_id == customer)
            )
        return cls(database, tenant, account)

    async def take(self, kind: str, amount_minor: int, *, told: bool = True) -> str | None:
        """Ledgerline moves the balance (a payment is negative) and, if `told`, writes the
        event that tells billing, as the events outbox does; the event's id."""
        async with self.database.tenant_session(self.tenant) as session, session.begin():
            await _lock_for_update(session, self.account)
            return await _post_and_tell(session, self.tenant, self.account, kind, amount_minor,
                                        told=told)  # fmt: skip

    async def state(self, reported: int, acknowledged: tuple[str | None, ...] = ()) -> int:
        async with self.database.tenant_session(self.tenant) as session, session.begin():
            account = await session.get(Account, self.account)
            assert account is not None
            return await state_balance(
                session, account, reported,
                acknowledged_event_ids=[a for a in acknowledged if a is not None],
            )  # fmt: skip

    async def shown(self) -> tuple[int, int | None, int]:
        """The balance shown, the balance billing last stated, and what is pending."""
        async with self.database.tenant_session(self.tenant) as session:
            account = await session.get(Account, self.account)
            assert account is not None
            pending = await pending_in_billing(session, [self.account])
            return (
                account.balance_minor,
                account.reported_balance_minor,
                pending.get(self.account, 0),
            )

    async def entries(self) -> list[tuple[str, int, int]]:
        async with self.database.tenant_session(self.tenant) as session:
            rows = await session.execute(
                select(AccountEntry.kind, AccountEntry.amount_minor,
                       AccountEntry.balance_after_minor)
                .where(AccountEntry.account_id == self.account).order_by(AccountEntry.id)
            )  # fmt: skip
            return [tuple(row) for row in rows]


async def _lock_for_update(session: AsyncSession, account_id: int) -> None:
    await session.scalar(select(Account.id).where(Account.id == account_id).with_for_update())


async def _post_and_tell(
    session: AsyncSession,
    tenant: int,
    account: int,
    kind: str,
    amount_minor: int,
    *,
    told: bool = True,
) -> str | None:
    await post_entry(session, tenant, account_id=account, kind=kind,
                     amount_minor=amount_minor, currency="ILS")  # fmt: skip
    await session.flush()
    entry_id = await session.scalar(select(func.max(AccountEntry.id)))
    if not told:
        return None
    seq = next(_SEQ)
    public_id = f"evt_test{seq:08d}"
    session.add(BillingEvent(tenant_id=tenant, seq=seq, public_id=public_id,
                             type="payment.succeeded", version="2026-12-01", account_id=account,
                             entry_id=entry_id, data={}))  # fmt: skip
    await session.flush()
    return public_id


async def test_a_stated_balance_is_shown_as_stated_when_nothing_is_pending(
    database: Database,
) -> None:
    books = await Books.open(database)

    assert await books.state(10_000) == 10_000

    assert await books.shown() == (10_000, 10_000, 0)
    assert await books.entries() == [("statement", 10_000, 10_000)]


async def test_a_payment_in_a_call_is_shown_at_once_and_pending_in_billing_until_acknowledged(
    database: Database,
) -> None:
    books = await Books.open(database)
    await books.state(10_000)

    payment = await books.take("payment", -3_000)

    assert await books.shown() == (7_000, 10_000, -3_000)

    # Billing applied it, says so, and states the balance that includes it.
    assert await books.state(7_000, acknowledged=(payment,)) == 7_000

    assert await books.shown() == (7_000, 7_000, 0)
    assert await books.entries() == [("statement", 10_000, 10_000), ("payment", -3_000, 7_000)]


async def test_a_statement_that_does_not_acknowledge_a_payment_still_shows_it_taken(
    database: Database,
) -> None:
    books = await Books.open(database)
    await books.state(10_000)
    await books.take("payment", -3_000)

    # Billing has not applied the payment yet: it states the old balance again.
    assert await books.state(10_000) == 7_000

    assert await books.shown() == (7_000, 10_000, -3_000)
    assert [kind for kind, _, _ in await books.entries()] == ["statement", "payment"]


async def test_billings_own_changes_move_the_balance_through_a_statement_entry(
    database: Database,
) -> None:
    books = await Books.open(database)
    await books.state(10_000)
    await books.take("credit", -1_000)

    # A bank transfer of 25.00 reached billing; it has not applied the credit yet.
    assert await books.state(7_500) == 6_500

    assert await books.shown() == (6_500, 7_500, -1_000)
    assert (await books.entries())[-1] == ("statement", -2_500, 6_500)


async def test_no_entry_is_written_when_the_balance_does_not_change_but_the_statement_is_kept(
    database: Database,
) -> None:
    books = await Books.open(database, balance=10_000)
    async with database.tenant_session(books.tenant) as session:
        before = await session.scalar(
            select(Account.reported_at).where(Account.id == books.account)
        )
    assert before is None

    assert await books.state(10_000) == 10_000

    assert await books.entries() == []
    async with database.tenant_session(books.tenant) as session:
        account = await session.get(Account, books.account)
        assert account is not None
        assert account.reported_balance_minor == 10_000 and account.reported_at is not None


async def test_an_acknowledgement_naming_another_businesss_event_is_refused_changing_nothing(
    database: Database,
) -> None:
    books = await Books.open(database)
    other = await Books.open(database, "other")
    await books.state(10_000)
    ours = await books.take("payment", -3_000)
    theirs = await other.take("payment", -500)

    with pytest.raises(UnknownEvents) as refused:
        await books.state(7_000, acknowledged=(ours, theirs, "evt_nonesuch"))

    assert theirs is not None
    assert refused.value.event_ids == tuple(sorted([theirs, "evt_nonesuch"]))
    assert "acknowledged_events" in str(refused.value)
    assert await books.shown() == (7_000, 10_000, -3_000)  # ours is not acknowledged either
    assert (await other.shown())[2] == -500


async def test_an_event_acknowledged_twice_or_carrying_no_entry_is_accepted(
    database: Database,
) -> None:
    books = await Books.open(database)
    payment = await books.take("payment", -3_000)
    async with database.tenant_session(books.tenant) as session, session.begin():
        session.add(BillingEvent(tenant_id=books.tenant, seq=next(_SEQ),
                                 public_id="evt_mandate1", type="mandate.created",
                                 version="2026-12-01", data={}))  # fmt: skip

    assert await books.state(-3_000, acknowledged=(payment, "evt_mandate1")) == -3_000
    assert await books.state(-3_000, acknowledged=(payment,)) == -3_000

    assert await books.shown() == (-3_000, -3_000, 0)


async def test_pending_counts_only_unacknowledged_entries_of_ledgerlines_own_per_account(
    database: Database,
) -> None:
    books = await Books.open(database)
    second = await make_customer(database, books.tenant, "C-2", "Avi", ["+972509999999"], [
        {"ref": "B-1", "currency": "ILS", "balance_minor": 0}])  # fmt: skip
    async with database.tenant_session(books.tenant) as session:
        other_account = await session.scalar(
            select(Account.id).where(Account.customer_id == second)
        )
    acknowledged = await books.take("payment", -1_000)
    await books.take("payment", -2_000)
    await books.take("refund", 500)
    await books.take("credit", -4_000, told=False)  # never told to billing: not pending
    await books.state(-1_000, acknowledged=(acknowledged,))
    async with database.tenant_session(books.tenant) as session, session.begin():
        await _post_and_tell(session, books.tenant, other_account, "credit", -700)

    async with database.tenant_session(books.tenant) as session:
        pending = await pending_in_billing(session, [books.account, other_account, 10**12])
        assert await pending_in_billing(session, []) == {}

    assert pending == {books.account: -1_500, other_account: -700}


async def test_the_entries_of_an_account_add_up_to_how_its_balance_moved(
    database: Database,
) -> None:
    books = await Books.open(database, balance=2_000)
    first = await books.take("payment", -500)
    await books.state(10_000)
    await books.take("credit", -1_000)
    await books.state(9_500, acknowledged=(first,))
    await books.take("refund", 300)
    await books.state(9_500)

    entries = await books.entries()
    balance, _, _ = await books.shown()

    opening = entries[0][2] - entries[0][1]
    assert opening == 2_000
    assert opening + sum(amount for _, amount, _ in entries) == balance == 8_800
    running = opening
    for _, amount, after in entries:
        running += amount
        assert after == running


async def test_a_payment_committing_during_a_statement_is_never_lost(
    postgres_database: Database,
) -> None:
    """PostgreSQL: the statement waits for the payment's lock, then counts it as pending."""
    books = await Books.open(postgres_database)
    await books.state(10_000)

    async with postgres_database.tenant_session(books.tenant) as session, session.begin():
        await _lock_for_update(session, books.account)
        await _post_and_tell(session, books.tenant, books.account, "payment", -3_000)
        statement = asyncio.create_task(books.state(10_000))
        await until_a_statement_waits_on_a_lock(postgres_database, statement,
                                                within_s=30, what="the account's lock")
    stated = await statement

    assert stated == 7_000
    assert await books.shown() == (7_000, 10_000, -3_000)


async def test_a_payment_arriving_while_a_statement_holds_the_account_lands_on_top(
    postgres_database: Database,
) -> None:
    books = await Books.open(postgres_database)

    async with postgres_database.tenant_session(books.tenant) as session, session.begin():
        account = await session.get(Account, books.account)
        assert account is not None
        await state_balance(session, account, 10_000)
        payment = asyncio.create_task(books.take("payment", -3_000))
        await until_a_statement_waits_on_a_lock(postgres_database, payment,
                                                within_s=30, what="the account's lock")
    await payment

    assert await books.shown() == (7_000, 10_000, -3_000)


async def test_the_screen_pop_shows_each_accounts_balance_stated_and_pending_in_billing(
    database: Database,
) -> None:
    books = await Books.open(database)
    async with database.tenant_session(books.tenant) as session:
        customer = await session.scalar(
            select(Account.customer_id).where(Account.id == books.account)
        )
    assert customer is not None
    await books.state(10_000)
    payment = await books.take("payment", -3_000)
    await books.take("credit", -500)
    other = await Books.open(database, "other")  # another business's pending changes nothing
    await other.take("payment", -100)

    panel = await customer_panel(database, books.tenant, customer, date(2026, 3, 10))

    assert panel is not None
    [account] = panel["accounts"]
    assert (account["balance_minor"], account["reported_balance_minor"]) == (6_500, 10_000)
    assert account["pending_in_billing_minor"] == -3_500
    assert {type(account[k]) for k in ("balance_minor", "pending_in_billing_minor")} == {int}
    assert account["reported_at"] is not None

    await books.state(7_000, acknowledged=(payment,))
    panel = await customer_panel(database, books.tenant, customer, date(2026, 3, 10))

    assert panel is not None
    assert panel["accounts"][0]["pending_in_billing_minor"] == -500
    assert panel["accounts"][0]["balance_minor"] == 6_500


async def test_the_screen_pop_of_a_balance_never_stated_shows_nothing_pending(
    database: Database,
) -> None:
    books = await Books.open(database, balance=4_200)
    async with database.tenant_session(books.tenant) as session:
        customer = await session.scalar(
            select(Account.customer_id).where(Account.id == books.account)
        )
    assert customer is not None

    panel = await customer_panel(database, books.tenant, customer, date(2026, 3, 10))

    assert panel is not None
    assert panel["accounts"][0]["balance_minor"] == 4_200
    assert panel["accounts"][0]["pending_in_billing_minor"] == 0
    assert panel["accounts"][0]["reported_balance_minor"] is None
    assert panel["accounts"][0]["reported_at"] is None


async def test_a_card_payment_recorded_as_in_a_call_is_pending_until_its_event_is_acknowledged(
    database: Database,
) -> None:
    """Through the real path: the payment's entry and its payment.succeeded event."""
    books = await Books.open(database)
    await books.state(10_000)

    await record_card_payment(
        database, books.tenant, account_id=books.account, call_id=None, amount_minor=3_000,
        currency="ILS", provider="sandbox", idempotency_key="call-1",
        result=ChargeResult(PaymentStatus.SUCCEEDED, "sbx_1", card_last4="4242"),
        actor_id=None, actor_label="agent",
    )  # fmt: skip

    assert await books.shown() == (7_000, 10_000, -3_000)
    async with database.tenant_session(books.tenant) as session:
        event_id = await session.scalar(
            select(BillingEvent.public_id).where(BillingEvent.type == "payment.succeeded")
        )
    assert event_id is not None
    assert await books.state(7_000, acknowledged=(event_id,)) == 7_000
    assert await books.shown() == (7_000, 7_000, 0)
