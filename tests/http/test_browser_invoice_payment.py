"""The agent pays an overdue invoice from the account panel, in a real browser: its "Take
payment" action asks for what the invoice owes and names it, and the invoice is paid."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from billing_bridge.payments.sandbox import SandboxProvider
from pbx.bootstrap import take_payments
from pbx.db.models import Invoice, Payment
from tests.http.conftest import Site
from tests.http.test_browser_desk import agent_desk

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
__all__ = ["agent_desk"]


async def test_the_agent_pays_an_overdue_invoice_from_the_panel(
    site: Site, agent_desk: Page
) -> None:
    page, world = agent_desk, site.world
    take_payments(world.flow, SandboxProvider(webhook_secret="s"), world.database,
                  world.flow.clock)  # fmt: skip
    await page.get_by_role("button", name="Available").click()
    call = await world.call("0502345678")
    await page.get_by_role("button", name="Take a card payment of ₪450.50 for invoice").click()

    await world.until(lambda: "sound:ledgerline-card-number" in call.heard, "asked", within=10)
    await call.press("4242424242424242#")
    for prompt, digits in (("card-expiry", "1230"), ("card-cvc", "123#")):
        await world.until(lambda p=prompt: f"sound:ledgerline-{p}" in call.heard, prompt)
        await call.press(digits)
    await expect(page.locator("#payment-status")).to_contain_text("taken (card ending 4242)")

    async with world.database.tenant_session(world.tenant_id) as session:
        invoice = await session.scalar(select(Invoice))
        payment = await session.scalar(select(Payment))
    assert invoice is not None and payment is not None
    assert (invoice.status, invoice.outstanding_minor) == ("paid", 0)
    assert payment.invoice_id == invoice.id
