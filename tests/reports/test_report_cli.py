"""`ledgerline report rebuild` sums the intervals again from the call log, and `ledgerline
report queues|agents|money --csv` prints what the API's CSV holds; a bad filter is one line
on stderr and exit 1."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from pbx.db.database import Database
from pbx.db.models import report_agent_intervals, report_queue_intervals
from pbx.reports.csv_export import per_call_csv, queues_csv
from pbx.reports.money import MoneyQuery, money_report
from pbx.reports.periods import Interval, period
from pbx.reports.queues import QueueQuery, queue_report
from tests.cli_process import run_ledgerline
from tests.factories import make_tenant
from tests.reports.calls import log_calls, staff, utc


async def test_rebuild_then_the_queue_csv_equals_the_reports_own(database: Database) -> None:
    tenant = await make_tenant(database, "vilnius", "LT", "EUR", [], timezone="Europe/Vilnius")
    business = await staff(database, tenant)
    await log_calls(database, business, utc(2026, 10, 24, 22), hours=26, count=60)
    span = period(ZoneInfo("Europe/Vilnius"), date(2026, 10, 25), date(2026, 10, 25),
                  Interval.HOUR)  # fmt: skip
    before = queues_csv(await queue_report(database, tenant, QueueQuery(span, Interval.HOUR)))
    async with database.engine.begin() as connection:
        await connection.execute(report_queue_intervals.delete())
        await connection.execute(report_agent_intervals.delete())

    code, out, err = await run_ledgerline(database.url, "report", "rebuild", "--tenant", "vilnius")
    assert code == 0, err
    assert out.strip() == "vilnius: 60 calls summed into the report intervals"

    code, out, err = await run_ledgerline(database.url, "report", "queues", "--tenant", "vilnius",
                                       "--from", "2026-10-25", "--interval", "hour", "--csv")
    assert code == 0, err
    assert out == before and out.startswith("\ufeffinterval_start,queue_id,")
    code, out, err = await run_ledgerline(database.url, "report", "agents", "--tenant", "vilnius",
                                       "--from", "2026-10-25")  # fmt: skip
    assert code == 0 and "handled=" in out and "login_seconds=" in out, err
    code, out, err = await run_ledgerline(database.url, "report", "money", "--tenant", "vilnius",
                                       "--from", "2026-10-25", "--part", "per_call", "--csv")
    money = await money_report(database, tenant, MoneyQuery(span))
    assert code == 0 and out == per_call_csv(money) and money.per_call[-1].calls > 0, err

    code, _, err = await run_ledgerline(database.url, "report", "queues", "--tenant", "vilnius",
                                     "--service-level-seconds", "21")  # fmt: skip
    assert code == 1 and err.startswith("ledgerline: report queues: --service-level-seconds")
    code, _, err = await run_ledgerline(database.url, "report", "money", "--tenant", "nobody")
    assert code == 1 and "no business 'nobody'" in err
