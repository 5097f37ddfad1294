"""What a collection run did: counts and amounts per currency, by outcome and reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from billing_bridge.money import format_minor


@dataclass
class Totals:
    """How many invoices and how much money, per currency (minor units)."""

    count: int = 0
    amounts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)  # failure codes, skip reasons

    def add(self, amount_minor: int, currency: str, reason: str | None = None) -> None:
        self.count += 1
        self.amounts[currency] += amount_minor
        if reason:
            self.reasons[reason] += 1

    def merge(self, other: Totals) -> None:
        self.count += other.count
        self.amounts.update(other.amounts)
        self.reasons.update(other.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "amounts": dict(sorted(self.amounts.items())),
            "reasons": dict(sorted(self.reasons.items())),
        }


@dataclass
class TenantReport:
    collected: Totals = field(default_factory=Totals)  # accepted by the provider this run
    failed: Totals = field(default_factory=Totals)  # refused this run, or found failed since
    skipped: Totals = field(default_factory=Totals)  # due, but not collectable now
    in_flight: int = 0  # already with the provider from an earlier run
    waiting: int = 0  # failed before; retried on a later day
    unanswered: int = 0  # the provider was unavailable: the same request goes next run

    def merge(self, other: TenantReport) -> None:
        self.collected.merge(other.collected)
        self.failed.merge(other.failed)
        self.skipped.merge(other.skipped)
        self.in_flight += other.in_flight
        self.waiting += other.waiting
        self.unanswered += other.unanswered

    def as_dict(self) -> dict[str, Any]:
        return {
            "collected": self.collected.as_dict(),
            "failed": self.failed.as_dict(),
            "skipped": self.skipped.as_dict(),
            "in_flight": self.in_flight,
            "waiting": self.waiting,
            "unanswered": self.unanswered,
        }


@dataclass
class CollectionReport:
    run_id: int
    run_on: date | None  # None: each business's own today
    tenants: dict[str, TenantReport] = field(default_factory=dict)  # by slug

    @property
    def total(self) -> TenantReport:
        whole = TenantReport()
        for report in self.tenants.values():
            whole.merge(report)
        return whole

    def summary_lines(self) -> list[str]:
        day = self.run_on.isoformat() if self.run_on else "each business's today"
        lines = [f"collection run {self.run_id} for {day}"]
        for slug, report in sorted(self.tenants.items()):
            lines.append(f"{slug}:")
            lines.extend(f"  {line}" for line in _lines(report))
        if len(self.tenants) > 1:
            lines.append("all:")
            lines.extend(f"  {line}" for line in _lines(self.total))
        return lines


def _lines(report: TenantReport) -> list[str]:
    lines = []
    for label, totals in (
        ("collected", report.collected), ("failed", report.failed), ("skipped", report.skipped),
    ):  # fmt: skip
        amounts = ", ".join(f"{format_minor(amount, currency)} {currency}" for currency, amount in
                            sorted(totals.amounts.items())) or "-"  # fmt: skip
        reasons = ", ".join(f"{reason} {count}" for reason, count in
                            sorted(totals.reasons.items()))  # fmt: skip
        lines.append(f"{label}: {totals.count} ({amounts})" + (f" [{reasons}]" if reasons else ""))
    lines.append(
        f"with the provider already: {report.in_flight}; retry later: {report.waiting}; "
        f"unanswered (resent next run): {report.unanswered}"
    )
    return lines
