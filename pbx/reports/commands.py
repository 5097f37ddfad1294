"""`ledgerline report queues|agents|money --tenant SLUG [filters] [--csv]` (money
`--part per_call`: the amount collected per call handled) and `ledgerline
report rebuild --tenant SLUG [--from DAY --to DAY]`: the call and money reports for
scripts, and the report intervals summed again from the call log. Parsers only at import
(every `ledgerline` command builds them); the reports are imported by the handlers."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pbx.settings import Settings

EXIT_REFUSED = 1


def add_commands(kinds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, about in (("queues", "queues by interval"), ("agents", "agents by interval"),
                        ("money", "money collected and credited")):  # fmt: skip
        command = kinds.add_parser(name, help=f"{about} (JSON-like table or --csv)")
        _period(command)
        if name != "money":
            command.add_argument("--interval", choices=("15m", "hour", "day", "week"),
                                 default="day")  # fmt: skip
        command.add_argument("--queue", help="queue ids, comma-separated")
        if name != "queues":
            command.add_argument("--agent", help="agent (user) ids, comma-separated")
        if name == "money":
            command.add_argument("--part", choices=("figures", "per_call"), default="figures",
                                 help="per_call: amount collected per call handled")  # fmt: skip
        if name == "queues":
            command.add_argument("--did", help="dialled numbers (E.164), comma-separated")
            command.add_argument("--service-level-seconds", default="20")
            command.add_argument("--short-abandon-seconds", default="5")
        command.add_argument("--csv", action="store_true", help="CSV (UTF-8 with a BOM)")
        command.set_defaults(handler=_report, report_kind=name)
    rebuild = kinds.add_parser("rebuild", help="sum the report intervals again from the call "
                               "log (all of the business's calls, or --from/--to)")  # fmt: skip
    _period(rebuild)
    rebuild.set_defaults(handler=_rebuild)


def _period(command: argparse.ArgumentParser) -> None:
    command.add_argument("--tenant", required=True, help="the business, by slug")
    command.add_argument("--from", dest="first", help="YYYY-MM-DD, the business's calendar")
    command.add_argument("--to", dest="last", help="the last day included (default: --from)")


async def _report(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.reports.periods import BadFilter

    try:
        async with args.open_database(settings) as database:
            text = await _run_report(database, args)
    except (BadFilter, LookupError) as exc:
        print(f"ledgerline: report {args.report_kind}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    sys.stdout.write(text)
    return 0


async def _run_report(database: Any, args: argparse.Namespace) -> str:
    from pbx.reports import csv_export
    from pbx.reports.agents import AgentQuery, agent_report
    from pbx.reports.money import MoneyQuery, money_report
    from pbx.reports.periods import Interval, parse_band_edge, parse_ids, parse_numbers
    from pbx.reports.queues import QueueQuery, queue_report

    tenant_id, span = await _business_period(database, args, getattr(args, "interval", "day"))
    queues = parse_ids(args.queue, "--queue") if args.queue else ()
    if args.report_kind == "queues":
        query = QueueQuery(
            span, Interval(args.interval), queues=queues,
            dids=parse_numbers(args.did, "--did") if args.did else (),
            service_level_seconds=parse_band_edge(args.service_level_seconds,
                                                  "--service-level-seconds"),
            short_abandon_seconds=parse_band_edge(args.short_abandon_seconds,
                                                  "--short-abandon-seconds"),
        )  # fmt: skip
        report: Any = await queue_report(database, tenant_id, query)
        return csv_export.queues_csv(report) if args.csv else _table(report.rows + report.totals)
    agents = parse_ids(args.agent, "--agent") if args.agent else ()
    if args.report_kind == "agents":
        report = await agent_report(database, tenant_id, AgentQuery(
            span, Interval(args.interval), agents=agents, queues=queues))  # fmt: skip
        return csv_export.agents_csv(report) if args.csv else _table(report.rows + report.totals)
    report = await money_report(database, tenant_id, MoneyQuery(span, agents, queues))
    if args.part == "per_call":
        return csv_export.per_call_csv(report) if args.csv else _table(report.per_call)
    return csv_export.money_csv(report) if args.csv else _table(report.figures + report.mandates)


async def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.reports.periods import BadFilter
    from pbx.reports.store import rebuild

    try:
        async with args.open_database(settings) as database:
            if args.first is None and args.last is None:
                tenant_id, span = await _business(database, args.tenant), None
            else:
                tenant_id, span = await _business_period(database, args, "day")
            counted = await rebuild(database, tenant_id, span)
    except (BadFilter, LookupError) as exc:
        print(f"ledgerline: report rebuild: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"{args.tenant}: {counted} calls summed into the report intervals")
    return 0


async def _business(database: Any, slug: str) -> int:
    from sqlalchemy import select

    from pbx.db.models import Tenant

    async with database.system_session() as session:
        found = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if found is None:
        raise LookupError(f"no business {slug!r}")
    return int(found)


async def _business_period(database: Any, args: argparse.Namespace, interval: str) -> Any:
    from datetime import UTC, datetime, timedelta

    from billing_bridge.business_days import zone_of
    from pbx.reports.periods import Interval, parse_day, period

    tenant_id = await _business(database, args.tenant)
    zone = await zone_of(database, tenant_id)
    first = (parse_day(args.first, "--from") if args.first
             else datetime.now(UTC).astimezone(zone).date() - timedelta(days=1))  # fmt: skip
    last = parse_day(args.last, "--to") if args.last else first
    return tenant_id, period(zone, first, last, Interval(interval))


def _table(rows: list[Any]) -> str:
    """One line per row: its fields as name=value (None left out), for reading."""
    from dataclasses import asdict

    if not rows:
        return "(nothing)\n"
    lines = []
    for row in rows:
        fields = {k: v for k, v in asdict(row).items() if v is not None}
        lines.append("  ".join(f"{k}={v.isoformat() if hasattr(v, 'isoformat') else v}"
                               for k, v in fields.items()))  # fmt: skip
    return "\n".join(lines) + "\n"
