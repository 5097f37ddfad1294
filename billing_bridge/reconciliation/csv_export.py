"""The reconciliation report as CSV, for a spreadsheet or a billing team's own import.

UTF-8 with a byte-order mark (so a spreadsheet reads Hebrew and other scripts as written),
a header row, CRLF line ends. Two documents: the figures (one row per kind, method,
provider, currency and acknowledged) and the flagged items (one row each). A text cell that
a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage return)
is written with a leading apostrophe: an account reference comes from another system.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from billing_bridge.reconciliation.report import Reconciliation, Unacknowledged

BOM = "\ufeff"
FIGURE_HEADER = ("date", "timezone", "kind", "method", "provider", "currency", "acknowledged",
                 "count", "amount_minor")  # fmt: skip
ITEM_HEADER = ("kind", "entry_id", "payment_id", "credit_id", "account_id", "account_ref",
               "amount_minor", "currency", "event_id", "created_at", "age_hours")  # fmt: skip
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def figures_csv(report: Reconciliation) -> str:
    rows = (
        (report.day.isoformat(), report.timezone, f.kind, f.method or "", f.provider or "",
         f.currency, "yes" if f.acknowledged else "no", f.count, f.amount_minor)
        for f in report.figures
    )  # fmt: skip
    return _document(FIGURE_HEADER, rows)


def items_csv(items: Iterable[Unacknowledged]) -> str:
    rows = (
        (i.kind, i.entry_id, _id(i.payment_id), _id(i.credit_id), i.account_id,
         _text(i.account_ref), i.amount_minor, i.currency, i.event_id or "",
         i.created_at.isoformat(), i.age_hours)
        for i in items
    )  # fmt: skip
    return _document(ITEM_HEADER, rows)


def _document(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return BOM + out.getvalue()


def _id(value: int | None) -> str:
    return "" if value is None else str(value)


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value
