"""The billing system writes its customers, accounts and invoices by its own references and
reads them back: order by version, per-record refusals, scopes, revocation and isolation."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from pbx.db.models import ApiKey, AuditEntry, CustomerPhone
from tests.ingest.conftest import OFEK_DID, OTHER_DID, Door, Machine

CUSTOMER = {"name": "Sara Cohen", "email": "sara@example.com", "phones": ["050-234-5678"],
            "language": "he", "date_of_birth": "1980-02-29",
            "address": {"line1": "1 Herzl St", "city": "Tel Aviv", "postal_code": "6100000",
                        "country": "IL"}, "version": 1}  # fmt: skip
ACCOUNT = {"customer": "C-1", "status": "active", "vip": False, "version": 1}
INVOICE = {"account": "A-1", "amount": 45_050, "outstanding": 45_050, "issued": "2026-10-01",
           "due": "2026-10-31", "status": "open", "line_summary": "Broadband, October",
           "version": 1}  # fmt: skip


async def _writer(door: Door, slug: str = "ofek", did: str = OFEK_DID) -> Machine:
    tenant = await door.business(slug, did)
    return await door.key(tenant, "billing:write", "billing:read")


async def _customer_account_invoice(machine: Machine) -> None:
    for path, body in (("/billing/customers/C-1", CUSTOMER), ("/billing/accounts/A-1", ACCOUNT),
                       ("/billing/invoices/I-1", INVOICE)):  # fmt: skip
        reply = await machine.send("PUT", path, body)
        assert reply.status == 200 and reply.body["outcome"] == "created", reply.body


async def test_a_customer_account_and_invoice_are_created_and_read_back(door: Door) -> None:
    machine = await _writer(door)

    await _customer_account_invoice(machine)
    customer = (await machine.send("GET", "/billing/customers/C-1")).body
    account = (await machine.send("GET", "/billing/accounts/A-1")).body
    invoice = (await machine.send("GET", "/billing/invoices/I-1")).body

    assert customer["phones"] == ["+972502345678"] and customer["language"] == "he"
    assert customer["address"]["city"] == "Tel Aviv" and customer["date_of_birth"] == "1980-02-29"
    assert account["customer"] == "C-1" and account["currency"] == "ILS"
    assert account["balance"] == 0 and account["reported_balance"] is None
    assert invoice["account"] == "A-1" and invoice["outstanding"] == 45_050
    assert invoice["currency"] == "ILS" and invoice["line_summary"] == "Broadband, October"


async def test_an_older_version_changes_nothing_and_the_same_version_is_unchanged(
    door: Door,
) -> None:
    machine = await _writer(door)
    await _customer_account_invoice(machine)

    newer = await machine.send("PUT", "/billing/invoices/I-1",
                               INVOICE | {"outstanding": 10_000, "version": 3})  # fmt: skip
    paid = {"outstanding": 0, "status": "paid", "version": 2}
    older = await machine.send("PUT", "/billing/invoices/I-1", INVOICE | paid)
    again = await machine.send("PUT", "/billing/invoices/I-1",
                               INVOICE | {"outstanding": 0, "version": 3})  # fmt: skip
    invoice = (await machine.send("GET", "/billing/invoices/I-1")).body

    assert [r.body["outcome"] for r in (newer, older, again)] == ["updated", "stale", "unchanged"]
    assert invoice["outstanding"] == 10_000 and invoice["status"] == "open"
    assert invoice["version"] == 3


async def test_updated_at_orders_customers_and_accounts_like_a_version(door: Door) -> None:
    machine = await _writer(door)
    late, early = "2026-12-06T10:00:00.000002Z", "2026-12-06T12:00:00+03:00"  # 09:00 UTC
    first = await machine.send("PUT", "/billing/customers/C-1",
                               CUSTOMER | {"version": None, "updated_at": late})  # fmt: skip
    stale = await machine.send("PUT", "/billing/customers/C-1",
                               CUSTOMER | {"name": "Old Name", "version": None,
                                           "updated_at": early})  # fmt: skip
    await machine.send("PUT", "/billing/accounts/A-1", ACCOUNT | {"version": 5})
    account_stale = await machine.send("PUT", "/billing/accounts/A-1",
                                       ACCOUNT | {"vip": True, "version": 4})  # fmt: skip

    customer = (await machine.send("GET", "/billing/customers/C-1")).body
    account = (await machine.send("GET", "/billing/accounts/A-1")).body
    micros = int(datetime(2026, 12, 6, 10, tzinfo=UTC).timestamp()) * 1_000_000 + 2
    assert first.body["outcome"] == "created" and stale.body["outcome"] == "stale"
    assert customer["name"] == "Sara Cohen" and customer["version"] == micros
    assert account_stale.body["outcome"] == "stale" and account["vip"] is False


async def test_a_customer_s_phones_are_replaced_and_the_old_ones_forgotten(door: Door) -> None:
    machine = await _writer(door)
    await _customer_account_invoice(machine)
    door.forgotten.clear()

    reply = await machine.send("PUT", "/billing/customers/C-1",
                               CUSTOMER | {"phones": ["+972 3 763 0111", "0502345678"],
                                           "version": 2})  # fmt: skip

    customer = (await machine.send("GET", "/billing/customers/C-1")).body
    assert reply.body["outcome"] == "updated"
    assert sorted(customer["phones"]) == ["+97237630111", "+972502345678"]
    assert {"+97237630111", "+972502345678"} <= door.numbers_forgotten()
    replaced = await machine.send("PUT", "/billing/customers/C-1",
                                  CUSTOMER | {"phones": ["03-763-0111"], "version": 3})  # fmt: skip
    assert replaced.status == 200
    assert "+972502345678" in door.forgotten[-1][1]  # the number taken away, too
    async with door.database.system_session() as session:
        numbers = set(await session.scalars(select(CustomerPhone.e164)))
    assert numbers == {"+97237630111"}


async def test_an_unknown_parent_is_refused_naming_the_field(door: Door) -> None:
    machine = await _writer(door)

    account = await machine.send("PUT", "/billing/accounts/A-1", ACCOUNT)
    invoice = await machine.send("PUT", "/billing/invoices/I-1", INVOICE)

    assert account.status == 422 and account.body["error"]["code"] == "unknown_customer"
    assert account.body["error"]["details"][0]["field"] == "customer"
    assert invoice.status == 422 and invoice.body["error"]["code"] == "unknown_account"
    assert (await machine.send("GET", "/billing/accounts/A-1")).status == 404


async def test_an_invoice_in_another_currency_than_its_account_is_refused(door: Door) -> None:
    machine = await _writer(door)
    await _customer_account_invoice(machine)

    reply = await machine.send("PUT", "/billing/invoices/I-2",
                               INVOICE | {"currency": "EUR"})  # fmt: skip

    assert reply.status == 422 and reply.body["error"]["code"] == "currency_mismatch"


async def test_every_change_is_audited_with_the_key_s_name(door: Door) -> None:
    machine = await _writer(door)
    await _customer_account_invoice(machine)
    await machine.send("PUT", "/billing/invoices/I-1", INVOICE | {"version": 0})  # stale

    async with door.database.system_session() as session:
        entries = list(await session.execute(
            select(AuditEntry.action, AuditEntry.actor_label, AuditEntry.details)
            .where(AuditEntry.action.like("billing.%")).order_by(AuditEntry.id)
        ))  # fmt: skip
    assert [e.action for e in entries] == ["billing.customers.upserted",
                                           "billing.accounts.upserted",
                                           "billing.invoices.upserted"]  # fmt: skip
    assert {e.actor_label for e in entries} == {"api-key:billing"}
    assert entries[2].details == {"created": ["I-1"], "updated": []}


async def test_a_read_key_cannot_write_and_a_write_key_cannot_read(door: Door) -> None:
    tenant = await door.business("ofek", OFEK_DID)
    reader = await door.key(tenant, "billing:read", name="reader")
    writer = await door.key(tenant, "billing:write", name="writer")

    refused = await reader.send("PUT", "/billing/customers/C-1", CUSTOMER)
    created = await writer.send("PUT", "/billing/customers/C-1", CUSTOMER)
    unread = await writer.send("GET", "/billing/customers/C-1")
    read = await reader.send("GET", "/billing/customers/C-1")

    assert refused.status == 403 and created.status == 200
    assert unread.status == 403 and read.status == 200


async def test_a_revoked_key_is_refused(door: Door) -> None:
    tenant = await door.business("ofek", OFEK_DID)
    machine = await door.key(tenant, "billing:write")
    async with door.database.tenant_session(tenant) as session, session.begin():
        await session.execute(update(ApiKey).values(revoked_at=datetime.now(UTC)))

    reply = await machine.send("PUT", "/billing/customers/C-1", CUSTOMER)

    assert reply.status == 401
    assert (await door.key(tenant, "billing:read", name="r2")).secret  # the business still works


async def test_another_business_s_records_are_invisible_and_untouched(door: Door) -> None:
    ours = await _writer(door)
    theirs = await _writer(door, "other", OTHER_DID)
    await _customer_account_invoice(theirs)

    seen = await ours.send("GET", "/billing/customers/C-1")
    account = await ours.send("PUT", "/billing/accounts/A-9", ACCOUNT)  # their C-1
    mine = await ours.send("PUT", "/billing/customers/C-1", CUSTOMER | {"name": "Ours"})
    their_customer = (await theirs.send("GET", "/billing/customers/C-1")).body

    assert seen.status == 404
    assert account.status == 422 and account.body["error"]["code"] == "unknown_customer"
    assert mine.body["outcome"] == "created"  # the same ref, a customer of our own
    assert their_customer["name"] == "Sara Cohen"
