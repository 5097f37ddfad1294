"""The reconciliation report (`/api/v1/reports/reconciliation`): what Ledgerline collected,
refunded, charged back and credited on one of the business's days, against what its billing
system acknowledged, and what is still unacknowledged after the business's hours.

Read by the business's admins and supervisors (a session) and by its billing system (an API
key with `billing:read`); agents and keys without the scope get 403. JSON by default; CSV
(UTF-8 with a BOM) with `Accept: text/csv` or `format=csv`, one document per part: the
figures (`part=figures`, the default) or the flagged items (`part=unacknowledged`).
Handlers parse, call `billing_bridge.reconciliation` and shape its answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.money_settings import BusinessGone, business
from billing_bridge.reconciliation import (
    MAX_PAGE,
    BadDay,
    Reconciliation,
    Unacknowledged,
    day_report,
    parse_day,
    unacknowledged,
    yesterday,
)
from billing_bridge.reconciliation.csv_export import figures_csv, items_csv
from pbx.admin import api_keys
from pbx.auth.roles import Role
from pbx.http import auth_api
from pbx.http.api import (
    Api,
    ApiCall,
    ApiError,
    Guard,
    QueryParam,
    authorization_bearer,
    invalid,
    not_found,
)
from pbx.http.context import context
from pbx.http.csv_answers import csv_response, wants_csv

SCOPE = "billing:read"


class FigureOut(BaseModel):
    kind: Literal["collected", "refunded", "charged_back", "credited", "collection_reversed",
                  "chargeback_reversed"]  # fmt: skip
    method: str | None = Field(description="a payment's method; a credit's: granted (within "
                               "limits) or approved (by a supervisor)")  # fmt: skip
    provider: str | None = Field(description="a payment's provider; null for credits")
    currency: str
    acknowledged: bool = Field(description="whether the billing system acknowledged them")
    count: int
    amount_minor: int = Field(description="the sum, positive, in minor units of currency")


class TotalOut(BaseModel):
    kind: str
    currency: str
    count: int
    amount_minor: int
    acknowledged_count: int
    acknowledged_minor: int
    pending_count: int = Field(description="not yet acknowledged by the billing system")
    pending_minor: int


class UnacknowledgedOut(BaseModel):
    kind: str
    entry_id: int = Field(description="the balance entry")
    payment_id: int | None
    credit_id: int | None
    account_id: int
    account_ref: str = Field(description="the billing system's reference of the account")
    amount_minor: int
    currency: str
    event_id: str | None = Field(description="the event that carries it; null: never sent")
    created_at: datetime
    age_hours: int


class ReconciliationOut(BaseModel):
    date: date
    timezone: str
    date_from: datetime = Field(description="the day's start in UTC (local midnight)")
    date_to: datetime = Field(description="the day's end in UTC (the next local midnight)")
    ack_hours: int = Field(description="unacknowledged after this many hours: flagged")
    as_of: datetime = Field(description="acknowledgements and ages are as of this moment")
    figures: list[FigureOut]
    totals: list[TotalOut]
    unacknowledged: list[UnacknowledgedOut] = Field(
        description="the day's changes unacknowledged after ack_hours, oldest first"
    )


class UnacknowledgedList(BaseModel):
    ack_hours: int
    as_of: datetime
    items: list[UnacknowledgedOut]
    has_more: bool = Field(description="more than `limit`: the oldest are listed")


def reader_guard() -> Guard:
    """An admin's or supervisor's session, or an API key with billing:read."""

    async def authenticate(request: web.Request) -> Any:
        secret = authorization_bearer(request)
        if secret is not None and secret.startswith(api_keys.PREFIX):
            caller = await api_keys.caller_for(context(request).database, secret,
                                               datetime.now(UTC))  # fmt: skip
            if caller is not None and SCOPE not in caller.scopes:
                raise ApiError(403, "forbidden", f"this needs an API key with the {SCOPE} scope")
            return caller
        principal = await auth_api.authenticate(request)
        if principal is not None and not principal.at_least(Role.SUPERVISOR):
            raise ApiError(403, "forbidden", "this needs the supervisor role")
        return principal

    return Guard("session_or_api_key", "Requires the supervisor role or above (a session), "
                 f"or an API key with the `{SCOPE}` scope.", authenticate,
                 (SCOPE,))  # fmt: skip


FORMAT = QueryParam("format", {"type": "string", "enum": ["json", "csv"]},
                    "csv: the same as Accept: text/csv")  # fmt: skip


def register(api: Api) -> None:
    guard = reader_guard()

    @api.operation(
        "GET", "/reports/reconciliation", summary="One day's reconciliation: collected, "
        "refunded, charged back and credited, acknowledged by the billing system or not "
        "(CSV with Accept: text/csv or format=csv)",
        response=ReconciliationOut, tag="reports", guard=guard,
        query=(
            QueryParam("date", {"type": "string", "format": "date"},
                       "YYYY-MM-DD, a day of the business's calendar (default: yesterday)"),
            FORMAT,
            QueryParam("part", {"type": "string", "enum": ["figures", "unacknowledged"]},
                       "with CSV: the figures (default) or the flagged items"),
        ),
    )  # fmt: skip
    async def get_reconciliation(call: ApiCall) -> ReconciliationOut | web.Response:
        now = datetime.now(UTC)
        wanted = call.query.get("date")
        async with _session(call) as session:
            tenant = await business(session, call.principal.tenant_id)
            day = _day(wanted) if wanted is not None else yesterday(tenant, now)
            report = await day_report(session, tenant, day, now=now)
        if wants_csv(call):
            if call.query.get("part") == "unacknowledged":
                return csv_response(items_csv(report.flagged), f"unacknowledged-{day}")
            return csv_response(figures_csv(report), f"reconciliation-{day}")
        return _report_out(report)

    @api.operation(
        "GET", "/reports/reconciliation/unacknowledged", summary="Every change sent to the "
        "billing system and not acknowledged after the business's hours, oldest first (CSV "
        "with Accept: text/csv or format=csv)",
        response=UnacknowledgedList, tag="reports", guard=guard,
        query=(
            QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                       f"at most this many (default and most: {MAX_PAGE})"),
            FORMAT,
        ),
    )  # fmt: skip
    async def list_unacknowledged(call: ApiCall) -> UnacknowledgedList | web.Response:
        limit = int(call.query.get("limit", MAX_PAGE))  # its bounds are checked by the layer
        async with _session(call) as session:
            tenant = await business(session, call.principal.tenant_id)
            page = await unacknowledged(session, tenant, now=datetime.now(UTC), limit=limit)
        if wants_csv(call):
            return csv_response(items_csv(page.items), "unacknowledged")
        return UnacknowledgedList(ack_hours=page.ack_hours, as_of=page.as_of,
                                  items=[_item_out(i) for i in page.items],
                                  has_more=page.has_more)  # fmt: skip


@asynccontextmanager
async def _session(call: ApiCall) -> AsyncIterator[AsyncSession]:
    """The caller's business's session; a business removed meanwhile is not found."""
    try:
        async with context(call.request).database.tenant_session(
            call.principal.tenant_id
        ) as session:  # fmt: skip
            yield session
    except BusinessGone:
        raise not_found("business") from None


def _day(text: str) -> date:
    try:
        return parse_day(text)
    except BadDay as exc:
        raise invalid("date", str(exc)) from None



def _item_out(item: Unacknowledged) -> UnacknowledgedOut:
    return UnacknowledgedOut.model_validate(item, from_attributes=True)


def _report_out(report: Reconciliation) -> ReconciliationOut:
    return ReconciliationOut(
        date=report.day, timezone=report.timezone, date_from=report.start, date_to=report.end,
        ack_hours=report.ack_hours, as_of=report.as_of,
        figures=[FigureOut.model_validate(f, from_attributes=True) for f in report.figures],
        totals=[TotalOut.model_validate(t, from_attributes=True) for t in report.totals],
        unacknowledged=[_item_out(i) for i in report.flagged],
    )  # fmt: skip
