"""Reading a CSV of the billing system's invoices, and deciding what it changes: pure, no I/O.

One row per invoice, matched by `invoice_ref` within the business; its account by
`account_ref` (the business's own accounts only). Amounts are exact decimals in the
currency's minor units (12.34 EUR, 1234 JPY; a digit more is refused, never rounded) and
must be the account's currency. `outstanding` left empty is the whole amount of an open
invoice, nothing of a paid or void one. `line_summary` is free text, screened like a note
(`pbx.free_text`): kept as text, never read as a formula. An optional `version` (an integer)
or `updated_at` (ISO 8601 with its offset, as microseconds since the epoch) orders rows
against what is stored: an older row is skipped as stale, the same one is unchanged, and a
row without either always writes its content (the stored version is kept). Each bad row is
reported with its line; the other rows import.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TextIO

from billing_bridge.csv_import import (
    CsvReader,
    ImportFileError,
    RowProblem,
    closing_lines,
    currency_cell,
    header_problems,
    read_header,
    records,
    ref_cell,
    status_cell,
)
from billing_bridge.money import MoneyError, to_minor
from pbx.db.models import INVOICE_STATUSES
from pbx.free_text import cap, clean_text
from pbx.instants import NotAnInstant, parse_instant

REQUIRED = (
    "invoice_ref", "account_ref", "currency", "amount", "outstanding", "issued_on", "due_on",
    "status",
)  # fmt: skip
OPTIONAL = ("line_summary", "version", "updated_at")
MAX_MINOR = 2**63 - 1  # a BIGINT column
MAX_AMOUNT_TEXT = 40  # wider than any amount a BIGINT holds, in any exponent
SUMMARY_LENGTH = 500  # invoices.line_summary
SUMMARY_READ = 4 * SUMMARY_LENGTH  # longer is refused; cleaned text is capped to the column
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DIGITS = re.compile(r"^[0-9]{1,19}$")


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    line: int
    invoice_ref: str
    account_ref: str
    currency: str
    amount_minor: int
    outstanding_minor: int
    issued_on: date
    due_on: date
    status: str
    line_summary: str | None
    summary_given: bool  # the file has the column: without it, a stored summary stays
    source_version: int | None  # None: the file gives no order

    def content(self) -> tuple[Any, ...]:
        return (self.currency, self.amount_minor, self.outstanding_minor, self.issued_on,
                self.due_on, self.status)  # fmt: skip


@dataclass
class InvoicePlan:
    rows: dict[str, InvoiceRow]  # by invoice_ref, in file order
    problems: list[RowProblem]
    rows_read: int


@dataclass(frozen=True, slots=True)
class StoredAccount:
    id: int
    customer_id: int
    currency: str


@dataclass(frozen=True, slots=True)
class StoredInvoice:
    id: int
    account_id: int
    content: tuple[Any, ...]  # as `InvoiceRow.content`
    line_summary: str | None
    source_version: int | None

    def holds(self, row: InvoiceRow, account_id: int) -> bool:
        """Whether writing `row` would change nothing."""
        summary = row.line_summary if row.summary_given else self.line_summary
        return (self.account_id, self.content, self.line_summary) == (
            account_id,
            row.content(),
            summary,
        )


@dataclass(frozen=True, slots=True)
class InvoiceWrite:
    row: InvoiceRow
    account: StoredAccount
    stored_id: int | None  # None: a new invoice


@dataclass
class InvoiceImportReport:
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    dry_run: bool = False
    cache_cleared: bool = True
    cache_error: str | None = None

    def summary_lines(self) -> list[str]:
        would = "would be " if self.dry_run else ""
        lines = ["dry run: nothing was written"] if self.dry_run else []
        lines += [
            f"rows read: {self.rows_read}",
            f"invoices {would}created: {self.created}, {would}updated: {self.updated}, "
            f"unchanged: {self.unchanged}, stale (older than stored, skipped): {self.stale}",
        ]
        return lines + closing_lines(
            self.problems, self.cache_cleared, self.cache_error, "old overdue amounts"
        )

    def audit_details(self, file_name: str) -> dict[str, Any]:
        return {"file": file_name, "rows_read": self.rows_read, "created": self.created,
                "updated": self.updated, "unchanged": self.unchanged, "stale": self.stale,
                "problems": len(self.problems)}  # fmt: skip


def parse_invoice_csv(stream: TextIO) -> InvoicePlan:
    """Validate every row of the file; raise `ImportFileError` if the file itself is unusable."""
    reader = csv.reader(stream, strict=True)
    columns = _read_header(reader)
    rows: dict[str, InvoiceRow] = {}
    problems: list[RowProblem] = []
    rows_read = 0
    for line, cells in records(reader):
        rows_read += 1
        if len(cells) != len(columns):
            problems.append(RowProblem(line, f"has {len(cells)} cells, the header has "
                                             f"{len(columns)}"))  # fmt: skip
            continue
        values = {name: cells[index] for name, index in columns.items()}
        row, reasons = _parse_row(line, values)
        if row is not None and row.invoice_ref in rows:
            reasons = [f"invoice '{row.invoice_ref}' is already on line "
                       f"{rows[row.invoice_ref].line}"]  # fmt: skip
        if reasons or row is None:
            problems.extend(RowProblem(line, reason) for reason in reasons)
        else:
            rows[row.invoice_ref] = row
    return InvoicePlan(rows, problems, rows_read)


def decide(
    rows: list[InvoiceRow],
    accounts: Mapping[str, StoredAccount],
    stored: Mapping[str, StoredInvoice],
    report: InvoiceImportReport,
) -> list[InvoiceWrite]:
    """What a chunk of rows writes, given the business's accounts and invoices they name;
    counted into the report, refusals added to its problems."""
    writes = []
    for row in rows:
        account = accounts.get(row.account_ref)
        if account is None:
            report.problems.append(RowProblem(
                row.line, f"account_ref '{row.account_ref}' is not an account of this business"
            ))  # fmt: skip
            continue
        if row.currency != account.currency:
            report.problems.append(RowProblem(
                row.line, f"currency {row.currency} is not account '{row.account_ref}''s "
                f"({account.currency})",
            ))  # fmt: skip
            continue
        held = stored.get(row.invoice_ref)
        if held is None:
            report.created += 1
            writes.append(InvoiceWrite(row, account, None))
            continue
        if held.source_version is not None and row.source_version is not None:
            if row.source_version < held.source_version:
                report.stale += 1
                continue
            if row.source_version == held.source_version:
                report.unchanged += 1
                continue
        elif row.source_version is None and held.holds(row, account.id):
            report.unchanged += 1
            continue
        report.updated += 1
        writes.append(InvoiceWrite(row, account, held.id))
    return writes


def _read_header(reader: CsvReader) -> dict[str, int]:
    names = read_header(reader)
    reasons = header_problems(names, REQUIRED, OPTIONAL)
    if "version" in names and "updated_at" in names:
        reasons.append("give version or updated_at, not both")
    if reasons:
        raise ImportFileError(
            f"header: {'; '.join(reasons)} (expected: {','.join(REQUIRED)}, and optionally "
            f"{', '.join(OPTIONAL)})"
        )
    return {name: index for index, name in enumerate(names)}


def _parse_row(line: int, values: Mapping[str, str]) -> tuple[InvoiceRow | None, list[str]]:
    reasons: list[str] = []
    invoice_ref = ref_cell(values["invoice_ref"], "invoice_ref", reasons)
    account_ref = ref_cell(values["account_ref"], "account_ref", reasons)
    currency = currency_cell(values["currency"], reasons)
    status = status_cell(values["status"], INVOICE_STATUSES, reasons)
    amount = _amount(values["amount"], "amount", currency, reasons)
    outstanding = _outstanding(values["outstanding"], amount, status, currency, reasons)
    issued_on = _day(values["issued_on"], "issued_on", reasons)
    due_on = _day(values["due_on"], "due_on", reasons)
    if issued_on and due_on and due_on < issued_on:
        reasons.append("due_on is before issued_on")
    summary = _summary(values.get("line_summary", ""), reasons)
    summary_given = "line_summary" in values
    version = _version(values, reasons)
    if reasons or amount is None or outstanding is None or not issued_on or not due_on:
        return None, reasons
    row = InvoiceRow(line, invoice_ref, account_ref, currency, amount, outstanding, issued_on,
                     due_on, status, summary, summary_given, version)  # fmt: skip
    return row, []


def _amount(text: str, column: str, currency: str, reasons: list[str]) -> int | None:
    written = text.strip()
    if not written:
        reasons.append(f"{column} is missing")
        return None
    if not currency:
        return None  # already reported: without the exponent the amount cannot be read
    if len(written) > MAX_AMOUNT_TEXT:
        reasons.append(f"{column} '{written[:20]}...' is too large")
        return None
    try:
        minor = to_minor(written, currency)
    except MoneyError as exc:
        reasons.append(f"{column} {exc}")
        return None
    if minor < 0:
        reasons.append(f"{column} must not be negative")
        return None
    if minor > MAX_MINOR:
        reasons.append(f"{column} '{written}' is too large")
        return None
    return minor


def _outstanding(
    text: str, amount: int | None, status: str, currency: str, reasons: list[str]
) -> int | None:
    if not text.strip():
        if amount is None:
            return None
        return amount if status == "open" else 0
    outstanding = _amount(text, "outstanding", currency, reasons)
    if outstanding is not None and amount is not None and outstanding > amount:
        reasons.append("outstanding is more than amount")
    return outstanding


def _day(text: str, column: str, reasons: list[str]) -> date | None:
    written = text.strip()
    try:
        if len(written) != 10:
            raise ValueError(written)
        return date.fromisoformat(written)
    except ValueError:
        shown = f"'{written[:20]}'" if written else "missing"
        reasons.append(f"{column} {shown} is not a date as YYYY-MM-DD")
        return None


def _summary(text: str, reasons: list[str]) -> str | None:
    if len(text) > SUMMARY_READ:
        reasons.append(f"line_summary is longer than {SUMMARY_READ} characters")
        return None
    # Controls and bidi overrides dropped, NFC, card numbers masked; a formula stays text.
    return cap(clean_text(text), SUMMARY_LENGTH) or None


def _version(values: Mapping[str, str], reasons: list[str]) -> int | None:
    version, updated = values.get("version", "").strip(), values.get("updated_at", "").strip()
    if version:
        if not _DIGITS.match(version) or int(version) > MAX_MINOR:
            reasons.append(f"version '{version[:20]}' is not a whole number from 0 to 2^63-1")
            return None
        return int(version)
    if not updated:
        return None
    try:
        utc = parse_instant(updated, max_length=40)
    except NotAnInstant:
        reasons.append(f"updated_at '{updated[:40]}' is not an ISO 8601 time with its offset")
        return None
    delta = utc - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if micros < 0:
        reasons.append("updated_at is before 1970")
        return None
    return micros
