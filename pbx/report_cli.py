"""`ledgerline report reconciliation --tenant SLUG [--date YYYY-MM-DD] [--csv]`: one day's
reconciliation of a business (`billing_bridge.reconciliation`), as a table to read or as
the same CSV the API gives. The service is imported by the handler, not here: every
`ledgerline` command builds this parser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pbx.reports import commands as call_reports

if TYPE_CHECKING:
    from billing_bridge.reconciliation import Reconciliation
    from pbx.db.database import Database
    from pbx.settings import Settings

EXIT_REFUSED = 1
OpenDatabase = Callable[["Settings"], AbstractAsyncContextManager["Database"]]


def add_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    open_database: OpenDatabase,
) -> None:
    report = commands.add_parser("report", help="reports of a business")
    report.set_defaults(open_database=open_database)
    kinds = report.add_subparsers(dest="report_command", required=True)
    reconciliation = kinds.add_parser(
        "reconciliation", help="one day's money against what the billing system acknowledged"
    )
    reconciliation.add_argument("--tenant", required=True, help="the business, by slug")
    reconciliation.add_argument("--date", help="YYYY-MM-DD in the business's time zone "
                                "(default: its yesterday)")  # fmt: skip
    reconciliation.add_argument("--csv", action="store_true", help="CSV (UTF-8 with a BOM)")
    reconciliation.add_argument("--part", choices=("figures", "unacknowledged"),
                                default="figures", help="with --csv: which document")  # fmt: skip
    reconciliation.set_defaults(handler=_reconciliation)
    call_reports.add_commands(kinds)  # queues, agents, money, rebuild


async def _reconciliation(settings: Settings, args: argparse.Namespace) -> int:
    from billing_bridge.reconciliation import (
        BadDay,
        UnknownBusiness,
        parse_day,
        report_of_business,
    )
    from billing_bridge.reconciliation.csv_export import figures_csv, items_csv

    try:
        day = parse_day(args.date) if args.date is not None else None
        async with args.open_database(settings) as database:
            report = await report_of_business(database, args.tenant, day,
                                              now=datetime.now(UTC))  # fmt: skip
    except BadDay as exc:
        print(f"ledgerline: report reconciliation: --date {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except UnknownBusiness as exc:
        print(f"ledgerline: report reconciliation: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.csv:
        text = items_csv(report.flagged) if args.part == "unacknowledged" else figures_csv(report)
        sys.stdout.write(text)
    else:
        print("\n".join(table_lines(args.tenant, report)))
    return 0


def table_lines(slug: str, report: Reconciliation) -> list[str]:
    lines = [
        f"{slug} {report.day} ({report.timezone}: {report.start:%Y-%m-%dT%H:%MZ} to "
        f"{report.end:%Y-%m-%dT%H:%MZ}), acknowledgements as of {report.as_of:%Y-%m-%dT%H:%MZ}",
        *_table(("kind", "method", "provider", "currency", "acknowledged", "count",
                 "amount_minor"),
                [(f.kind, f.method or "-", f.provider or "-", f.currency,
                  "yes" if f.acknowledged else "no", str(f.count), str(f.amount_minor))
                 for f in report.figures]),
        f"unacknowledged after {report.ack_hours} hours: {len(report.flagged)}",
    ]  # fmt: skip
    if report.flagged:
        lines += _table(("kind", "entry", "payment", "credit", "account_ref", "amount_minor",
                         "currency", "event", "age_hours"),
                        [(i.kind, str(i.entry_id), str(i.payment_id or "-"),
                          str(i.credit_id or "-"), i.account_ref, str(i.amount_minor),
                          i.currency, i.event_id or "-", str(i.age_hours))
                         for i in report.flagged])  # fmt: skip
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["(nothing)"]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in (header, *rows)]  # fmt: skip
