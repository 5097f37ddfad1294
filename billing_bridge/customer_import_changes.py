"""Deciding what a customer import changes, given what the database holds: pure, no I/O.

`decide` compares each customer in the plan with its stored state and returns the changes to
write; rows that conflict with the database are reported instead, with the customer's other
rows held back (its phone set is replaced as a whole, so half a customer cannot be written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from billing_bridge.csv_import import closing_lines
from billing_bridge.customer_import import (
    AccountRecord,
    CustomerRecord,
    ImportPlan,
    RowProblem,
    held_back,
)
from billing_bridge.money import format_minor


@dataclass
class ImportReport:
    rows_read: int = 0
    customers_created: int = 0
    customers_updated: int = 0
    accounts_created: int = 0
    accounts_updated: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    cache_cleared: bool = True
    dry_run: bool = False
    customers_unchanged: int = 0
    accounts_unchanged: int = 0
    cache_error: str | None = None  # why the caller-lookup cache was not cleared

    def summary_lines(self) -> list[str]:
        would = "would be " if self.dry_run else ""
        lines = ["dry run: nothing was written"] if self.dry_run else []
        lines += [
            f"rows read: {self.rows_read}",
            f"customers {would}created: {self.customers_created}, {would}updated: "
            f"{self.customers_updated}, unchanged: {self.customers_unchanged}",
            f"accounts {would}created: {self.accounts_created}, {would}updated: "
            f"{self.accounts_updated}, unchanged: {self.accounts_unchanged}",
        ]
        return lines + closing_lines(
            self.problems, self.cache_cleared, self.cache_error, "old names or balances"
        )

    def audit_details(self, file_name: str) -> dict[str, Any]:
        """Counts only: the audit log must not copy customers' personal data."""
        return {
            "file": file_name,
            "rows_read": self.rows_read,
            "customers_created": self.customers_created,
            "customers_updated": self.customers_updated,
            "customers_unchanged": self.customers_unchanged,
            "accounts_created": self.accounts_created,
            "accounts_updated": self.accounts_updated,
            "accounts_unchanged": self.accounts_unchanged,
            "problems": len(self.problems),
        }


@dataclass(frozen=True)
class StoredCustomer:
    id: int
    name: str
    email: str | None
    phones: dict[str, int]  # e164 -> id of the customer_phones row


@dataclass(frozen=True)
class StoredAccount:
    id: int
    customer_id: int
    currency: str
    balance_minor: int
    status: str
    # Of the balance, Ledgerline's own entries the billing system has not acknowledged: a
    # file stating the balance less these states what is already there.
    pending_minor: int = 0


@dataclass
class StoredState:
    """What the database holds for the file's refs: plain values, not ORM objects, because
    tracking 100,000 objects costs more than the import itself."""

    customers: dict[str, StoredCustomer] = field(default_factory=dict)  # by customer_ref
    accounts: dict[str, StoredAccount] = field(default_factory=dict)  # by account_ref
    owners: dict[int, str] = field(default_factory=dict)  # customer id -> customer_ref


def decide(plan: ImportPlan, current: StoredState, report: ImportReport) -> list[CustomerChange]:
    """The changes to write, counted into the report; customers that conflict with the
    database are held back whole (see `customer_import`) and reported."""
    changes = []
    for record in plan.customers.values():
        conflicts = _conflicts(record, current)
        if conflicts:
            report.problems += conflicts
            report.problems += held_back(record, {problem.line for problem in conflicts})
            continue
        change = _change_for(record, current)
        change.count_into(report)
        changes.append(change)
    report.problems.sort(key=lambda problem: problem.line)
    return changes


def _conflicts(record: CustomerRecord, current: StoredState) -> list[RowProblem]:
    """Rows the database's current state forbids: accounts never move between customers, and
    an account's currency cannot change while money is owed in the old one."""
    customer = current.customers.get(record.customer_ref)
    problems = []
    for ref, wanted in record.accounts.items():
        account = current.accounts.get(ref)
        if account is None:
            continue
        if customer is None or account.customer_id != customer.id:
            owner = current.owners[account.customer_id]
            reason = f"account '{ref}' belongs to customer '{owner}' in the database"
            problems.append(RowProblem(wanted.line, reason))
        elif account.currency != wanted.currency and account.balance_minor != 0:
            balance = format_minor(account.balance_minor, account.currency)
            problems.append(
                RowProblem(
                    wanted.line,
                    f"account '{ref}' has a balance of {balance} {account.currency}; "
                    f"its currency cannot change to {wanted.currency}",
                )
            )
    return problems


@dataclass
class CustomerChange:
    """What importing one customer does to the database; decided before anything is written."""

    record: CustomerRecord
    stored: StoredCustomer | None  # None: the customer is new
    details_changed: bool = False
    phones_added: set[str] = field(default_factory=set)
    phones_removed: set[str] = field(default_factory=set)
    accounts_created: list[AccountRecord] = field(default_factory=list)
    accounts_updated: list[tuple[int, AccountRecord]] = field(default_factory=list)
    accounts_unchanged: int = 0

    @property
    def customer_updated(self) -> bool:
        return self.stored is not None and bool(
            self.details_changed or self.phones_added or self.phones_removed
        )

    def stale_numbers(self) -> set[str]:
        """Every number whose cached lookup may now be wrong: old and new ones of a customer
        whose name, numbers or accounts changed (a removed number must stop finding them)."""
        touched = (
            self.stored is None
            or self.customer_updated
            or self.accounts_created
            or self.accounts_updated
        )
        if not touched:
            return set()
        old = set(self.stored.phones) if self.stored else set()
        return old | self.record.phones

    def count_into(self, report: ImportReport) -> None:
        if self.stored is None:
            report.customers_created += 1
        elif self.customer_updated:
            report.customers_updated += 1
        else:
            report.customers_unchanged += 1
        report.accounts_created += len(self.accounts_created)
        report.accounts_updated += len(self.accounts_updated)
        report.accounts_unchanged += self.accounts_unchanged


def _change_for(record: CustomerRecord, current: StoredState) -> CustomerChange:
    stored = current.customers.get(record.customer_ref)
    change = CustomerChange(record, stored)
    if stored is not None:
        change.details_changed = (stored.name, stored.email) != (record.name, record.email)
        change.phones_added = record.phones - set(stored.phones)
        change.phones_removed = set(stored.phones) - record.phones
    for ref, wanted in record.accounts.items():
        account = current.accounts.get(ref)
        if account is None:
            change.accounts_created.append(wanted)
        elif (account.currency, account.balance_minor - account.pending_minor, account.status) != (
            wanted.currency,
            wanted.balance_minor,
            wanted.status,
        ):
            change.accounts_updated.append((account.id, wanted))
        else:
            change.accounts_unchanged += 1
    return change
