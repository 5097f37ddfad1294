"""Reading a customer-base CSV into an import plan: pure parsing and validation, no I/O.

The file has one row per account; a customer with several accounts has several rows sharing
its `customer_ref`. Every row is checked on its own (refs, name, e-mail, phones in E.164,
balance in exact minor units, status) and against the rows before it (one name and e-mail per
customer, one owner per account). A customer is imported whole or not at all: its phone set is
replaced by the file's, so importing it without one of its rows could delete numbers that row
still lists. Its other rows are therefore reported as held back, naming the bad line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TextIO

from billing_bridge.csv_import import (
    MAX_REF,
    CsvReader,
    ImportFileError,
    RowProblem,
    currency_cell,
    header_problems,
    read_header,
    records,
    ref_cell,
    status_cell,
)
from billing_bridge.money import MoneyError, to_minor
from billing_bridge.phones import to_e164
from pbx.db.models import ACCOUNT_STATUSES
from pbx.free_text import clean_name, has_hidden_characters, is_email_address, mask_card_numbers

COLUMNS = (
    "customer_ref",
    "name",
    "phones",
    "email",
    "account_ref",
    "currency",
    "balance",
    "status",
)
MAX_NAME = 200
# Balances are stored in a BIGINT column; anything wider would fail the whole transaction.
MAX_MINOR = 2**63 - 1

# Phone parsing is most of the parsing time, and a customer's number repeats on each of its
# rows (and across a household), so readings are remembered. to_e164 is a pure function.
_e164 = lru_cache(maxsize=65_536)(to_e164)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AccountRecord:
    line: int
    account_ref: str
    currency: str
    balance_minor: int
    status: str


@dataclass
class CustomerRecord:
    """One customer as the file describes it, merged from all its rows."""

    customer_ref: str
    name: str
    email: str | None
    line: int  # where the customer first appears; name and e-mail come from there
    phones: set[str] = field(default_factory=set)
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)


@dataclass
class ImportPlan:
    customers: dict[str, CustomerRecord]
    problems: list[RowProblem]
    rows_read: int


@dataclass(frozen=True)
class _Row:
    line: int
    customer_ref: str
    name: str
    email: str | None
    phones: frozenset[str]
    account: AccountRecord


def parse_customer_csv(stream: TextIO, region: str) -> ImportPlan:
    """Validate every row of the file; raise `ImportFileError` if the file itself is unusable."""
    reader = csv.reader(stream, strict=True)
    columns = _read_header(reader)
    builder = _PlanBuilder()
    rows_read = 0
    for line, cells in records(reader):
        rows_read += 1
        if len(cells) != len(columns):
            builder.reject(line, None, [f"has {len(cells)} cells, the header has {len(columns)}"])
            continue
        values = {name: cells[index] for name, index in columns.items()}
        row, reasons = _parse_row(line, values, region)
        if row is None:
            builder.reject(line, _ref_or_none(values["customer_ref"]), reasons)
        else:
            builder.add(row)
    return builder.finish(rows_read)


def held_back(record: CustomerRecord, bad_lines: set[int]) -> list[RowProblem]:
    """Problems for a customer's rows that are fine themselves but cannot go in without the
    bad ones (see the module docstring)."""
    first_bad = min(bad_lines)
    return [
        RowProblem(line, f"customer '{record.customer_ref}' not imported: line {first_bad} is bad")
        for line in record.lines
        if line not in bad_lines
    ]


def _read_header(reader: CsvReader) -> dict[str, int]:
    names = read_header(reader)
    reasons = header_problems(names, COLUMNS)
    if reasons:
        expected = ",".join(COLUMNS)
        raise ImportFileError(f"header: {'; '.join(reasons)} (expected exactly: {expected})")
    return {name: index for index, name in enumerate(names)}


def _parse_row(line: int, values: Mapping[str, str], region: str) -> tuple[_Row | None, list[str]]:
    reasons: list[str] = []
    customer_ref = ref_cell(values["customer_ref"], "customer_ref", reasons)
    account_ref = ref_cell(values["account_ref"], "account_ref", reasons)
    name = _name(values["name"], reasons)
    email = _email(values["email"], reasons)
    phones = _phones(values["phones"], region, reasons)
    currency = currency_cell(values["currency"], reasons)
    balance = _balance(values["balance"], currency, reasons)
    status = status_cell(values["status"], ACCOUNT_STATUSES, reasons)
    if reasons or balance is None:
        return None, reasons
    account = AccountRecord(line, account_ref, currency, balance, status)
    return _Row(line, customer_ref, name, email, phones, account), []


def _ref_or_none(text: str) -> str | None:
    ref = text.strip()
    return ref if ref and len(ref) <= MAX_REF else None


def _name(text: str, reasons: list[str]) -> str:
    if _CONTROL.search(text.strip()):
        # A line break in a name would break screen-pops and exports downstream.
        reasons.append("name contains a line break or control character")
        return text.strip()
    # Bidi overrides (a name that displays as another) dropped, NFC, card numbers masked.
    name = mask_card_numbers(clean_name(text))
    if not name:
        reasons.append("name is missing")
    elif len(name) > MAX_NAME:
        reasons.append(f"name is longer than {MAX_NAME} characters")
    return name


def _email(text: str, reasons: list[str]) -> str | None:
    email = text.strip()
    if not email:
        return None
    if has_hidden_characters(email):
        reasons.append("email contains a control or bidi character")
    elif not is_email_address(email):
        reasons.append(f"email '{email[:60]}' is not a valid address")
    return email


def _phones(text: str, region: str, reasons: list[str]) -> frozenset[str]:
    numbers = set()
    for written in (piece.strip() for piece in text.split(";")):
        if not written:
            continue  # "a;b;" or an empty cell: a customer may have no number
        e164 = _e164(written, region)
        if e164 is None:
            reasons.append(f"phone '{written[:40]}' is not a valid number")
        else:
            numbers.add(e164)
    return frozenset(numbers)


def _balance(text: str, currency: str, reasons: list[str]) -> int | None:
    if not text.strip():
        reasons.append("balance is missing")
        return None
    if not currency:
        return None  # already reported; the exponent is unknown so the amount cannot be read
    try:
        minor = to_minor(text, currency)
    except MoneyError as exc:
        reasons.append(f"balance {exc}")
        return None
    if abs(minor) > MAX_MINOR:
        reasons.append(f"balance '{text.strip()}' is too large")
        return None
    return minor


class _PlanBuilder:
    """Merges valid rows into customers and checks rows against the ones before them."""

    def __init__(self) -> None:
        self.customers: dict[str, CustomerRecord] = {}
        self.problems: list[RowProblem] = []
        self._bad_lines: dict[str, set[int]] = {}
        self._account_owner: dict[str, tuple[str, int]] = {}  # account_ref -> (customer, line)

    def reject(self, line: int, customer_ref: str | None, reasons: list[str]) -> None:
        self.problems.extend(RowProblem(line, reason) for reason in reasons)
        if customer_ref is not None:
            self._bad_lines.setdefault(customer_ref, set()).add(line)

    def add(self, row: _Row) -> None:
        record = self.customers.get(row.customer_ref)
        reasons = self._clashes(row, record)
        if reasons:
            self.reject(row.line, row.customer_ref, reasons)
            return
        if record is None:
            record = CustomerRecord(row.customer_ref, row.name, row.email, row.line)
            self.customers[row.customer_ref] = record
        record.phones |= row.phones
        record.accounts[row.account.account_ref] = row.account
        record.lines.append(row.line)
        self._account_owner[row.account.account_ref] = (row.customer_ref, row.line)

    def _clashes(self, row: _Row, record: CustomerRecord | None) -> list[str]:
        reasons = []
        if record is not None:
            whose = f"from line {record.line} for customer '{record.customer_ref}'"
            if row.name != record.name:
                reasons.append(f"name differs {whose}")
            if row.email != record.email:
                reasons.append(f"email differs {whose}")
        owner = self._account_owner.get(row.account.account_ref)
        if owner is not None:
            where = "" if owner[0] == row.customer_ref else f" under customer '{owner[0]}'"
            reasons.append(
                f"account '{row.account.account_ref}' is already on line {owner[1]}{where}"
            )
        return reasons

    def finish(self, rows_read: int) -> ImportPlan:
        for customer_ref, bad_lines in self._bad_lines.items():
            record = self.customers.pop(customer_ref, None)
            if record is not None:
                self.problems.extend(held_back(record, bad_lines))
        self.problems.sort(key=lambda problem: problem.line)
        return ImportPlan(self.customers, self.problems, rows_read)
