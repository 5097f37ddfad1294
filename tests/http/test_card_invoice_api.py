"""A card payment for an invoice the agent names, through /api/v1: the invoice is checked
(an open invoice of the account being paid, of this business, still owing) before the caller
is asked for anything; the amount defaults to what it owes and may not be more."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from billing_bridge.payments.sandbox import SandboxProvider
from pbx.bootstrap import take_payments
from pbx.db.models import Account, Invoice
from tests.factories import make_customer, make_tenant
from tests.http.conftest import Site

OVERDUE = date(2026, 1, 10)


async def invoices_of(site: Site, tenant_id: int, customer_id: int) -> tuple[int, list[int]]:
    async with site.world.database.tenant_session(tenant_id) as session:
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer_id))
        ids = list(await session.scalars(
            select(Invoice.id).where(Invoice.account_id == account).order_by(Invoice.id)
        ))  # fmt: skip
    assert account is not None
    return account, ids


async def test_a_named_invoice_is_checked_before_the_caller_is_asked_and_sets_the_amount(
    site: Site, desk
) -> None:
    world, avi = site.world, desk["avi"]
    dana = await make_customer(world.database, world.tenant_id, "C-1", "Dana",
                               ["+972502345678"], [{
        "currency": "ILS", "balance_minor": 40_000, "status": "overdue", "invoices": [
            {"amount_minor": 30_000, "due_on": OVERDUE, "status": "open"},
            {"amount_minor": 10_000, "outstanding_minor": 0, "due_on": OVERDUE,
             "status": "paid"}]}])  # fmt: skip
    noa = await make_customer(world.database, world.tenant_id, "C-2", "Noa", [], [{
        "currency": "ILS", "balance_minor": 5_000,
        "invoices": [{"amount_minor": 5_000, "due_on": OVERDUE, "status": "open"}]}])  # fmt: skip
    other = await make_tenant(world.database, "saule", "LT", "EUR", ["+37052000000"])
    ona = await make_customer(world.database, other, "S-1", "Ona", [], [{
        "currency": "EUR", "balance_minor": 5_000,
        "invoices": [{"amount_minor": 5_000, "due_on": OVERDUE, "status": "open"}]}])  # fmt: skip
    account, (open_invoice, paid_invoice) = await invoices_of(site, world.tenant_id, dana)
    _, [noas] = await invoices_of(site, world.tenant_id, noa)
    _, [theirs] = await invoices_of(site, other, ona)
    take_payments(world.flow, SandboxProvider(webhook_secret="s"), world.database,
                  world.flow.clock)  # fmt: skip
    await avi.call("PUT", f"/agents/{world.agents['avi']}/state", {"state": "available"})
    call = await world.call("0502345678")
    await world.until(lambda: world.connected_to(call) == world.agents["avi"], "connected")
    live = f"/calls/{call.channel_id}/payments/card"

    for bad in ("1", True, 1.5, 0, 2**63):  # an id is a strict integer within BIGINT
        status, body = await avi.call("POST", live, {"account_id": account, "invoice_id": bad})
        assert status == 422, bad
        assert [e["field"] for e in body["error"]["details"]] == ["invoice_id"], bad
    refusals = {}
    for invoice in (theirs, 2**62, noas, paid_invoice):
        status, body = await avi.call("POST", live, {"account_id": account, "invoice_id": invoice})
        assert (status, body["error"]["code"]) == (422, "invoice"), invoice
        refusals[invoice] = body["error"]["message"].replace(str(invoice), "N")
    # Another business's invoice reads exactly as one that does not exist.
    assert refusals[theirs] == refusals[2**62]
    status, body = await avi.call("POST", live, {"account_id": account, "amount_minor": 30_001,
                                                 "invoice_id": open_invoice})  # fmt: skip
    assert (status, body["error"]["code"]) == (422, "amount_minor")
    assert "sound:ledgerline-card-number" not in call.heard

    status, started = await avi.call("POST", live, {"account_id": account,
                                                    "invoice_id": open_invoice})  # fmt: skip
    assert status == 202 and started == {"amount_minor": 30_000, "currency": "ILS",
                                         "status": "started"}  # fmt: skip
    await world.until(lambda: "sound:ledgerline-card-number" in call.heard, "the caller asked")
