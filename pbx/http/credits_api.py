"""Credits, their approval and report, the caller's verification in a call, and the
business's money settings.

An agent grants credits while what they gave in the period (and what the account got in it)
stays within the limits; a supervisor or admin decides the rest (never their own request).
A credit that would take a balance below zero is refused with 409 `balance_below_zero`
unless the business allows it. A credit given in a call (`call_id`) goes through the desk, where
the live call is, and waits for the caller's identity when the business asks for it; so does
one that does not name the call but is for the customer the agent is talking to. Every
change is audited in the transaction that makes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from billing_bridge.account_credits import (
    CreditAsked,
    CreditFilter,
    decide_credit,
    grant_on_account,
    recent_credits,
)
from billing_bridge.call_credits import CreditView
from billing_bridge.credits import (
    REASON_CODES,
    CreditError,
    CreditReport,
    credit_dict,
    credit_report,
)
from billing_bridge.money_settings import MoneySettings, business, change_settings, settings_of
from pbx.auth.roles import Role
from pbx.db.models import CREDIT_PERIODS, CREDIT_STATUSES, Credit, Tenant
from pbx.desk import commands as desk
from pbx.desk.results import CallerVerified, CallOfAccount
from pbx.http.api import Api, ApiCall, ApiError, QueryParam, invalid
from pbx.http.context import context
from pbx.http.desk_access import run_on_desk
from pbx.http.schemas import Id, note_text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

# One credit is at most a million in major units: a typo's extra zeros stop here.
MAX_CREDIT_MINOR = 100_000_000
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
CREDIT_ERROR_STATUS = {"not_found": 404, "invalid": 422, "forbidden": 403, "conflict": 409,
                       "balance_below_zero": 409}

# --- bodies ---------------------------------------------------------------------------------

ReasonCode = Literal[tuple(REASON_CODES)]  # type: ignore[valid-type]
CreditStatus = Literal[CREDIT_STATUSES]  # type: ignore[valid-type]
CreditPeriod = Literal[CREDIT_PERIODS]  # type: ignore[valid-type]
# Lower-case words only: a question's name, so an answer (a date, a sum) cannot be typed in.
QuestionName = Annotated[str, Field(pattern=r"^[a-z][a-z_]{1,31}$")]
# Strict: `true`, "100" and 100.0 are not amounts.
LimitMinor = Annotated[int, Field(strict=True, ge=0, le=MAX_CREDIT_MINOR)]
AckHours = Annotated[int, Field(strict=True, ge=1, le=720)]  # up to 30 days


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VerificationIn(_In):
    questions: list[QuestionName] = Field(
        min_length=1, max_length=10,
        description="the security questions the caller answered, by name (never the answers)",
    )  # fmt: skip


class VerificationOut(BaseModel):
    call_id: str
    verified: Literal["agent_questions"]
    questions: list[str]


class CreditIn(_In):
    account_id: Id
    amount_minor: int = Field(strict=True, gt=0, le=MAX_CREDIT_MINOR)
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="must be the account's; omitted: the account's"
    )
    reason_code: ReasonCode = Field(description=", ".join(f"{k}: {v}" for k, v in
                                                         REASON_CODES.items()))  # fmt: skip
    note: note_text(500) | None = None  # type: ignore[valid-type]
    call_id: str | None = Field(
        None, min_length=1, max_length=128,
        description="the live call it is given in (as in /calls/{call_id}): then the caller "
        "must be verified when the business asks for it, and the account must be theirs",
    )  # fmt: skip


class CreditOut(BaseModel):
    id: int
    account_id: int
    amount_minor: int
    currency: str
    reason_code: str
    status: CreditStatus
    note: str | None
    call_record_id: int | None = Field(description="the call log row (id in GET /calls)")
    requested_by_id: int | None
    decided_by_id: int | None = Field(description="who approved or rejected it")
    created_at: datetime
    decided_at: datetime | None


class CreditList(BaseModel):
    items: list[CreditOut]


class ReasonTotalOut(BaseModel):
    reason_code: str
    currency: str
    count: int
    total_minor: int


class AgentTotalOut(BaseModel):
    agent_id: int | None
    agent: str
    currency: str
    count: int
    total_minor: int


class CurrencyTotalOut(BaseModel):
    currency: str
    count: int
    total_minor: int


class LimitPeriodOut(BaseModel):
    period: CreditPeriod
    date_from: datetime
    date_to: datetime
    currency: str = Field(description="the currency of the limits")


class LimitUseOut(BaseModel):
    agent_id: int
    agent: str
    role: str
    used_minor: int = Field(description="granted on their own authority in the limit period")
    limit_minor: int | None = Field(description="none: every credit of theirs waits")
    remaining_minor: int


class CreditReportOut(BaseModel):
    date_from: datetime
    date_to: datetime
    by_reason: list[ReasonTotalOut]
    by_agent: list[AgentTotalOut]
    retention_cost: list[CurrencyTotalOut] = Field(
        description="retention discounts granted in the period, per currency"
    )
    limit_period: LimitPeriodOut = Field(description="the limit period holding `at`")
    against_limits: list[LimitUseOut] = Field(
        description="each agent and supervisor: what they granted in the limit period "
        "against their limit"
    )


class MoneySettingsIn(_In):
    money_needs_verification: bool = Field(strict=True)
    credit_limits: dict[Literal["agent", "supervisor"], LimitMinor] = Field(
        default_factory=dict,
        description="the most each role grants without approval in one credit_period, in "
        "total, in minor units of the business's currency (a user's own limit replaces "
        "their role's); a role left out needs approval for any credit (admins never do)",
    )  # fmt: skip
    credit_period: CreditPeriod = Field(
        description="the stretch the limits add up over, in the business's time zone: a "
        "day, a week from Monday, a calendar month"
    )
    credit_account_limit_minor: LimitMinor | None = Field(
        description="the most credits may take off one account in a credit_period, in "
        "total, before the next one waits for approval; null: no such total"
    )
    credits_below_zero: bool = Field(
        strict=True, description="whether a credit may take a balance below zero; if not, "
        "such a credit and its approval are refused (409 balance_below_zero)",
    )  # fmt: skip
    billing_ack_hours: AckHours | None = Field(
        None, description="hours the billing system has to acknowledge a payment, refund, "
        "chargeback or credit before the reconciliation report flags it; omitted: unchanged",
    )  # fmt: skip


class MoneySettingsOut(BaseModel):
    money_needs_verification: bool
    credit_limits: dict[str, int]
    credit_period: CreditPeriod
    credit_account_limit_minor: int | None
    credits_below_zero: bool
    billing_ack_hours: int
    currency: str = Field(description="the currency of the limits")


# --- helpers --------------------------------------------------------------------------------


def _credit_error(exc: CreditError) -> ApiError:
    if exc.code == "invalid":
        return invalid(exc.field or "(body)", exc.message)
    return ApiError(CREDIT_ERROR_STATUS[exc.code], exc.code, exc.message)


def _credit_out(credit: Credit) -> CreditOut:
    return CreditOut.model_validate(credit_dict(credit))


async def _call_with_account(call: ApiCall, account_id: int) -> str | None:
    """The caller's call on this desk if the account is theirs; None off a call, or with no
    Asterisk to ask (then there is no live call to be on)."""
    try:
        found = await run_on_desk(call, desk.CallWithAccount(account_id))
    except ApiError as exc:
        if exc.status == 503:
            return None
        raise
    assert isinstance(found, CallOfAccount)
    return found.call_id


@asynccontextmanager
async def _money(call: ApiCall) -> AsyncIterator[AsyncSession]:
    """A tenant session for the credits service, whose refusals become status codes here."""
    try:
        async with context(call.request).database.tenant_session(
            call.principal.tenant_id
        ) as session:  # fmt: skip
            yield session
    except CreditError as exc:
        raise _credit_error(exc) from None


def _time(value: str | None, name: str) -> datetime:
    if not value:
        raise invalid(name, "required (an ISO 8601 date-time with a UTC offset)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(name, "must be an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise invalid(name, "must include a UTC offset (e.g. Z)")
    # Year 1 at +14:00 is before year 1 in UTC; far years overflow a period's end.
    if not EARLIEST <= parsed <= LATEST:
        raise invalid(name, f"must be between {EARLIEST.year} and {LATEST.year}")
    return parsed


def _report_out(report: CreditReport, currency: str) -> CreditReportOut:
    return CreditReportOut(
        date_from=report.date_from, date_to=report.date_to,
        by_reason=[ReasonTotalOut.model_validate(r, from_attributes=True)
                   for r in report.by_reason],
        by_agent=[AgentTotalOut.model_validate(r, from_attributes=True) for r in report.by_agent],
        retention_cost=[CurrencyTotalOut.model_validate(r, from_attributes=True)
                        for r in report.retention_cost],
        limit_period=LimitPeriodOut(period=report.limit_period.name,
                                    date_from=report.limit_period.start,
                                    date_to=report.limit_period.end, currency=currency),
        against_limits=[LimitUseOut.model_validate(r, from_attributes=True)
                        for r in report.against_limits],
    )  # fmt: skip


def _settings_out(tenant: Tenant) -> MoneySettingsOut:
    return MoneySettingsOut(**asdict(settings_of(tenant)), currency=tenant.currency)


def register(api: Api) -> None:
    _register_verification(api)
    _register_credits(api)
    _register_credit_list(api)
    _register_report(api)
    _register_money_settings(api)


def _register_verification(api: Api) -> None:
    @api.operation("POST", "/calls/{call_id}/verification", summary="Record that you verified "
                   "the caller by security questions (names of the questions only)",
                   body=VerificationIn, response=VerificationOut, tag="calls")  # fmt: skip
    async def record_caller_verification(call: ApiCall) -> VerificationOut:
        body: VerificationIn = call.body
        done = await run_on_desk(call, desk.VerifyCaller(call.path("call_id"),
                                                         tuple(body.questions)))  # fmt: skip
        assert isinstance(done, CallerVerified)
        return VerificationOut.model_validate(asdict(done))


def _register_credits(api: Api) -> None:
    @api.operation("POST", "/credits", summary="Grant a credit: at once within your role's "
                   "limit, else it waits for a supervisor's approval", body=CreditIn,
                   response=CreditOut, status=201, tag="credits")  # fmt: skip
    async def grant_account_credit(call: ApiCall) -> CreditOut:
        body: CreditIn = call.body
        in_call = body.call_id or await _call_with_account(call, body.account_id)
        if in_call is not None:
            done = await run_on_desk(call, desk.GrantCreditInCall(
                in_call, body.account_id, body.amount_minor, body.reason_code, body.currency,
                body.note,
            ))  # fmt: skip
            assert isinstance(done, CreditView)
            return CreditOut.model_validate(asdict(done))
        asked = CreditAsked(body.account_id, body.amount_minor, body.currency,
                            body.reason_code, body.note)  # fmt: skip
        async with _money(call) as session, session.begin():
            credit = await grant_on_account(session, call.principal.tenant_id, asked,
                                            by=call.principal, now=datetime.now(UTC))  # fmt: skip
            return _credit_out(credit)

    async def _decide(call: ApiCall, approve: bool) -> CreditOut:
        credit_id = call.path_int("credit_id")
        async with _money(call) as session, session.begin():
            credit = await decide_credit(session, call.principal.tenant_id, credit_id,
                                         approve=approve, by=call.principal,
                                         now=datetime.now(UTC))  # fmt: skip
            return _credit_out(credit)

    @api.operation("POST", "/credits/{credit_id}/approve", summary="Approve a pending credit "
                   "(not your own request); the balance is lowered now", role=Role.SUPERVISOR,
                   response=CreditOut, tag="credits")  # fmt: skip
    async def approve_credit(call: ApiCall) -> CreditOut:
        return await _decide(call, approve=True)

    @api.operation("POST", "/credits/{credit_id}/reject", summary="Reject a pending credit "
                   "(not your own request)", role=Role.SUPERVISOR, response=CreditOut,
                   tag="credits")  # fmt: skip
    async def reject_credit(call: ApiCall) -> CreditOut:
        return await _decide(call, approve=False)


def _register_credit_list(api: Api) -> None:
    @api.operation(
        "GET", "/credits", summary="Credits, newest first (agents see the ones they asked for)",
        response=CreditList, tag="credits",
        query=(
            QueryParam("status", {"type": "string", "enum": list(CREDIT_STATUSES)}),
            QueryParam("account_id", {"type": "integer"}),
        ),
    )  # fmt: skip
    async def list_credits(call: ApiCall) -> CreditList:
        status, account_id = call.query.get("status"), None
        if status is not None and status not in CREDIT_STATUSES:
            raise invalid("status", f"one of {', '.join(CREDIT_STATUSES)}")
        if "account_id" in call.query:
            if not call.query["account_id"].isdigit():
                raise invalid("account_id", "must be an integer")
            account_id = int(call.query["account_id"])
        p = call.principal
        only = CreditFilter(status, account_id,
                            None if p.at_least(Role.SUPERVISOR) else p.user_id)  # fmt: skip
        async with _money(call) as session:
            rows = await recent_credits(session, only)
        return CreditList(items=[_credit_out(row) for row in rows])


def _register_report(api: Api) -> None:
    @api.operation(
        "GET", "/reports/credits", summary="Credits that took effect in a period, summed by "
        "reason and by agent, with what retention discounts cost", role=Role.SUPERVISOR,
        response=CreditReportOut, tag="credits",
        query=(
            QueryParam("from", {"type": "string", "format": "date-time"}, "at or after"),
            QueryParam("to", {"type": "string", "format": "date-time"}, "before"),
            QueryParam("at", {"type": "string", "format": "date-time"}, "against_limits "
                       "covers the limit period holding this moment (default: now)"),
        ),
    )  # fmt: skip
    async def get_credit_report(call: ApiCall) -> CreditReportOut:
        date_from = _time(call.query.get("from"), "from")
        date_to = _time(call.query.get("to"), "to")
        if date_to <= date_from:
            raise invalid("to", "must be after from")
        at = _time(call.query["at"], "at") if "at" in call.query else datetime.now(UTC)
        async with _money(call) as session:
            tenant = await business(session, call.principal.tenant_id)
            report = await credit_report(session, tenant, date_from=date_from, date_to=date_to,
                                         limits_at=at)  # fmt: skip
        return _report_out(report, tenant.currency)


def _register_money_settings(api: Api) -> None:
    @api.operation("GET", "/admin/money-settings", summary="Identity before money, credit "
                   "limits by role and per account over a period, and credits below zero",
                   role=Role.SUPERVISOR, response=MoneySettingsOut,
                   tag="credits")  # fmt: skip
    async def get_money_settings(call: ApiCall) -> MoneySettingsOut:
        async with _money(call) as session:
            return _settings_out(await business(session, call.principal.tenant_id))

    @api.operation("PUT", "/admin/money-settings", summary="Set identity before money, the "
                   "credit limits and their period, and whether credits go below zero",
                   role=Role.ADMIN, body=MoneySettingsIn,
                   response=MoneySettingsOut, tag="credits")  # fmt: skip
    async def set_money_settings(call: ApiCall) -> MoneySettingsOut:
        settings = MoneySettings(**call.body.model_dump())
        async with _money(call) as session, session.begin():
            tenant = await change_settings(session, call.principal.tenant_id, settings,
                                           by=call.principal)  # fmt: skip
            return _settings_out(tenant)
