"""`ledgerline sync stripe-billing` run as an operator runs it, in a process of its own, with
`payments.stripe_api_base` pointing at the fake Stripe API: customers and their open invoices
land in the business. And the payment provider `serve` builds takes the same setting."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing_bridge.payments.stripe_provider import StripeProvider
from pbx.bootstrap import payment_provider
from pbx.db.database import Database
from pbx.db.models import Customer, Invoice
from pbx.settings import SettingsError, load_settings
from tests.cli_process import run_ledgerline
from tests.payments import fake_stripe
from tests.payments.fake_stripe import FakeStripe
from tests.payments.test_stripe_provider import charge


async def _ledgerline(database: Database, stripe_url: str, *argv: str) -> tuple[int, str, str]:
    return await run_ledgerline(database.url, *argv, env={
        "LEDGERLINE_PAYMENTS_STRIPE_API_KEY": fake_stripe.API_KEY,
        "LEDGERLINE_PAYMENTS_STRIPE_API_BASE": stripe_url,
    })  # fmt: skip


async def test_the_sync_command_imports_the_fake_stripe_s_customers_and_open_invoices(
    database: Database, fake: FakeStripe, stripe_url: str, tenant: int
) -> None:
    dana = fake.add_customer(name="Dana Levi", email="dana@example.co.il", phone="050-234-5678")
    noam = fake.add_customer(name="Noam Cohen", phone="+972502345679")
    fake.add_invoice(dana, 12_500, number="OFEK-0001")
    fake.add_invoice(noam, 4_000, number="OFEK-0002", status="draft")  # not owed yet

    code, out, err = await _ledgerline(database, stripe_url, "sync", "stripe-billing",
                                       "--tenant", "ofek")  # fmt: skip

    assert code == 0, out + err
    assert "customers: 2 read (2 created)" in out
    assert "invoices: 1 read (1 created)" in out
    async with database.tenant_session(tenant) as session:
        customers = {c.name: c for c in await session.scalars(select(Customer))}
        [invoice] = await session.scalars(select(Invoice))
    assert customers.keys() == {"Dana Levi", "Noam Cohen"}
    assert (invoice.invoice_ref, invoice.amount_minor) == ("OFEK-0001", 12_500)

    code, out, _ = await _ledgerline(database, stripe_url, "sync", "stripe-billing",
                                     "--tenant", "ofek")  # fmt: skip
    assert code == 0 and "invoices: 1 read (1 unchanged)" in out


async def test_the_payment_provider_serve_builds_reaches_the_configured_stripe(
    fake: FakeStripe, stripe_url: str
) -> None:
    settings = load_settings(environ={
        "LEDGERLINE_PAYMENTS_PROVIDER": "stripe",
        "LEDGERLINE_PAYMENTS_STRIPE_API_KEY": fake_stripe.API_KEY,
        "LEDGERLINE_PAYMENTS_STRIPE_WEBHOOK_SECRET": fake_stripe.WEBHOOK_SECRET,
        "LEDGERLINE_PAYMENTS_STRIPE_API_BASE": stripe_url + "/",
    })  # fmt: skip
    assert settings.payments.stripe_api_base == stripe_url
    provider = payment_provider(settings.payments)
    assert isinstance(provider, StripeProvider)
    try:
        await charge(provider)
    finally:
        await provider.aclose()
    assert len(fake.charges()) == 1


@pytest.mark.parametrize("base", [
    "http://stripe.example.com",  # the key in clear over a network
    "ftp://127.0.0.1:12111", "api.stripe.com", "https://", "https://user:pw@api.stripe.com",
    "https://api.stripe.com/v1", "https://api.stripe.com?x=1",
])  # fmt: skip
def test_a_stripe_api_base_that_is_not_a_safe_origin_is_refused(base: str) -> None:
    with pytest.raises(SettingsError, match="stripe_api_base"):
        load_settings(environ={"LEDGERLINE_PAYMENTS_STRIPE_API_BASE": base})


def test_an_empty_stripe_api_base_is_stripe_s_own() -> None:
    assert load_settings(environ={}).payments.stripe_api_base == ""
