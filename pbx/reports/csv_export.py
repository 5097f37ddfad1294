"""The reports as CSV for a spreadsheet or a script: UTF-8 with a byte-order mark (so a
spreadsheet reads Hebrew and Lithuanian names as written), a header row, CRLF line ends,
one row per figure row of the JSON (the per-interval rows, then the whole period's with an
empty interval_start). A text cell a spreadsheet would run as a formula gets a leading
apostrophe: queue and agent names are typed by people."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import astuple, fields
from datetime import datetime
from typing import Any

from pbx.reports.agents import AgentFigures, AgentReport
from pbx.reports.money import CollectedPerCall, MoneyFigure, MoneyReport
from pbx.reports.queues import QueueFigures, QueueReport

BOM = "\ufeff"
QUEUE_HEADER = tuple(f.name for f in fields(QueueFigures))
AGENT_HEADER = tuple(f.name for f in fields(AgentFigures))
MONEY_HEADER = tuple(f.name for f in fields(MoneyFigure))
PER_CALL_HEADER = tuple(f.name for f in fields(CollectedPerCall))
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def queues_csv(report: QueueReport) -> str:
    return _document(QUEUE_HEADER, (astuple(r) for r in (*report.rows, *report.totals)))


def agents_csv(report: AgentReport) -> str:
    return _document(AGENT_HEADER, (astuple(r) for r in (*report.rows, *report.totals)))


def money_csv(report: MoneyReport) -> str:
    mandates = (("mandate_set_up", f"{m.scheme}:{m.status}", None, None, "", m.count, 0)
                for m in report.mandates)  # fmt: skip
    return _document(MONEY_HEADER, (*(astuple(f) for f in report.figures), *mandates))


def per_call_csv(report: MoneyReport) -> str:
    """The money report's amount collected per call handled (`format=csv&part=per_call`)."""
    return _document(PER_CALL_HEADER, (astuple(r) for r in report.per_call))


def _document(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):  # seconds by pause reason: "lunch=600; training=1800"
        value = "; ".join(f"{key}={seconds}" for key, seconds in sorted(value.items()))
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
