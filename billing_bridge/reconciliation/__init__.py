"""Reconciliation: what Ledgerline collected, refunded, charged back and credited on a
business's day, against what the business's billing system has acknowledged
(`docs/reconciliation.md`). `report` reads the rows; `csv_export` writes what it read."""

from billing_bridge.reconciliation.report import (
    KINDS,
    MAX_PAGE,
    BadDay,
    Figure,
    Reconciliation,
    Total,
    Unacknowledged,
    UnacknowledgedPage,
    UnknownBusiness,
    day_report,
    parse_day,
    report_of_business,
    unacknowledged,
    yesterday,
)

__all__ = [
    "KINDS",
    "MAX_PAGE",
    "BadDay",
    "Figure",
    "Reconciliation",
    "Total",
    "Unacknowledged",
    "UnacknowledgedPage",
    "UnknownBusiness",
    "day_report",
    "parse_day",
    "report_of_business",
    "unacknowledged",
    "yesterday",
]
