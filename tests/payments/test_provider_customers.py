"""One provider customer per Ledgerline customer: the Stripe and GoCardless adapters make it
once (with the payer's name, email and postal address) and reuse it for later mandates; the
ids are kept in provider_customers. Against the fake APIs and both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing_bridge.payments import provider_customers
from billing_bridge.payments.gocardless_provider import GoCardlessProvider
from billing_bridge.payments.port import BankAccount, Payer, ProviderError
from billing_bridge.payments.stripe_provider import StripeProvider
from pbx.db.database import Database
from pbx.db.models import Customer, ProviderCustomer
from tests.factories import make_customer, make_tenant
from tests.payments.fake_gocardless import FakeGoCardless
from tests.payments.fake_stripe import FakeStripe

ANN = Payer("Ann Holt", "ann@example.com", "1 Pond Lane", None, "Leeds", "LS1 4AP", "GB")
SEPA = BankAccount("DE", "Jonas Weber", iban="DE89370400440532013000")
BACS = BankAccount("GB", "Ann Holt", bank_code="200000", account_number="55779911")


async def test_stripe_makes_the_customer_once_with_the_payers_address_then_reuses_it(
    stripe_provider: StripeProvider, fake_stripe_api: FakeStripe
) -> None:
    first = await stripe_provider.create_mandate(
        SEPA, scheme="sepa_core", idempotency_key="m-1", customer_ref="c-1", payer=ANN
    )
    again = Payer("Ann Holt", provider_customer_id=first.provider_customer_id)
    second = await stripe_provider.create_mandate(
        SEPA, scheme="sepa_core", idempotency_key="m-2", customer_ref="c-1", payer=again
    )
    link = await stripe_provider.create_mandate_link(
        scheme="sepa_core", idempotency_key="m-3", customer_ref="c-1", customer_name="Ann Holt",
        payer=again,
    )  # fmt: skip

    [made] = fake_stripe_api.posts("/v1/customers")
    assert made.params == {"name": "Ann Holt", "email": "ann@example.com",
                           "address": {"line1": "1 Pond Lane", "city": "Leeds",
                                       "postal_code": "LS1 4AP", "country": "GB"},
                           "metadata": {"customer_ref": "c-1"}}  # fmt: skip
    assert first.provider_customer_id is not None
    assert first.provider_customer_id.startswith("cus_")
    assert (second.provider_customer_id, link.provider_customer_id) == (
        first.provider_customer_id, first.provider_customer_id)  # fmt: skip
    intents = fake_stripe_api.posts("/v1/setup_intents")
    assert [i.params["customer"] for i in intents] == [first.provider_customer_id] * 2
    [session] = fake_stripe_api.posts("/v1/checkout/sessions")
    assert session.params["customer"] == first.provider_customer_id


async def test_gocardless_reuses_the_payers_customer_for_a_second_mandate(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    first = await gocardless_provider.create_mandate(
        BACS, scheme="bacs", idempotency_key="m-1", customer_ref="c-1", payer=ANN
    )
    known = Payer(**{**ANN.__dict__, "provider_customer_id": first.provider_customer_id})
    second = await gocardless_provider.create_mandate(
        BACS, scheme="bacs", idempotency_key="m-2", customer_ref="c-1", payer=known
    )
    link = await gocardless_provider.create_mandate_link(
        scheme="bacs", idempotency_key="m-3", customer_ref="c-1", customer_name="Ann Holt",
        payer=known,
    )  # fmt: skip

    assert first.provider_customer_id is not None
    assert first.provider_customer_id.startswith("CU")
    assert second.provider_customer_id == link.provider_customer_id == first.provider_customer_id
    requests = [r.body["billing_requests"] for r in fake_gocardless_api.posts("/billing_requests")]
    assert "links" not in requests[0]
    assert [r["links"] for r in requests[1:]] == [{"customer": first.provider_customer_id}] * 2


async def test_a_bacs_mandate_by_phone_without_the_payers_address_is_refused_naming_it(
    gocardless_provider: GoCardlessProvider, fake_gocardless_api: FakeGoCardless
) -> None:
    no_city = Payer("Ann Holt", "ann@example.com", "1 Pond Lane", None, None, None, "GB")

    with pytest.raises(ProviderError, match="postal address; missing address_city, "
                       "address_postal_code"):  # fmt: skip
        await gocardless_provider.create_mandate(
            BACS, scheme="bacs", idempotency_key="m-1", customer_ref="c-1", payer=no_city
        )
    with pytest.raises(ProviderError, match="missing address_line1"):
        await gocardless_provider.create_mandate(
            BACS, scheme="bacs", idempotency_key="m-2", customer_ref="c-1"
        )
    assert fake_gocardless_api.requests == []  # refused before anything was asked


async def test_the_payer_is_read_from_the_customers_record_and_kept_once(
    database: Database,
) -> None:
    tenant = await make_tenant(database, "ofek", "GB", "GBP", ["+441134960000"])
    customer = await make_customer(database, tenant, "C-1", "Ann Holt", ["+447700900123"])
    async with database.tenant_session(tenant) as session, session.begin():
        row = await session.get_one(Customer, customer)
        row.email, row.address_line1, row.address_city = "ann@example.com", "1 Pond Lane", "Leeds"
        row.address_postal_code, row.address_country = "LS1 4AP", "GB"

    before = await provider_customers.payer_of(database, tenant, customer, "gocardless",
                                               name="A Holt", email=None)  # fmt: skip
    async with database.tenant_session(tenant) as session, session.begin():
        await provider_customers.remember(session, tenant, customer, "gocardless", "CU1")
    async with database.tenant_session(tenant) as session, session.begin():
        await provider_customers.remember(session, tenant, customer, "gocardless", "CU2")
    after = await provider_customers.payer_of(database, tenant, customer, "gocardless",
                                              name="A Holt", email=None)  # fmt: skip
    other = await provider_customers.payer_of(database, tenant, customer, "stripe",
                                              name="A Holt", email=None)  # fmt: skip

    assert before == Payer("A Holt", "ann@example.com", "1 Pond Lane", None, "Leeds", "LS1 4AP",
                           "GB")  # fmt: skip
    assert after.provider_customer_id == "CU1"
    assert other.provider_customer_id is None
    async with database.tenant_session(tenant) as session:
        kept = (await session.scalars(select(ProviderCustomer.provider_customer_id))).all()
    assert kept == ["CU1"]
