"""`sync stripe-billing` against the fake Stripe API (each test on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from billing_bridge.identification.cache import NoCache
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.model import Match
from billing_bridge.identification.service import CallerIdentification
from billing_bridge.stripe_billing.api import StripeBillingApi
from billing_bridge.stripe_billing.store import UnknownBusiness
from billing_bridge.stripe_billing.sync import SyncReport, _twice, sync_stripe_billing
from pbx.db.database import Database
from pbx.db.models import Account, AuditEntry, Customer, Invoice, ProviderCustomer
from tests.factories import make_customer, make_tenant
from tests.payments.fake_stripe import FakeStripe
from tests.stripe_billing.conftest import DID

STARTED = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
JAN_5 = int(datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp())
FEB_1 = int(datetime(2026, 2, 1, 9, 0, tzinfo=UTC).timestamp())


async def sync(database: Database, api: StripeBillingApi, **options) -> SyncReport:
    options = {"since": None, "started": STARTED} | options
    return await sync_stripe_billing(database, api, "ofek", actor="cli:test", **options)


async def invoices(database: Database, tenant: int) -> list[Invoice]:
    async with database.tenant_session(tenant) as session:
        return list((await session.scalars(select(Invoice).order_by(Invoice.id))).all())


async def count(database: Database, tenant: int, model: type) -> int:
    async with database.tenant_session(tenant) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_customers_with_phones_and_their_open_invoices_are_imported_and_the_caller_is_identified(  # noqa: E501
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    dana = fake.add_customer(
        name="Dana Levi", email="dana@example.co.il", phone="050-234-5678",
        address={"line1": "12 Herzl St", "line2": None, "city": "Haifa",
                 "postal_code": "3303112", "country": "il", "state": None},
        metadata={"ignored": "yes"},
    )  # fmt: skip
    fake.add_invoice(dana, 12_500, number="OFEK-0001", created=JAN_5, due_date=FEB_1,
                     description="December service")  # fmt: skip

    report = await sync(database, api)

    assert report.customers == {"created": 1}
    assert report.invoices == {"created": 1}
    [invoice] = await invoices(database, tenant)
    assert (invoice.invoice_ref, invoice.provider, invoice.provider_ref) == (
        "OFEK-0001", "stripe", fake.objects[invoice.provider_ref]["id"])  # fmt: skip
    assert (invoice.amount_minor, invoice.outstanding_minor, invoice.currency) == (
        12_500, 12_500, "ILS")  # fmt: skip
    assert (invoice.issued_on, invoice.due_on, invoice.status) == (
        date(2026, 1, 5), date(2026, 2, 1), "open")  # fmt: skip
    assert invoice.line_summary == "December service"
    async with database.tenant_session(tenant) as session:
        customer = await session.scalar(select(Customer))
        account = await session.scalar(select(Account))
        linked = await session.scalar(select(ProviderCustomer))
    assert customer is not None and account is not None and linked is not None
    assert (customer.customer_ref, customer.name, customer.email) == (
        dana["id"], "Dana Levi", "dana@example.co.il")  # fmt: skip
    assert (customer.address_line1, customer.address_city, customer.address_postal_code,
            customer.address_country) == ("12 Herzl St", "Haifa", "3303112", "IL")  # fmt: skip
    assert (account.account_ref, account.currency, invoice.account_id) == (
        dana["id"], "ILS", account.id)  # fmt: skip
    assert (account.balance_minor, account.reported_balance_minor) == (12_500, 12_500)
    assert (linked.provider, linked.provider_customer_id, linked.customer_id) == (
        "stripe", dana["id"], customer.id)  # fmt: skip

    identification = CallerIdentification(CustomerDirectory(database), NoCache(), "IL",
                                          clock=lambda: STARTED)  # fmt: skip
    result = await identification.identify("0502345678", DID)
    assert result.match is Match.UNIQUE
    assert result.customer is not None and result.customer.name == "Dana Levi"
    assert result.customer.overdue == {"ILS": 12_500}


async def test_a_re_sync_updates_what_changed_and_duplicates_nothing(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    dana = fake.add_customer(name="Dana Levi", phone="+972502345678")
    invoice = fake.add_invoice(dana, 12_500, created=JAN_5)
    await sync(database, api)

    unchanged = await sync(database, api, started=STARTED.replace(hour=13))
    dana["name"], invoice["amount_remaining"] = "Dana Cohen", 2_500
    changed = await sync(database, api, started=STARTED.replace(hour=14))

    assert (unchanged.customers, unchanged.invoices) == ({"unchanged": 1}, {"unchanged": 1})
    assert (changed.customers, changed.invoices) == ({"updated": 1}, {"updated": 1})
    models = (Customer, Account, Invoice, ProviderCustomer)
    assert [await count(database, tenant, m) for m in models] == [1, 1, 1, 1]
    [kept] = await invoices(database, tenant)
    assert kept.outstanding_minor == 2_500


async def test_every_page_is_read_by_starting_after_the_last_id(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    for n in range(230):
        fake.add_customer(name=f"Customer {n}", phone=f"+97250{n:07d}")
    report = await sync(database, api)

    assert report.customers == {"created": 230}
    pages = [r for r in fake.requests if r.path == "/v1/customers"]
    assert [r.params.get("limit") for r in pages] == ["100", "100", "100"]
    assert "starting_after" not in pages[0].params
    newest_first = [c["id"] for c in fake.of_kind("customer")]
    assert [r.params.get("starting_after") for r in pages] == [
        None, newest_first[99], newest_first[199]]  # fmt: skip
    assert await count(database, tenant, Customer) == 230


async def test_drafts_are_skipped_uncollectible_is_still_owed_and_paid_or_void_are_not_listed(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    dana = fake.add_customer(name="Dana")
    fake.add_invoice(dana, 100, status="draft", number=None)
    fake.add_invoice(dana, 200, status="uncollectible", number="U-1")
    fake.add_invoice(dana, 300, status="paid", amount_remaining=0, number="P-1")
    fake.add_invoice(dana, 400, status="void", number="V-1")

    report = await sync(database, api)

    assert report.invoices == {"created": 1}
    [owed] = await invoices(database, tenant)
    assert (owed.invoice_ref, owed.status, owed.outstanding_minor) == ("U-1", "open", 200)
    listed = [r.params for r in fake.requests if r.path == "/v1/invoices"]
    assert [p["status"] for p in listed] == ["open", "uncollectible"]


async def test_an_invoice_paid_at_stripe_without_an_event_is_updated_by_the_next_sync(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    dana = fake.add_customer(name="Dana")
    invoice = fake.add_invoice(dana, 12_500, created=JAN_5)
    await sync(database, api)
    invoice.update(status="paid", amount_paid=12_500, amount_remaining=0)

    report = await sync(database, api, started=STARTED.replace(hour=13))

    assert report.invoices == {"updated": 1}
    [kept] = await invoices(database, tenant)
    assert (kept.status, kept.outstanding_minor) == ("paid", 0)


async def test_an_invoice_in_another_currency_is_refused_and_named(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    dana = fake.add_customer(name="Dana")
    usd = fake.add_invoice(dana, 999, currency="usd")

    report = await sync(database, api)

    assert report.invoices == {"refused": 1}
    assert report.problems == [f"invoice {usd['id']}: invoice {usd['id']} is in USD, not the "
                               "business's currency"]  # fmt: skip
    assert await invoices(database, tenant) == []


async def test_a_phone_that_is_not_a_number_is_dropped_and_reported(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    dana = fake.add_customer(name=None, email="dana@example.co.il", phone="call me maybe")

    report = await sync(database, api)

    assert report.customers == {"created": 1}
    assert report.problems == [f"customer {dana['id']}: phone is not a number in IL; kept "
                               "without it"]  # fmt: skip
    async with database.tenant_session(tenant) as session:
        customer = await session.scalar(select(Customer))
    assert customer is not None and customer.name == "dana@example.co.il"


async def test_since_limits_the_listing_by_creation_time(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    fake.add_customer(name="Old", created=JAN_5)
    fake.add_customer(name="New", created=FEB_1)

    report = await sync(database, api, since=datetime(2026, 1, 20, tzinfo=UTC))

    assert report.customers == {"created": 1}
    [listed] = [r.params for r in fake.requests if r.path == "/v1/customers"]
    assert listed["created"] == {"gte": str(int(datetime(2026, 1, 20, tzinfo=UTC).timestamp()))}


async def test_each_page_is_audited_with_its_counts(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    fake.add_invoice(fake.add_customer(name="Dana"), 100)
    await sync(database, api)

    async with database.tenant_session(tenant) as session:
        audited = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(a.action, a.actor_label, a.details) for a in audited] == [
        ("stripe.sync.customers", "cli:test", {"created": 1}),
        ("stripe.sync.invoices", "cli:test", {"created": 1}),
    ]


async def test_a_business_that_does_not_exist_is_refused(
    database: Database, api: StripeBillingApi
) -> None:
    with pytest.raises(UnknownBusiness, match="nosuch"):
        await sync_stripe_billing(database, api, "nosuch", since=None, started=STARTED,
                                  actor="cli:test")  # fmt: skip


async def test_customers_of_one_business_stay_out_of_another(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    other = await make_tenant(database, "saule", "LT", "EUR", ["+37052550100"])
    fake.add_customer(name="Dana", phone="+972502345678")
    await sync(database, api)

    assert await count(database, other, Customer) == 0
    assert await count(database, tenant, Customer) == 1


async def test_a_page_refused_by_a_concurrent_change_is_written_again_once() -> None:
    tries: list[int] = []

    async def write(objects: list[dict]) -> set[str]:
        tries.append(len(objects))
        if len(tries) == 1:  # a webhook committed the same customer a moment before
            raise IntegrityError("INSERT INTO provider_customers", {}, Exception("unique"))
        return {"+972502345678"}

    assert await _twice(write, [{"id": "cus_1"}]) == {"+972502345678"}
    assert tries == [1, 1]


async def test_a_customer_imported_before_with_its_own_account_is_linked_not_doubled(
    database: Database, api: StripeBillingApi, fake: FakeStripe, tenant: int
) -> None:
    dana = fake.add_customer(name="Dana Levi", phone="+972502345678")
    await make_customer(database, tenant, dana["id"], "Dana Levi", ["+972502345678"],
                        [{"ref": "ACC-7", "currency": "ILS"}])  # fmt: skip
    fake.add_invoice(dana, 500)

    report = await sync(database, api)

    assert (report.customers, report.invoices) == ({"unchanged": 1}, {"created": 1})
    [invoice] = await invoices(database, tenant)
    async with database.tenant_session(tenant) as session:
        refs = (await session.scalars(select(Account.account_ref))).all()
        account = await session.get_one(Account, invoice.account_id)
    assert refs == ["ACC-7"] and account.account_ref == "ACC-7"
