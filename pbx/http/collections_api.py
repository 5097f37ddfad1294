"""Promises to pay and payment plans (`billing_bridge.collections`): made in a call or on an
account, cancelled with a reason, listed per account with how each ended, and the
business's caps on promises.

An agent acts in their own call (the account must be the caller's) or on the account of the
caller they are answering; a supervisor or admin on any of the business's. Every id is
checked against the caller's business: a path's unknown id is 404, a body's 422. A refusal
by the rules is 422 naming the field (a cap), or 409 with its code (`promise_open`,
`plan_active`, `nothing_owed`, `recording_paused`, `not_open`, `not_active`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from billing_bridge.collections import plans, promises, rules, views
from billing_bridge.collections.access import Staff
from billing_bridge.collections.errors import CollectionsError
from billing_bridge.events.objects import refs
from pbx.auth.roles import Principal, Role
from pbx.db.models import PaymentPlan, PlanInstalment, Promise
from pbx.http import account_updates
from pbx.http.api import Api, ApiCall, ApiError, invalid
from pbx.http.context import context
from pbx.http.schemas import Id, note_text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

# A promise is at most a million in major units: a typo's extra zeros stop here.
MAX_PROMISE_MINOR = 100_000_000
STATUS = {"not_found": 404, "forbidden": 403}  # everything else the rules refuse: 409

PromiseMethod = Literal["card_on_file", "mandate", "pay_link", "bank_transfer"]
PlanMethod = Literal["mandate", "card_on_file", "pay_link"]
Frequency = Literal["weekly", "fortnightly", "monthly"]
PromiseStatus = Literal["open", "kept", "broken", "cancelled"]
Reason = note_text(500, min_length=1)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromiseIn(_In):
    account_id: Id
    amount_minor: int = Field(strict=True, gt=0, le=MAX_PROMISE_MINOR,
                              description="in the account's currency")  # fmt: skip
    due_on: date = Field(description="the date it is paid by, in the business's time zone: "
                         "today at the earliest, at most promise_max_days ahead")  # fmt: skip
    method: PromiseMethod


class PlanIn(_In):
    account_id: Id
    instalment_count: int = Field(strict=True, ge=2, le=rules.MAX_INSTALMENTS)
    frequency: Frequency
    first_due_on: date = Field(description="today at the earliest, at most promise_max_days "
                               "ahead; the next ones follow by the frequency")  # fmt: skip
    method: PlanMethod
    mandate_id: Id | None = Field(
        None, description="the account's mandate (or card on file, a mandate of scheme card) "
        "that pays it; none for pay_link",
    )  # fmt: skip


class CancelIn(_In):
    reason: Reason  # type: ignore[valid-type]


class PromiseOut(BaseModel):
    id: int
    account_id: int
    amount_minor: int
    currency: str
    due_on: date
    method: PromiseMethod
    status: PromiseStatus
    overdue_minor: int = Field(description="what was overdue when it was made")
    paid_minor: int = Field(description="paid towards it by the end of its date")
    late_paid_minor: int = Field(description="paid after its date (it stayed broken)")
    call_record_id: int | None
    created_by_id: int | None
    created_at: datetime
    decided_at: datetime | None
    cancelled_by_id: int | None
    cancel_reason: str | None


class InstalmentOut(BaseModel):
    number: int
    due_on: date
    amount_minor: int
    paid_minor: int
    status: Literal["pending", "kept", "broken", "cancelled"]
    decided_at: datetime | None


class ConsentOut(BaseModel):
    by_id: int | None
    at: datetime
    call_record_id: int | None
    recording_id: int | None = Field(description="the call's recording, running (not "
                                     "paused) when consent was given")  # fmt: skip


class PlanOut(BaseModel):
    id: int
    account_id: int
    total_minor: int
    currency: str
    paid_minor: int
    frequency: Frequency
    method: PlanMethod
    mandate_id: int | None
    status: Literal["active", "completed", "cancelled"]
    consent: ConsentOut
    instalments: list[InstalmentOut]
    created_at: datetime
    decided_at: datetime | None
    cancelled_by_id: int | None
    cancel_reason: str | None


class HistoryCounts(BaseModel):
    open: int
    kept: int
    broken: int
    cancelled: int


class AccountPromisesOut(BaseModel):
    account_id: int
    counts: HistoryCounts = Field(description="promises and instalments by how they ended")
    promises: list[PromiseOut]
    plans: list[PlanOut]


MaxDays = Annotated[int, Field(strict=True, ge=1, le=rules.MAX_DAYS_LIMIT)]
SharePct = Annotated[int, Field(strict=True, ge=0, le=100)]


class CollectionsSettingsIn(_In):
    promise_max_days: MaxDays = Field(description="the latest date a promise or a plan's "
                                      "first instalment may name, in days from today")  # fmt: skip
    promise_min_share_pct: SharePct = Field(description="the least share of the overdue "
                                            "amount a promise must cover, in percent")  # fmt: skip


class CollectionsSettingsOut(BaseModel):
    promise_max_days: int
    promise_min_share_pct: int


def _promise_out(row: Promise) -> PromiseOut:
    return PromiseOut(
        id=row.id, account_id=row.account_id, amount_minor=row.amount_minor,
        currency=row.currency, due_on=row.due_on, method=row.method, status=row.status,
        overdue_minor=row.overdue_minor, paid_minor=row.paid_minor,
        late_paid_minor=row.late_paid_minor, call_record_id=row.call_id,
        created_by_id=row.created_by_id, created_at=row.created_at, decided_at=row.decided_at,
        cancelled_by_id=row.cancelled_by_id, cancel_reason=row.cancel_reason,
    )  # type: ignore[arg-type]  # fmt: skip


def _plan_out(row: PaymentPlan, instalments: list[PlanInstalment]) -> PlanOut:
    return PlanOut(
        id=row.id, account_id=row.account_id, total_minor=row.total_minor,
        currency=row.currency, paid_minor=row.paid_minor, frequency=row.frequency,
        method=row.method, mandate_id=row.mandate_id, status=row.status,
        consent=ConsentOut(by_id=row.consent_by_id, at=row.consent_at,
                           call_record_id=row.consent_call_id,
                           recording_id=row.consent_recording_id),
        instalments=[InstalmentOut(number=i.number, due_on=i.due_on,
                                   amount_minor=i.amount_minor, paid_minor=i.paid_minor,
                                   status=i.status, decided_at=i.decided_at)
                     for i in instalments],
        created_at=row.created_at, decided_at=row.decided_at,
        cancelled_by_id=row.cancelled_by_id, cancel_reason=row.cancel_reason,
    )  # type: ignore[arg-type]  # fmt: skip


def staff_of(principal: Principal) -> Staff:
    return Staff(principal.user_id, principal.label, principal.at_least(Role.SUPERVISOR))


def collections_error(exc: CollectionsError) -> ApiError:
    if exc.code == "invalid":
        return invalid(exc.field or "(body)", exc.message)
    return ApiError(STATUS.get(exc.code, 409), exc.code, exc.message)


@asynccontextmanager
async def collections_session(call: ApiCall) -> AsyncIterator[AsyncSession]:
    """A tenant session in a transaction; the service's refusals become status codes here."""
    try:
        async with context(call.request).database.tenant_session(
            call.principal.tenant_id
        ) as session, session.begin():  # fmt: skip
            yield session
    except CollectionsError as exc:
        raise collections_error(exc) from None


async def _show_on_panels(call: ApiCall, customer_id: int | None) -> None:
    """Committed: agents on a call with the customer get its panel again (`account.updated`),
    the promise or plan on it as it now stands."""
    if customer_id is not None:
        await account_updates.announce(context(call.request), call.principal.tenant_id,
                                       [customer_id], ())  # fmt: skip


def _promise_order(body: PromiseIn) -> promises.PromiseOrder:
    return promises.PromiseOrder(body.account_id, body.amount_minor, body.due_on, body.method)


def _plan_order(body: PlanIn) -> plans.PlanOrder:
    return plans.PlanOrder(body.account_id, body.instalment_count, body.frequency,
                           body.first_due_on, body.method, body.mandate_id)  # fmt: skip


def register(api: Api) -> None:
    _register_promises(api)
    _register_plans(api)
    _register_history(api)
    _register_settings(api)


def _register_promises(api: Api) -> None:
    async def make(call: ApiCall, call_id: str | None) -> PromiseOut:
        async with collections_session(call) as session:
            made = await promises.make_promise(
                session, call.principal.tenant_id, _promise_order(call.body),
                staff=staff_of(call.principal), now=datetime.now(UTC), call_id=call_id,
            )  # fmt: skip
            out, owner = _promise_out(made), await refs(session, made.account_id)
        await _show_on_panels(call, owner.customer_id)
        return out

    @api.operation("POST", "/calls/{call_id}/promises", summary="Record the caller's promise "
                   "to pay (within the business's caps; one open promise an account)",
                   body=PromiseIn, response=PromiseOut, status=201, tag="collections")  # fmt: skip
    async def make_promise_in_call(call: ApiCall) -> PromiseOut:
        return await make(call, call.path("call_id"))

    @api.operation("POST", "/promises", summary="Record a promise to pay on an account (an "
                   "agent: the account of the caller they are answering)", body=PromiseIn,
                   response=PromiseOut, status=201, tag="collections")  # fmt: skip
    async def make_promise(call: ApiCall) -> PromiseOut:
        return await make(call, None)

    @api.operation("POST", "/promises/{promise_id}/cancel", summary="Cancel an open promise, "
                   "with the reason", body=CancelIn, response=PromiseOut,
                   tag="collections")  # fmt: skip
    async def cancel_promise(call: ApiCall) -> PromiseOut:
        promise_id = call.path_int("promise_id")
        async with collections_session(call) as session:
            cancelled = await promises.cancel_promise(
                session, call.principal.tenant_id, promise_id, call.body.reason,
                staff=staff_of(call.principal), now=datetime.now(UTC),
            )  # fmt: skip
            out, owner = _promise_out(cancelled), await refs(session, cancelled.account_id)
        await _show_on_panels(call, owner.customer_id)
        return out


def _register_plans(api: Api) -> None:
    async def make(call: ApiCall, call_id: str | None) -> PlanOut:
        async with collections_session(call) as session:
            plan, instalments = await plans.make_plan(
                session, call.principal.tenant_id, _plan_order(call.body),
                staff=staff_of(call.principal), now=datetime.now(UTC), call_id=call_id,
            )  # fmt: skip
            out, owner = _plan_out(plan, instalments), await refs(session, plan.account_id)
        await _show_on_panels(call, owner.customer_id)
        return out

    @api.operation("POST", "/calls/{call_id}/plans", summary="Set up a payment plan for the "
                   "caller's overdue amount, their consent recorded with the call's recording "
                   "(refused while it is paused)", body=PlanIn, response=PlanOut, status=201,
                   tag="collections")  # fmt: skip
    async def make_plan_in_call(call: ApiCall) -> PlanOut:
        return await make(call, call.path("call_id"))

    @api.operation("POST", "/plans", summary="Set up a payment plan for an account's overdue "
                   "amount (an agent: the account of the caller they are answering)",
                   body=PlanIn, response=PlanOut, status=201, tag="collections")  # fmt: skip
    async def make_plan(call: ApiCall) -> PlanOut:
        return await make(call, None)

    @api.operation("POST", "/plans/{plan_id}/cancel", summary="Cancel an active plan and its "
                   "pending instalments, with the reason", body=CancelIn, response=PlanOut,
                   tag="collections")  # fmt: skip
    async def cancel_plan(call: ApiCall) -> PlanOut:
        plan_id = call.path_int("plan_id")
        async with collections_session(call) as session:
            plan, instalments = await plans.cancel_plan(
                session, call.principal.tenant_id, plan_id, call.body.reason,
                staff=staff_of(call.principal), now=datetime.now(UTC),
            )  # fmt: skip
            out, owner = _plan_out(plan, instalments), await refs(session, plan.account_id)
        await _show_on_panels(call, owner.customer_id)
        return out


def _register_history(api: Api) -> None:
    @api.operation("GET", "/accounts/{account_id}/promises", summary="An account's promises "
                   "and plans, newest first, with how each was kept, broken or cancelled",
                   response=AccountPromisesOut, tag="collections")  # fmt: skip
    async def list_account_promises(call: ApiCall) -> AccountPromisesOut:
        account_id = call.path_int("account_id")
        async with collections_session(call) as session:
            history = await views.account_history(session, account_id, staff_of(call.principal))
            return AccountPromisesOut(
                account_id=account_id, counts=HistoryCounts(**history.counts()),
                promises=[_promise_out(p) for p in history.promises],
                plans=[_plan_out(p, i) for p, i in history.plans],
            )  # fmt: skip


def _register_settings(api: Api) -> None:
    @api.operation("GET", "/admin/collections-settings", summary="The business's caps on "
                   "promises to pay", role=Role.SUPERVISOR, response=CollectionsSettingsOut,
                   tag="collections")  # fmt: skip
    async def get_collections_settings(call: ApiCall) -> CollectionsSettingsOut:
        async with collections_session(call) as session:
            tenant = await views.tenant_of(session, call.principal.tenant_id)
            return CollectionsSettingsOut(**asdict(views.settings_of(tenant)))

    @api.operation("PUT", "/admin/collections-settings", summary="Set the business's caps on "
                   "promises to pay (audited)", role=Role.ADMIN, body=CollectionsSettingsIn,
                   response=CollectionsSettingsOut, tag="collections")  # fmt: skip
    async def set_collections_settings(call: ApiCall) -> CollectionsSettingsOut:
        settings = views.CollectionsSettings(**call.body.model_dump())
        async with collections_session(call) as session:
            tenant = await views.change_settings(session, call.principal.tenant_id, settings,
                                                 by=call.principal)  # fmt: skip
            return CollectionsSettingsOut(**asdict(views.settings_of(tenant)))
