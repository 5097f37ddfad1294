"""The historical reports (`/api/v1/reports/queues|agents|money`, `docs/reports.md`): a
business's queues and agents by interval, from the report intervals, and its money from
the ledger. Read by its supervisors and admins (a session); agents get 403. JSON by
default; CSV (UTF-8 with a BOM) with `Accept: text/csv` or `format=csv`. Each filter is
parsed here into the report's typed query (`pbx.reports.periods`); a bad one is a 422
naming it. The handlers parse, call `pbx.reports` and shape the answer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, Field

from billing_bridge.business_days import zone_of
from pbx.auth.roles import Role
from pbx.db.models import WAIT_BANDS
from pbx.http.api import Api, ApiCall, QueryParam, invalid
from pbx.http.context import context
from pbx.http.csv_answers import csv_response, wants_csv
from pbx.reports.agents import AgentQuery, agent_report
from pbx.reports.csv_export import agents_csv, money_csv, per_call_csv, queues_csv
from pbx.reports.money import CHANNELS, COLLECTIONS_KINDS, MoneyQuery, money_report
from pbx.reports.periods import (
    BadFilter,
    Interval,
    Period,
    parse_band_edge,
    parse_day,
    parse_ids,
    parse_numbers,
    period,
)
from pbx.reports.queues import QueueQuery, queue_report


class QueueFiguresOut(BaseModel):
    interval_start: datetime | None = Field(
        description="the interval's start on the business's clock, with its UTC offset; "
        "null in totals (the whole period)")  # fmt: skip
    queue_id: int | None = Field(description="null: calls that reached no queue")
    queue_name: str | None
    calls: int = Field(description="inbound calls that arrived (and ended)")
    offered: int = Field(description="calls that reached the queue")
    answered: int
    abandoned: int = Field(description="callers who hung up while waiting in the queue")
    abandoned_short: int = Field(description="abandoned within short_abandon_seconds")
    abandoned_long: int
    overflowed: int = Field(description="sent on by the queue's overflow rule: the three below")
    overflowed_queue: int = Field(description="sent on to another queue (counted in this one)")
    overflowed_voicemail: int = Field(description="sent on to voicemail")
    overflowed_callback: int = Field(description="sent on to a callback (also in callbacks)")
    closed: int = Field(description="arrived out of hours")
    callbacks: int = Field(description="left the queue asking to be called back")
    voicemail: int = Field(description="sent to voicemail by the route (no queue)")
    failed: int
    answered_within: int = Field(description="answered within service_level_seconds")
    service_level_pct: float | None = Field(
        description="answered_within / (offered - abandoned_short), in percent")
    average_wait_seconds: float | None = Field(description="every call that waited")
    p90_wait_seconds: int | None = Field(
        description="90th percentile of the waits: an upper bound, exact to its wait band")
    average_speed_of_answer_seconds: float | None
    longest_wait_seconds: int | None
    average_talk_seconds: float | None


class AgentFiguresOut(BaseModel):
    interval_start: datetime | None
    agent_id: int
    agent_name: str | None
    handled: int = Field(description="calls the agent answered (inbound and outbound)")
    inbound: int
    outbound: int
    talk_seconds: int
    average_talk_seconds: float | None
    longest_talk_seconds: int
    average_answer_wait_seconds: float | None
    login_seconds: int | None = Field(
        description="logged in (any state); this and the state figures below are null when "
        "the report is narrowed to queues (an agent's time is not a queue's)")
    pause_seconds: int | None
    pause_by_reason: dict[str, int] | None = Field(description="paused seconds by reason")
    on_call_seconds: int | None = Field(description="answer to hang-up, hold included")
    hold_seconds: int | None = Field(description="callers held from the desk")
    wrap_up_seconds: int | None
    average_handle_seconds: float | None = Field(
        description="(talk_seconds + wrap_up_seconds) / handled; talk includes hold")
    occupancy_pct: float | None = Field(
        description="(on_call + wrap_up) / (login - pause), in percent")
    ring_no_answer: int | None = Field(description="offers that rang out into a pause")


class MoneyFigureOut(BaseModel):
    kind: str = Field(description="collected, credited, " + ", ".join(COLLECTIONS_KINDS))
    channel: str | None = Field(description="collected: " + ", ".join(CHANNELS) + "; a "
                                "promise's or plan's: its method; credited: null")  # fmt: skip
    agent_id: int | None
    queue_id: int | None
    currency: str
    count: int
    amount_minor: int = Field(description="positive, in minor units of the currency")


class CollectedPerCallOut(BaseModel):
    agent_id: int | None = Field(description="null, with queue_id null: the total")
    queue_id: int | None = Field(description="the calls' queue; null: calls in no queue")
    currency: str | None = Field(description="null: the calls handled collected nothing")
    calls: int = Field(description="calls answered by an agent, ended, arrived in the period")
    amount_minor: int = Field(description="payments taken in those calls once answered")
    per_call_minor: int = Field(description="amount_minor // calls (rounded down)")


class MandatesOut(BaseModel):
    scheme: str
    status: str
    count: int


class ReportPeriodOut(BaseModel):
    timezone: str
    date_from: date
    date_to: date = Field(description="the last day included")
    start: datetime = Field(description="date_from's local midnight, in UTC")
    end: datetime = Field(description="the local midnight after date_to, in UTC")


class QueueReportOut(ReportPeriodOut):
    interval: str
    service_level_seconds: int
    short_abandon_seconds: int
    rows: list[QueueFiguresOut]
    totals: list[QueueFiguresOut]


class AgentReportOut(ReportPeriodOut):
    interval: str
    rows: list[AgentFiguresOut]
    totals: list[AgentFiguresOut]


class MoneyReportOut(ReportPeriodOut):
    figures: list[MoneyFigureOut]
    mandates: list[MandatesOut] = Field(
        description="mandates set up in the period (not when narrowed to agents or queues)")
    per_call: list[CollectedPerCallOut] = Field(
        description="amount collected per call handled, per agent, queue and currency; "
        "the total last")  # fmt: skip


_EDGES = ", ".join(map(str, WAIT_BANDS))
DAYS = (
    QueryParam("from", {"type": "string", "format": "date"},
               "first day, YYYY-MM-DD on the business's calendar (default: yesterday)"),
    QueryParam("to", {"type": "string", "format": "date"},
               "last day included (default: from)"),
)  # fmt: skip
INTERVAL = QueryParam("interval", {"type": "string", "enum": [i.value for i in Interval]},
                      "15m, hour, day (default) or week, on the business's clock")  # fmt: skip
QUEUES = QueryParam("queue", {"type": "string", "maxLength": 2000},
                    "queue ids, comma-separated")  # fmt: skip
AGENTS = QueryParam("agent", {"type": "string", "maxLength": 2000},
                    "agent (user) ids, comma-separated")  # fmt: skip
DIDS = QueryParam("did", {"type": "string", "maxLength": 2000},
                  "dialled numbers in E.164, comma-separated")  # fmt: skip
FORMAT = QueryParam("format", {"type": "string", "enum": ["json", "csv"]},
                    "csv: the same as Accept: text/csv")  # fmt: skip


def register(api: Api) -> None:
    @api.operation(
        "GET", "/reports/queues", summary="Queues by interval: offered, answered, abandoned, "
        "service level, waits (CSV with Accept: text/csv or format=csv)",
        role=Role.SUPERVISOR, response=QueueReportOut, tag="reports",
        query=(*DAYS, INTERVAL, QUEUES, DIDS,
               QueryParam("service_level_seconds", {"type": "integer", "minimum": 1,
                          "maximum": WAIT_BANDS[-1]}, f"one of {_EDGES} (default 20)"),
               QueryParam("short_abandon_seconds", {"type": "integer", "minimum": 1,
                          "maximum": WAIT_BANDS[-1]}, f"one of {_EDGES} (default 5)"),
               FORMAT),
    )  # fmt: skip
    async def get_queue_report(call: ApiCall) -> QueueReportOut | web.Response:
        span, interval, zone = await _span(call)
        query = QueueQuery(
            span, interval, queues=_ids(call, "queue"), dids=_numbers(call, "did"),
            service_level_seconds=_edge(call, "service_level_seconds", 20),
            short_abandon_seconds=_edge(call, "short_abandon_seconds", 5),
        )  # fmt: skip
        report = await queue_report(context(call.request).database,
                                    call.principal.tenant_id, query)  # fmt: skip
        if wants_csv(call):
            return csv_response(queues_csv(report), f"queues-{span.first}-{span.last}")
        return QueueReportOut(
            **_period_out(span, zone), interval=interval.value,
            service_level_seconds=query.service_level_seconds,
            short_abandon_seconds=query.short_abandon_seconds,
            rows=[_out(QueueFiguresOut, r) for r in report.rows],
            totals=[_out(QueueFiguresOut, r) for r in report.totals],
        )  # fmt: skip

    @api.operation(
        "GET", "/reports/agents", summary="Agents by interval: calls handled, talk time "
        "(CSV with Accept: text/csv or format=csv)",
        role=Role.SUPERVISOR, response=AgentReportOut, tag="reports",
        query=(*DAYS, INTERVAL, AGENTS, QUEUES, FORMAT),
    )  # fmt: skip
    async def get_agent_report(call: ApiCall) -> AgentReportOut | web.Response:
        span, interval, zone = await _span(call)
        query = AgentQuery(span, interval, agents=_ids(call, "agent"), queues=_ids(call, "queue"))
        report = await agent_report(context(call.request).database,
                                    call.principal.tenant_id, query)  # fmt: skip
        if wants_csv(call):
            return csv_response(agents_csv(report), f"agents-{span.first}-{span.last}")
        return AgentReportOut(**_period_out(span, zone), interval=interval.value,
                              rows=[_out(AgentFiguresOut, r) for r in report.rows],
                              totals=[_out(AgentFiguresOut, r) for r in report.totals])  # fmt: skip

    @api.operation(
        "GET", "/reports/money", summary="Money collected and credited per agent, queue and "
        "channel, and mandates set up (CSV with Accept: text/csv or format=csv)",
        role=Role.SUPERVISOR, response=MoneyReportOut, tag="reports",
        query=(*DAYS, AGENTS, QUEUES, FORMAT,
               QueryParam("part", {"type": "string", "enum": ["figures", "per_call"]},
                          "with CSV: the figures and mandates (default) or per_call")),
    )  # fmt: skip
    async def get_money_report(call: ApiCall) -> MoneyReportOut | web.Response:
        span, _, zone = await _span(call)
        query = MoneyQuery(span, agents=_ids(call, "agent"), queues=_ids(call, "queue"))
        report = await money_report(context(call.request).database,
                                    call.principal.tenant_id, query)  # fmt: skip
        if wants_csv(call):
            if call.query.get("part") == "per_call":
                return csv_response(per_call_csv(report), f"per-call-{span.first}-{span.last}")
            return csv_response(money_csv(report), f"money-{span.first}-{span.last}")
        return MoneyReportOut(
            **_period_out(span, zone),
            figures=[_out(MoneyFigureOut, f) for f in report.figures],
            mandates=[_out(MandatesOut, m) for m in report.mandates],
            per_call=[_out(CollectedPerCallOut, r) for r in report.per_call],
        )


async def _span(call: ApiCall) -> tuple[Period, Interval, ZoneInfo]:
    zone = await zone_of(context(call.request).database, call.principal.tenant_id)
    interval = Interval(call.query.get("interval", Interval.DAY.value))  # enum checked
    try:
        first_text = call.query.get("from")
        first = (parse_day(first_text, "from") if first_text is not None
                 else datetime.now(UTC).astimezone(zone).date() - timedelta(days=1))  # fmt: skip
        last_text = call.query.get("to")
        last = parse_day(last_text, "to") if last_text is not None else first
        return period(zone, first, last, interval), interval, zone
    except BadFilter as exc:
        raise invalid(exc.field, exc.problem) from None


def _ids(call: ApiCall, name: str) -> tuple[int, ...]:
    text = call.query.get(name)
    try:
        return parse_ids(text, name) if text is not None else ()
    except BadFilter as exc:
        raise invalid(exc.field, exc.problem) from None


def _numbers(call: ApiCall, name: str) -> tuple[str, ...]:
    text = call.query.get(name)
    try:
        return parse_numbers(text, name) if text is not None else ()
    except BadFilter as exc:
        raise invalid(exc.field, exc.problem) from None


def _edge(call: ApiCall, name: str, default: int) -> int:
    text = call.query.get(name)
    try:
        return parse_band_edge(text, name) if text is not None else default
    except BadFilter as exc:
        raise invalid(exc.field, exc.problem) from None


def _period_out(span: Period, zone: ZoneInfo) -> dict[str, Any]:
    return {"timezone": zone.key, "date_from": span.first, "date_to": span.last,
            "start": span.start, "end": span.end}  # fmt: skip


def _out(model: type[BaseModel], value: object) -> Any:
    return model.model_validate(value, from_attributes=True)

