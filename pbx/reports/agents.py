"""The agents report: per agent and interval, read from `report_agent_intervals`.

What the call log holds of an agent's work: the calls they answered (inbound from a queue,
or outbound they placed), their talk time (answer to end) and how long callers waited for
them. Hold time, wrap-up time, ring-no-answer, log-in and pause time are not recorded yet
(the call log has no column for them and agent states are not kept over time), so the
report has no figure for them rather than an invented one (`docs/reports.md`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, cast, func, select

from pbx.db.database import Database
from pbx.db.models import AGENT_INTERVAL_COUNTS, User, report_agent_intervals
from pbx.reports.periods import Interval, Period
from pbx.reports.rollup import interval_key

_T = report_agent_intervals.c


@dataclass(frozen=True)
class AgentQuery:
    period: Period
    interval: Interval
    agents: tuple[int, ...] = ()  # empty: every agent
    queues: tuple[int, ...] = ()  # empty: every queue (and calls of no queue)


@dataclass(frozen=True)
class AgentFigures:
    interval_start: datetime | None  # None: the whole period
    agent_id: int
    agent_name: str | None
    handled: int
    inbound: int
    outbound: int
    talk_seconds: int
    average_talk_seconds: float | None
    longest_talk_seconds: int
    average_answer_wait_seconds: float | None  # inbound calls: the callers' wait


@dataclass(frozen=True)
class AgentReport:
    query: AgentQuery
    rows: list[AgentFigures]
    totals: list[AgentFigures]


async def agent_report(database: Database, tenant_id: int, query: AgentQuery) -> AgentReport:
    lo, hi = query.period.buckets
    zone = query.period.zone
    key, to_start = interval_key(_T.bucket, query.interval, zone,
                                 database.engine.dialect.name)  # fmt: skip
    statement = (
        select(key.label("interval_key"), _T.agent_id,
               *(cast(func.sum(_T[n]), BigInteger).label(n) for n in AGENT_INTERVAL_COUNTS),
               func.max(_T.talk_max).label("talk_max"))
        .where(_T.tenant_id == tenant_id, _T.bucket >= lo, _T.bucket < hi)
        .group_by(key, _T.agent_id)
    )  # fmt: skip
    if query.agents:
        statement = statement.where(_T.agent_id.in_(query.agents))
    if query.queues:
        statement = statement.where(_T.queue_id.in_(query.queues))
    sums: dict[tuple[datetime, int], list[int]] = {}
    totals: dict[int, list[int]] = {}
    async with database.tenant_session(tenant_id) as session:
        result = await session.execute(statement)
        names = {u.id: u.display_name for u in await session.scalars(select(User))}
        for row in result:
            values = [int(value) for value in row[2:]]
            start = to_start(row[0])
            _add(sums.setdefault((start, row[1]), [0] * len(values)), values)
            _add(totals.setdefault(row[1], [0] * len(values)), values)
    rows = [_figures(start.astimezone(zone), agent, names, values)
            for (start, agent), values in sorted(sums.items(), key=lambda i: i[0])]  # fmt: skip
    whole = [_figures(None, agent, names, values) for agent, values in sorted(totals.items())]
    return AgentReport(query, rows, whole)


def _add(into: list[int], values: list[int]) -> None:
    *counts, longest = values
    for index, value in enumerate(counts):
        into[index] += value
    into[-1] = max(into[-1], longest)


def _figures(start: datetime | None, agent: int, names: dict[int, str],
             values: list[int]) -> AgentFigures:  # fmt: skip
    handled, inbound, outbound, talk, answer_wait, longest = values
    return AgentFigures(
        interval_start=start, agent_id=agent, agent_name=names.get(agent), handled=handled,
        inbound=inbound, outbound=outbound, talk_seconds=talk,
        average_talk_seconds=round(talk / handled, 1) if handled else None,
        longest_talk_seconds=longest,
        average_answer_wait_seconds=round(answer_wait / inbound, 1) if inbound else None,
    )  # fmt: skip
