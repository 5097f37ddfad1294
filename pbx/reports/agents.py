"""The agents report: per agent and interval, read from `report_agent_intervals` (the call
log's sums: calls answered, talk time, callers' waits) and `report_agent_state_intervals`
(the agents' state history: logged-in, paused by reason, on a call, on hold and wrap-up
time, ring-no-answer timeouts), never from the call log or the spans themselves.

The state figures are the agent's, not a queue's: a report narrowed to queues leaves them
out (None). `docs/reports.md` defines each figure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, cast, func, select

from pbx.acd.agents import RING_NO_ANSWER
from pbx.db.database import Database
from pbx.db.models import (
    AGENT_INTERVAL_COUNTS,
    User,
    report_agent_intervals,
    report_agent_state_intervals,
)
from pbx.reports.periods import Interval, Period
from pbx.reports.rollup import interval_key

_T = report_agent_intervals.c
_S = report_agent_state_intervals.c
_NOT_LOGGED_IN = "on_hold"  # overlaps on_call: not more logged-in time


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
    # From the state history (None when the report is narrowed to queues):
    login_seconds: int | None = None
    pause_seconds: int | None = None
    pause_by_reason: dict[str, int] | None = None
    on_call_seconds: int | None = None
    hold_seconds: int | None = None
    wrap_up_seconds: int | None = None
    average_handle_seconds: float | None = None  # (talk + wrap-up) / handled
    occupancy_pct: float | None = None  # (on_call + wrap_up) / (login - pause)
    ring_no_answer: int | None = None


@dataclass
class _States:
    """An agent's seconds per state (paused: per reason) and ring-no-answer timeouts."""

    seconds: dict[str, int] = field(default_factory=dict)
    paused: dict[str, int] = field(default_factory=dict)
    ring_no_answer: int = 0

    def add(self, state: str, reason: str, seconds: int, entered: int) -> None:
        self.seconds[state] = self.seconds.get(state, 0) + seconds
        if state == "paused":
            self.paused[reason] = self.paused.get(reason, 0) + seconds
            if reason == RING_NO_ANSWER:
                self.ring_no_answer += entered


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
    states: dict[tuple[datetime, int], _States] = {}
    state_totals: dict[int, _States] = {}
    async with database.tenant_session(tenant_id) as session:
        result = await session.execute(statement)
        names = {u.id: u.display_name for u in await session.scalars(select(User))}
        for row in result:
            values = [int(value) for value in row[2:]]
            start = to_start(row[0])
            _add(sums.setdefault((start, row[1]), [0] * len(values)), values)
            _add(totals.setdefault(row[1], [0] * len(values)), values)
        if not query.queues:
            for row in await session.execute(_state_sums(query, database.engine.dialect.name,
                                                         tenant_id)):  # fmt: skip
                start, figures = to_start(row[0]), (row.state, row.reason, int(row.s), int(row.e))
                states.setdefault((start, row.agent_id), _States()).add(*figures)
                state_totals.setdefault(row.agent_id, _States()).add(*figures)
    none = [0] * (len(AGENT_INTERVAL_COUNTS) + 1)
    rows = [_figures(start.astimezone(zone), agent, names, sums.get((start, agent), none),
                     states.get((start, agent)), bool(query.queues))
            for start, agent in sorted(sums.keys() | states.keys())]  # fmt: skip
    whole = [_figures(None, agent, names, totals.get(agent, none), state_totals.get(agent),
                      bool(query.queues))
             for agent in sorted(totals.keys() | state_totals.keys())]  # fmt: skip
    return AgentReport(query, rows, whole)


def _state_sums(query: AgentQuery, dialect: str, tenant_id: int) -> Any:
    lo, hi = query.period.buckets
    key, _ = interval_key(_S.bucket, query.interval, query.period.zone, dialect)
    statement = (
        select(key.label("interval_key"), _S.agent_id, _S.state, _S.reason,
               cast(func.sum(_S.seconds), BigInteger).label("s"),
               cast(func.sum(_S.entered), BigInteger).label("e"))
        .where(_S.tenant_id == tenant_id, _S.bucket >= lo, _S.bucket < hi)
        .group_by(key, _S.agent_id, _S.state, _S.reason)
    )  # fmt: skip
    if query.agents:
        statement = statement.where(_S.agent_id.in_(query.agents))
    return statement


def _add(into: list[int], values: list[int]) -> None:
    *counts, longest = values
    for index, value in enumerate(counts):
        into[index] += value
    into[-1] = max(into[-1], longest)


def _figures(start: datetime | None, agent: int, names: dict[int, str], values: list[int],
             states: _States | None, by_queue: bool) -> AgentFigures:  # fmt: skip
    handled, inbound, outbound, talk, answer_wait, longest = values
    calls = AgentFigures(
        interval_start=start, agent_id=agent, agent_name=names.get(agent), handled=handled,
        inbound=inbound, outbound=outbound, talk_seconds=talk,
        average_talk_seconds=round(talk / handled, 1) if handled else None,
        longest_talk_seconds=longest,
        average_answer_wait_seconds=round(answer_wait / inbound, 1) if inbound else None,
    )  # fmt: skip
    if by_queue:
        return calls
    states = states or _States()
    seconds = states.seconds
    login = sum(v for state, v in seconds.items() if state != _NOT_LOGGED_IN)
    paused, wrap_up = seconds.get("paused", 0), seconds.get("wrap_up", 0)
    working = seconds.get("on_call", 0) + wrap_up
    return replace(
        calls, login_seconds=login, pause_seconds=paused, pause_by_reason=dict(states.paused),
        on_call_seconds=seconds.get("on_call", 0), hold_seconds=seconds.get("on_hold", 0),
        wrap_up_seconds=wrap_up,
        average_handle_seconds=round((talk + wrap_up) / handled, 1) if handled else None,
        occupancy_pct=round(100 * working / (login - paused), 1) if login > paused else None,
        ring_no_answer=states.ring_no_answer,
    )  # fmt: skip
