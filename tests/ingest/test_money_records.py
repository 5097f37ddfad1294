"""Balances the billing system states, its external payments and its adjustments: entries
written with the balance, immutable by reference, and what Ledgerline took that billing has
not acknowledged kept on top of the stated balance."""

from __future__ import annotations

from sqlalchemy import select

from pbx.db.models import Account, AccountEntry, AuditEntry, BillingEvent
from pbx.db.types import utcnow
from tests.ingest.conftest import OFEK_DID, Door, Machine

PAYMENT = {"reference": "BT-1", "account": "A-1", "amount": 3_000,
           "received_at": "2026-12-06T09:00:00Z", "method": "bank_transfer"}  # fmt: skip


async def _machine(door: Door) -> tuple[Machine, int]:
    tenant = await door.business("ofek", OFEK_DID)
    machine = await door.key(tenant, "billing:write", "billing:read")
    customer = {"name": "Sara Cohen", "phones": ["0502345678"], "version": 1}
    assert (await machine.send("PUT", "/billing/customers/C-1", customer)).status == 200
    return machine, tenant


async def _entries(door: Door) -> list[tuple[str, int, int, str | None]]:
    async with door.database.system_session() as session:
        rows = await session.execute(
            select(AccountEntry.kind, AccountEntry.amount_minor, AccountEntry.balance_after_minor,
                   AccountEntry.reference).order_by(AccountEntry.id)
        )  # fmt: skip
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def _ledgerline_payment(door: Door, tenant: int, amount: int) -> str:
    """A card payment Ledgerline took, told to billing by an event not yet acknowledged."""
    async with door.database.tenant_session(tenant) as session, session.begin():
        account = await session.scalar(select(Account).where(Account.account_ref == "A-1"))
        assert account is not None
        account.balance_minor -= amount
        entry = AccountEntry(tenant_id=tenant, account_id=account.id, kind="payment",
                             amount_minor=-amount, currency="ILS",
                             balance_after_minor=account.balance_minor)  # fmt: skip
        session.add(entry)
        await session.flush()
        event = BillingEvent(tenant_id=tenant, seq=1, public_id="evt_card1",
                             type="payment.succeeded", version="2026-12-01",
                             account_id=account.id, entry_id=entry.id, data={},
                             created_at=utcnow())  # fmt: skip
        session.add(event)
    return "evt_card1"


async def test_a_stated_balance_is_kept_with_a_statement_entry(door: Door) -> None:
    machine, _ = await _machine(door)

    reply = await machine.send("PUT", "/billing/accounts/A-1",
                               {"customer": "C-1", "balance": 10_000, "version": 1})  # fmt: skip

    account = (await machine.send("GET", "/billing/accounts/A-1")).body
    assert reply.body["outcome"] == "created"
    assert (account["balance"], account["reported_balance"]) == (10_000, 10_000)
    assert account["pending_in_billing"] == 0 and account["reported_at"] is not None
    assert await _entries(door) == [("statement", 10_000, 10_000, None)]


async def test_what_billing_has_not_acknowledged_stays_on_top_of_its_balance(
    door: Door,
) -> None:
    machine, tenant = await _machine(door)
    await machine.send("PUT", "/billing/accounts/A-1",
                       {"customer": "C-1", "balance": 10_000, "version": 1})  # fmt: skip
    event = await _ledgerline_payment(door, tenant, 2_000)

    await machine.send("PUT", "/billing/accounts/A-1",
                       {"customer": "C-1", "balance": 9_000, "version": 2})  # fmt: skip
    before = (await machine.send("GET", "/billing/accounts/A-1")).body
    await machine.send("PUT", "/billing/accounts/A-1",
                       {"customer": "C-1", "balance": 7_000, "version": 3,
                        "acknowledged_events": [event]})  # fmt: skip
    after = (await machine.send("GET", "/billing/accounts/A-1")).body

    assert (before["balance"], before["pending_in_billing"]) == (7_000, -2_000)
    assert (after["balance"], after["pending_in_billing"]) == (7_000, 0)
    assert after["reported_balance"] == 7_000


async def test_an_unknown_acknowledged_event_is_refused_and_nothing_changes(door: Door) -> None:
    machine, _ = await _machine(door)

    reply = await machine.send("PUT", "/billing/accounts/A-1",
                               {"customer": "C-1", "balance": 500, "version": 1,
                                "acknowledged_events": ["evt_nothere"]})  # fmt: skip

    assert reply.status == 422 and reply.body["error"]["code"] == "unknown_events"
    assert (await machine.send("GET", "/billing/accounts/A-1")).status == 404


async def test_an_external_payment_lowers_the_balance_once_per_reference(door: Door) -> None:
    machine, _ = await _machine(door)
    await machine.send("PUT", "/billing/accounts/A-1",
                       {"customer": "C-1", "balance": 10_000, "version": 1})  # fmt: skip

    first = await machine.send("POST", "/billing/external-payments", PAYMENT)
    again = await machine.send("POST", "/billing/external-payments", PAYMENT)
    changed = await machine.send("POST", "/billing/external-payments",
                                 PAYMENT | {"amount": 3_001})  # fmt: skip
    other_day = await machine.send("POST", "/billing/external-payments",
                                   PAYMENT | {"received_at": "2026-11-02T09:00:00Z"})  # fmt: skip
    other_method = await machine.send("POST", "/billing/external-payments",
                                      PAYMENT | {"method": "cash"})  # fmt: skip

    assert first.body["outcome"] == "created" and again.body["outcome"] == "unchanged"
    for refused in (changed, other_day, other_method):
        assert refused.status == 409 and refused.body["error"]["code"] == "conflict"
    assert (await machine.send("GET", "/billing/accounts/A-1")).body["balance"] == 7_000
    assert (await _entries(door))[-1] == ("external_payment", -3_000, 7_000, "BT-1")


async def test_an_adjustment_moves_the_balance_either_way_and_is_audited(door: Door) -> None:
    machine, _ = await _machine(door)
    await machine.send("PUT", "/billing/accounts/A-1", {"customer": "C-1", "version": 1})

    fee = await machine.send("POST", "/billing/adjustments",
                             {"reference": "ADJ-1", "account": "A-1", "amount": 1_500,
                              "reason": "Late fee"})  # fmt: skip
    waiver = await machine.send("POST", "/billing/adjustments",
                                {"reference": "ADJ-2", "account": "A-1", "amount": -500,
                                 "currency": "ILS", "reason": "Goodwill"})  # fmt: skip

    assert fee.body["outcome"] == waiver.body["outcome"] == "created"
    assert (await machine.send("GET", "/billing/accounts/A-1")).body["balance"] == 1_000
    async with door.database.system_session() as session:
        audit = list(await session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "billing.adjustment")
        ))  # fmt: skip
    assert [d["reason"] for d in audit] == ["Late fee", "Goodwill"]
    assert audit[1]["balance_after_minor"] == 1_000


async def test_money_in_another_currency_than_the_account_is_refused(door: Door) -> None:
    machine, _ = await _machine(door)
    await machine.send("PUT", "/billing/accounts/A-1", {"customer": "C-1", "version": 1})

    reply = await machine.send("POST", "/billing/external-payments",
                               PAYMENT | {"currency": "EUR"})  # fmt: skip

    assert reply.status == 422 and reply.body["error"]["code"] == "currency_mismatch"
    assert await _entries(door) == []


async def test_an_account_s_currency_cannot_change(door: Door) -> None:
    machine, _ = await _machine(door)
    await machine.send("PUT", "/billing/accounts/A-1", {"customer": "C-1", "version": 1})

    reply = await machine.send("PUT", "/billing/accounts/A-1",
                               {"customer": "C-1", "currency": "EUR", "version": 2})  # fmt: skip

    assert reply.status == 422 and reply.body["error"]["code"] == "currency_mismatch"


async def test_a_batch_states_many_balances_by_the_same_rule(door: Door) -> None:
    machine, tenant = await _machine(door)
    await machine.send("PUT", "/billing/accounts/A-1",
                       {"customer": "C-1", "balance": 10_000, "version": 1})  # fmt: skip
    await _ledgerline_payment(door, tenant, 2_000)  # pending in billing on A-1
    lines = [
        {"type": "account", "ref": "A-1", "customer": "C-1", "balance": 9_000, "version": 2},
        {"type": "account", "ref": "A-2", "customer": "C-1", "balance": 0, "version": 1},
        {"type": "account", "ref": "A-3", "customer": "C-1", "balance": -250, "version": 1},
    ]

    reply = await machine.batch(lines)

    assert reply.body["counts"] == {"updated": 1, "created": 2}
    accounts = [(await machine.send("GET", f"/billing/accounts/A-{n}")).body for n in (1, 2, 3)]
    assert [(a["balance"], a["reported_balance"], a["pending_in_billing"]) for a in accounts] == [
        (7_000, 9_000, -2_000), (0, 0, 0), (-250, -250, 0)]  # fmt: skip
    statements = [e for e in await _entries(door) if e[0] == "statement"]
    # 10,000 stated, then 8,000 after the payment, then 9,000 - 2,000 pending = 7,000;
    # A-2 is stated at what it holds (no entry); A-3 moves to -250.
    assert [(amount, after) for _, amount, after, _ in statements] == [
        (10_000, 10_000), (-1_000, 7_000), (-250, -250)]  # fmt: skip
