"""Importing a customer base from CSV: parsing on its own, then applying it to a real database
(each database test runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_bridge import customer_import_store
from billing_bridge.customer_import import (
    ImportFileError,
    ImportPlan,
    RowProblem,
    parse_customer_csv,
)
from billing_bridge.customer_import_changes import ImportReport
from billing_bridge.customer_import_store import UnknownTenant, import_customers, read_plan
from billing_bridge.identification.cache import MemoryCache
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.service import CallerIdentification
from pbx.db.database import Database
from pbx.db.models import Account, AuditEntry, Customer, CustomerPhone
from tests.factories import make_customer, make_tenant

DATA = Path(__file__).parent / "data"
HEADER = "customer_ref,name,phones,email,account_ref,currency,balance,status"
TEL_AVIV_DID = "+97235550100"
SARAH_MOBILE = "+972502345678"
SARAH_HOME = "+97235551234"


def parse(*rows: str, header: str = HEADER) -> ImportPlan:
    return parse_customer_csv(io.StringIO("\n".join([header, *rows]) + "\n"), "IL")


def write_csv(tmp_path: Path, *rows: str, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
async def tenant(database: Database) -> int:
    return await make_tenant(database, "ofek", "IL", "ILS", [TEL_AVIV_DID], "Asia/Jerusalem")


def account(ref: str, balance_minor: int, currency: str = "ILS") -> dict:
    return {"ref": ref, "currency": currency, "balance_minor": balance_minor}


def tally(report: ImportReport) -> dict[str, tuple[int, int, int]]:
    """(created, updated, unchanged) of customers and of accounts."""
    return {
        kind: tuple(
            getattr(report, f"{kind}_{what}") for what in ("created", "updated", "unchanged")
        )
        for kind in ("customers", "accounts")
    }


async def run(database: Database, path: Path, **options) -> ImportReport:
    return await import_customers(database, "ofek", path, actor="cli:root", **options)


async def customers_of(database: Database, tenant_id: int) -> dict[str, tuple]:
    """customer_ref -> (name, email, sorted numbers)."""
    async with database.tenant_session(tenant_id) as session:
        customers = (await session.scalars(select(Customer))).all()
        phones = (
            await session.execute(select(CustomerPhone.customer_id, CustomerPhone.e164))
        ).all()
    numbers = {c.id: sorted(e164 for owner, e164 in phones if owner == c.id) for c in customers}
    return {c.customer_ref: (c.name, c.email, numbers[c.id]) for c in customers}


async def accounts_of(database: Database, tenant_id: int) -> dict[str, tuple]:
    """account_ref -> (customer_ref, currency, balance_minor, status, vip)."""
    async with database.tenant_session(tenant_id) as session:
        rows = await session.execute(
            select(
                Account.account_ref,
                Customer.customer_ref,
                Account.currency,
                Account.balance_minor,
                Account.status,
                Account.vip,
            ).join(Customer, Account.customer_id == Customer.id)
        )
        return {ref: tuple(rest) for ref, *rest in rows}


async def audit_entries(database: Database, tenant_id: int) -> list[AuditEntry]:
    async with database.tenant_session(tenant_id) as session:
        return list((await session.scalars(select(AuditEntry))).all())


# --- Reading the file -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("balance", "currency", "minor"),
    [("1234.5", "ILS", 123450), ("0.1", "EUR", 10), ("12", "JPY", 12), ("-20.05", "eur", -2005)],
)
def test_balances_become_exact_minor_units(balance: str, currency: str, minor: int) -> None:
    plan = parse(f"C-1,Sarah,,,A-1,{currency},{balance},active")
    assert plan.problems == []
    account = plan.customers["C-1"].accounts["A-1"]
    assert (account.currency, account.balance_minor) == (currency.upper(), minor)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("C-1,Sarah,,,A-1,EUR,12.345,active", "balance '12.345' has more than 2 decimal places"),
        ("C-1,Sarah,,,A-1,JPY,1.5,active", "balance '1.5' has more than 0 decimal places"),
        ("C-1,Sarah,,,A-1,EUR,1e3,active", "balance '1e3' is not a plain decimal amount"),
        ("C-1,Sarah,,,A-1,EUR,,active", "balance is missing"),
        ("C-1,Sarah,,,A-1,XYZ,12,active", "currency 'XYZ' is not a known ISO 4217 code"),
        ("C-1,Sarah,,,A-1,EUR,99999999999999999999,active", "balance '99999999999999999999' is"),
        ("C-1,Sarah,123;050-234-5678,,A-1,EUR,1,active", "phone '123' is not a valid number"),
        ("C-1,Sarah,,sarah@,A-1,EUR,1,active", "email 'sarah@' is not a valid address"),
        ("C-1,Sarah,,,A-1,EUR,1,frozen", "status 'frozen' is not one of active, overdue"),
        ("C-1,  ,,,A-1,EUR,1,active", "name is missing"),
        (f"C-1,{'x' * 201},,,A-1,EUR,1,active", "name is longer than 200 characters"),
        (f"{'C' * 65},Sarah,,,A-1,EUR,1,active", "customer_ref is longer than 64 characters"),
        ("C-1,Sarah,,,,EUR,1,active", "account_ref is missing"),
        ("C-1,Sarah,,,A-1,EUR,1,active,extra", "has 9 cells, the header has 8"),
    ],
)
def test_a_bad_field_makes_the_row_bad_with_the_reason(row: str, reason: str) -> None:
    plan = parse("C-0,Good,,,A-0,EUR,1,active", row)
    assert len(plan.problems) == 1
    assert plan.problems[0].line == 3
    assert plan.problems[0].reason.startswith(reason)
    assert list(plan.customers) == ["C-0"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "customer_ref,name,phones,email,account_ref,currency,balance",
            "missing column(s): status",
        ),
        (HEADER + ",vip", "unknown column(s): 'vip'"),
        (HEADER + ",name", "repeated column(s): name"),
        (HEADER + ",", "unknown column(s): (empty)"),
        ("", "missing column(s): customer_ref, name"),
    ],
)
def test_a_wrong_header_refuses_the_whole_file(header: str, message: str) -> None:
    with pytest.raises(ImportFileError, match=re.escape(message)):
        parse("C-1,Sarah,,,A-1,EUR,1,active", header=header)


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(ImportFileError, match="empty"):
        parse_customer_csv(io.StringIO(""), "IL")


def test_a_bom_spaces_and_any_column_order_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    text = "Status , balance,currency,account_ref,email,phones,name,customer_ref\r\n"
    text += "active,1,EUR,A-1,,050-234-5678,Sarah,C-1\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    plan = read_plan(path, "IL")
    assert plan.problems == []
    assert plan.customers["C-1"].phones == {SARAH_MOBILE}


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    rows = "\nC-1,Sarah,,,A-1,EUR,1,active\nC-2,Žydrūnas,,,A-2,EUR,1,active\n"
    path.write_bytes((HEADER + rows).encode("cp1257"))
    with pytest.raises(ImportFileError, match="line 3: the file is not UTF-8 text"):
        read_plan(path, "IL")


def test_line_numbers_are_the_physical_lines_where_a_record_starts() -> None:
    plan = parse(
        "C-1,Sarah,,,A-1,EUR,1,active",
        "",
        'C-2,"Two\nLines",,,A-2,EUR,1,active',
        ",,,,,,,",
        "C-3,Ona,,,A-3,EUR,1,nope",
    )
    assert plan.rows_read == 3
    assert [problem.line for problem in plan.problems] == [4, 7]


def test_rows_of_one_customer_merge_into_its_phones_and_accounts() -> None:
    plan = parse(
        "C-1,Sarah,050-234-5678;03-555-1234,,A-1,ILS,1,active",
        "C-1,Sarah,050 234 5678;,,A-2,EUR,2,overdue",
    )
    customer = plan.customers["C-1"]
    assert customer.phones == {SARAH_MOBILE, SARAH_HOME}
    assert list(customer.accounts) == ["A-1", "A-2"]


def test_a_different_name_for_the_same_customer_names_the_line_of_the_first() -> None:
    plan = parse(
        "C-1,Sarah,,s@example.com,A-1,ILS,1,active",
        "C-1,Sara,,s@example.com,A-2,ILS,1,active",
        "C-1,Sarah,,other@example.com,A-3,ILS,1,active",
    )
    assert RowProblem(3, "name differs from line 2 for customer 'C-1'") in plan.problems
    assert RowProblem(4, "email differs from line 2 for customer 'C-1'") in plan.problems


def test_the_same_account_under_two_customers_is_a_bad_row() -> None:
    plan = parse("C-1,Sarah,,,A-1,ILS,1,active", "C-2,David,,,A-1,ILS,1,active")
    assert plan.problems == [
        RowProblem(3, "account 'A-1' is already on line 2 under customer 'C-1'")
    ]
    assert list(plan.customers) == ["C-1"]


def test_a_customer_with_a_bad_row_is_held_back_whole() -> None:
    # Importing C-1 without line 3 would delete 03-555-1234, which line 3 still lists.
    plan = parse(
        "C-1,Sarah,050-234-5678,,A-1,ILS,1,active",
        "C-1,Sarah,03-555-1234,,A-2,ILS,1,closed-ish",
        "C-2,David,,,A-3,ILS,1,active",
    )
    assert list(plan.customers) == ["C-2"]
    assert plan.problems[0] == RowProblem(2, "customer 'C-1' not imported: line 3 is bad")
    assert plan.problems[1].line == 3


# --- Applying it to the database --------------------------------------------------------------


async def test_good_rows_are_imported_exactly_with_names_intact(
    database: Database, tenant: int
) -> None:
    report = await run(database, DATA / "customers.csv")
    assert (report.customers_created, report.accounts_created, report.problems) == (3, 4, [])
    assert await customers_of(database, tenant) == {
        "C-100": ("שרה כהן", "sarah@example.co.il", [SARAH_HOME, SARAH_MOBILE]),
        "C-200": ("Žygimantas Šaulys", None, ["+37061234567"]),
        "C-300": ("Ąžuolė Čiurlionytė", "ona@example.lt", []),
    }
    assert await accounts_of(database, tenant) == {
        "A-100": ("C-100", "ILS", 123450, "active", False),
        "A-101": ("C-100", "EUR", 10, "overdue", False),
        "A-200": ("C-200", "JPY", 12, "suspended", False),
        "A-300": ("C-300", "EUR", -2005, "closed", False),
    }


async def test_bad_rows_are_reported_by_line_while_good_rows_import(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "C-1,Sarah,050-234-5678,,A-1,EUR,12.345,active",
        "C-2,David,123,,A-2,ILS,5,active",
        "C-3,Ona,,,A-3,ILS,5,active",
    )
    report = await run(database, path)
    assert [str(problem) for problem in report.problems] == [
        "line 2: balance '12.345' has more than 2 decimal places for EUR",
        "line 3: phone '123' is not a valid number",
    ]
    assert set(await customers_of(database, tenant)) == {"C-3"}
    assert "line 3: phone '123' is not a valid number" in report.summary_lines()


async def test_running_the_same_file_again_creates_nothing_new(
    database: Database, tenant: int
) -> None:
    await run(database, DATA / "customers.csv")
    before = (await customers_of(database, tenant), await accounts_of(database, tenant))
    report = await run(database, DATA / "customers.csv")
    assert tally(report) == {"customers": (0, 0, 3), "accounts": (0, 0, 4)}
    assert (await customers_of(database, tenant), await accounts_of(database, tenant)) == before


async def test_a_changed_file_updates_names_balances_and_phones_and_keeps_vip(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await make_customer(
        database,
        tenant,
        "C-1",
        "Sarah",
        [SARAH_MOBILE, SARAH_HOME],
        accounts=[
            account("A-1", 500) | {"vip": True},
            account("A-OLD", 7),
        ],
    )
    path = write_csv(tmp_path, "C-1,Sarah Levi,050-234-5678;054-456-7890,,A-1,ILS,99.99,overdue")
    report = await run(database, path)
    assert tally(report) == {"customers": (0, 1, 0), "accounts": (0, 1, 0)}
    assert (await customers_of(database, tenant))["C-1"] == (
        "Sarah Levi",
        None,
        [SARAH_MOBILE, "+972544567890"],
    )
    accounts = await accounts_of(database, tenant)
    assert accounts["A-1"] == ("C-1", "ILS", 9999, "overdue", True)
    assert accounts["A-OLD"] == ("C-1", "ILS", 7, "active", False)  # not in the file: left alone


async def test_a_household_number_can_belong_to_two_customers(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "C-1,Sarah,03-555-1234,,A-1,ILS,1,active",
        "C-2,David,03-555-1234;050-234-5679,,A-2,ILS,1,active",
    )
    await run(database, path)
    customers = await customers_of(database, tenant)
    assert customers["C-1"][2] == [SARAH_HOME]
    assert customers["C-2"][2] == [SARAH_HOME, "+972502345679"]


async def test_an_account_owned_by_another_customer_in_the_database_is_a_bad_row(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await make_customer(database, tenant, "C-9", "Owner", [], accounts=[account("A-1", 5)])
    path = write_csv(
        tmp_path,
        "C-1,Sarah,050-234-5678,,A-0,ILS,1,active",
        "C-1,Sarah,,,A-1,ILS,1,active",
        "C-2,David,,,A-2,ILS,1,active",
    )
    report = await run(database, path)
    assert report.problems == [
        RowProblem(2, "customer 'C-1' not imported: line 3 is bad"),
        RowProblem(3, "account 'A-1' belongs to customer 'C-9' in the database"),
    ]
    assert set(await customers_of(database, tenant)) == {"C-9", "C-2"}
    assert (await accounts_of(database, tenant))["A-1"] == ("C-9", "ILS", 5, "active", False)


async def test_an_account_currency_changes_only_while_its_balance_is_zero(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await make_customer(database, tenant, "C-1", "Sarah", [], [account("A-1", 1050)])
    await make_customer(database, tenant, "C-2", "David", [], [account("A-2", 0)])
    path = write_csv(tmp_path, "C-1,Sarah,,,A-1,EUR,3,active", "C-2,David,,,A-2,EUR,3,active")
    report = await run(database, path)
    assert report.problems == [
        RowProblem(2, "account 'A-1' has a balance of 10.50 ILS; its currency cannot change to EUR")
    ]
    accounts = await accounts_of(database, tenant)
    assert accounts["A-1"][1:3] == ("ILS", 1050)
    assert accounts["A-2"][1:3] == ("EUR", 300)


async def test_a_failure_half_way_leaves_nothing_written(
    database: Database, tenant: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_customer(database, tenant, "C-1", "Sarah", [SARAH_MOBILE], [account("A-1", 1)])
    path = write_csv(tmp_path, *(f"C-{n},Name {n},,,A-{n},ILS,{n}00,active" for n in range(1, 6)))
    before = (await customers_of(database, tenant), await accounts_of(database, tenant))
    real_chunk, chunks_done = customer_import_store._write_chunk, []

    async def second_chunk_fails(*args, **kwargs):
        if chunks_done:
            raise ConnectionResetError("database went away")
        chunks_done.append(await real_chunk(*args, **kwargs))
        return chunks_done[-1]

    monkeypatch.setattr(customer_import_store, "CHUNK_SIZE", 2)
    monkeypatch.setattr(customer_import_store, "_write_chunk", second_chunk_fails)
    with pytest.raises(ConnectionResetError):
        await run(database, path)
    assert chunks_done  # the first chunk had been flushed: rollback, not luck, undid it
    assert (await customers_of(database, tenant), await accounts_of(database, tenant)) == before
    assert await audit_entries(database, tenant) == []


async def test_numbers_changed_are_the_old_and_new_numbers_of_touched_customers(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await make_customer(
        database, tenant, "C-1", "Sarah", [SARAH_MOBILE, SARAH_HOME], [account("A-1", 1)]
    )
    await make_customer(database, tenant, "C-2", "Same", ["+972523456789"], [account("A-2", 1)])
    path = write_csv(
        tmp_path,
        "C-1,Sarah,050-234-5678;054-456-7890,,A-1,ILS,0.01,active",
        "C-2,Same,052-345-6789,,A-2,ILS,0.01,active",  # unchanged: its lookups stay cached
        "C-3,New,058-765-4321,,A-3,ILS,1,active",
    )
    calls: list[tuple[int, set[str]]] = []

    async def forget(tenant_id: int, numbers: set[str]) -> None:
        calls.append((tenant_id, numbers))

    report = await run(database, path, on_numbers_changed=forget)
    assert calls == [(tenant, {SARAH_MOBILE, SARAH_HOME, "+972544567890", "+972587654321"})]
    assert report.cache_cleared


async def test_a_failing_cache_callback_is_reported_and_the_import_stands(
    database: Database, tenant: int
) -> None:
    async def redis_down(tenant_id: int, numbers: set[str]) -> None:
        raise ConnectionRefusedError("redis at 127.0.0.1:6379 refused the connection")

    report = await run(database, DATA / "customers.csv", on_numbers_changed=redis_down)
    assert not report.cache_cleared
    assert any("cache could not be cleared" in line for line in report.summary_lines())
    assert len(await customers_of(database, tenant)) == 3


async def test_an_import_clears_stale_caller_lookups(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await make_customer(database, tenant, "C-1", "Sarah", [SARAH_MOBILE], [account("A-1", 1)])
    identification = CallerIdentification(
        CustomerDirectory(database), MemoryCache(600), fallback_region="IL"
    )
    first = await identification.identify("050-234-5678", TEL_AVIV_DID)
    path = write_csv(tmp_path, "C-1,Sarah Levi,050-234-5678,,A-1,ILS,1,active")
    await run(database, path, on_numbers_changed=identification.forget_numbers)
    again = await identification.identify("050-234-5678", TEL_AVIV_DID)
    assert (first.customer.name, again.customer.name) == ("Sarah", "Sarah Levi")


async def test_a_dry_run_reports_but_writes_nothing(database: Database, tenant: int) -> None:
    calls = []

    async def forget(tenant_id: int, numbers: set[str]) -> None:
        calls.append(numbers)

    report = await run(database, DATA / "customers.csv", dry_run=True, on_numbers_changed=forget)
    assert tally(report) == {"customers": (3, 0, 0), "accounts": (4, 0, 0)}
    assert report.summary_lines()[0] == "dry run: nothing was written"
    assert await customers_of(database, tenant) == {}
    assert await audit_entries(database, tenant) == []
    assert calls == []


async def test_the_audit_entry_has_the_file_and_counts_and_no_personal_data(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "C-1,שרה כהן,050-234-5678,sarah@example.com,A-1,ILS,1234.5,active",
        "C-2,David,123,,A-2,ILS,1,active",
        name="base-2026.csv",
    )
    await run(database, path)
    [entry] = await audit_entries(database, tenant)
    assert (entry.actor_label, entry.action, entry.target_type) == (
        "cli:root",
        "customers.imported",
        "tenant",
    )
    assert entry.details["file"] == "base-2026.csv"
    assert (entry.details["rows_read"], entry.details["customers_created"]) == (2, 1)
    assert entry.details["problems"] == 1
    written = str(entry.details)
    for personal in ("שרה", "sarah@", "502345678", "C-1", "A-1", "123450", "1234.5", "David"):
        assert personal not in written


async def test_importing_into_one_tenant_never_touches_another_tenants_customer(
    database: Database, tenant: int
) -> None:
    other = await make_tenant(database, "saule", "LT", "EUR", ["+37052550100"])
    await make_customer(
        database, other, "C-100", "Jonas", ["+37061234568"], [account("A-100", 700, "EUR")]
    )
    await run(database, DATA / "customers.csv")
    assert await customers_of(database, other) == {"C-100": ("Jonas", None, ["+37061234568"])}
    assert await accounts_of(database, other) == {"A-100": ("C-100", "EUR", 700, "active", False)}
    assert (await accounts_of(database, tenant))["A-100"][2] == 123450
    assert await audit_entries(database, other) == []


async def test_statistics_that_cannot_be_refreshed_do_not_stop_the_import(
    database: Database,
    tenant: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As when the importing role does not own the tables (PostgreSQL only; SQLite skips it).
    monkeypatch.setattr(customer_import_store, "_ANALYZE", "ANALYZE no_such_table")
    report = await run(database, DATA / "customers.csv")
    assert report.customers_created == 3
    warned = "could not refresh table statistics" in caplog.text
    assert warned == (database.dialect == "postgresql")


async def test_an_unknown_tenant_is_refused(database: Database, tenant: int) -> None:
    with pytest.raises(UnknownTenant, match="no tenant with slug 'nope'"):
        await import_customers(database, "nope", DATA / "customers.csv", actor="cli:root")


async def test_ten_thousand_rows_import_in_chunks(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    rows = (
        f"C-{n // 2},Customer {n // 2},+97252{2000000 + n // 2},,A-{n},ILS,{n}.5,active"
        for n in range(10_000)
    )
    path = write_csv(tmp_path, *rows)
    report = await run(database, path)
    assert (report.rows_read, report.problems) == (10_000, [])
    assert tally(report) == {"customers": (5_000, 0, 0), "accounts": (10_000, 0, 0)}
    again = await run(database, path)
    assert tally(again) == {"customers": (0, 0, 5_000), "accounts": (0, 0, 10_000)}


def test_a_name_is_kept_without_bidi_overrides_in_nfc_and_with_card_numbers_masked() -> None:
    plan = parse(
        "C-1,\u202eDana\u202c Jose\u0301,,,A-1,EUR,1,active",
        "C-2,Card 4242 4242 4242 4242,,,A-2,EUR,1,active",
    )
    assert plan.problems == []
    assert plan.customers["C-1"].name == "Dana Jos\u00e9"
    assert plan.customers["C-2"].name == "Card **** **** **** 4242"


def test_a_name_of_only_bidi_overrides_is_missing() -> None:
    plan = parse("C-1,\u202e\u2066,,,A-1,EUR,1,active")
    assert plan.problems == [RowProblem(2, "name is missing")]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("C-\x001,Dana,,,A-1,EUR,1,active", "customer_ref contains a control or bidi character"),
        ("C-1,Dana,,,A-\u202e1,EUR,1,active", "account_ref contains a control or bidi character"),
        ("C-1,Dana,,a\x00b@example.com,A-1,EUR,1,active",
         "email contains a control or bidi character"),
    ],
)  # fmt: skip
def test_a_reference_or_email_with_hidden_characters_makes_the_row_bad(
    row: str, reason: str
) -> None:
    plan = parse(row)
    assert plan.customers == {}
    assert RowProblem(2, reason) in plan.problems
