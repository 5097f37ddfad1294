"""Reminders (`billing_bridge.reminders`): the business's schedule (admins set it, checked
and audited), an account's collections hold (a dispute) and reminders, a customer's opt-out
taken by staff, and the two doors customers use: the opt-out link of every message and the
SMS gateway's inbound STOP reply.

The opt-out link is open but signed (a token only this installation makes); the inbound SMS
endpoint exists only with `messages.sms_inbound_token` set and takes only that bearer token.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from billing_bridge.collections.errors import CollectionsError
from billing_bridge.messaging.sms_gateway import SmsGatewayMalformed, decode_inbound
from billing_bridge.reminders import replies, rules, store
from billing_bridge.reminders.links import OptOutTokenError
from pbx.audit import By
from pbx.auth.roles import Role
from pbx.db.models import Reminder
from pbx.http.api import Api, ApiCall, ApiError, invalid, not_found, read_body
from pbx.http.context import context
from pbx.http.schemas import line_text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                             description="local time HH:MM")]  # fmt: skip


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepIn(_In):
    day: int = Field(strict=True, ge=1, le=rules.MAX_DAY, description="days overdue")
    channel: Literal["email", "sms", "worklist"]


class TemplateIn(_In):
    subject: str = Field("", max_length=rules.MAX_SUBJECT)
    body: str = Field(min_length=1, max_length=max(rules.MAX_BODY.values()))


class TemplatesIn(_In):
    email: TemplateIn | None = None
    sms: TemplateIn | None = None


class ScheduleIn(_In):
    steps: list[StepIn] = Field(min_length=1, max_length=rules.MAX_STEPS)
    templates: dict[Literal["he", "lt", "en"], TemplatesIn] = Field(
        default_factory=dict, description="the business's own texts; each must carry "
        "{pay_link} and {opt_out_link}; placeholders {business}, {amount}, {days}",
    )  # fmt: skip
    quiet_from: Clock = rules.DEFAULT_QUIET_FROM
    quiet_until: Clock = rules.DEFAULT_QUIET_UNTIL
    holidays: list[date] = Field(default_factory=list, max_length=rules.MAX_HOLIDAYS)


class StepOut(BaseModel):
    day: int
    channel: str


class TemplateOut(BaseModel):
    subject: str
    body: str


class ScheduleOut(BaseModel):
    enabled: bool = Field(description="false: the business sends no reminders")
    steps: list[StepOut]
    templates: dict[str, dict[str, TemplateOut]]
    quiet_from: str
    quiet_until: str
    holidays: list[date]


class HoldIn(_In):
    reason: line_text(200, min_length=1)  # type: ignore[valid-type]


class HoldOut(BaseModel):
    account_id: int
    collections_hold: str | None
    collections_hold_at: datetime | None


class ReminderOut(BaseModel):
    id: int
    step_day: int
    channel: str
    overdue_since: date
    planned_on: date
    status: str
    stop_reason: str | None
    message_id: int | None
    payment_id: int | None
    decided_at: datetime | None


class RemindersOut(BaseModel):
    account_id: int
    reminders: list[ReminderOut]


class OptedOutOut(BaseModel):
    opted_out: bool = True
    already: bool = Field(description="they had opted out before")


class InboundOut(BaseModel):
    stop: bool
    opted_out: int


def _schedule_out(schedule: rules.Schedule | None) -> ScheduleOut:
    if schedule is None:
        return ScheduleOut(enabled=False, steps=[], templates={},
                           quiet_from=rules.DEFAULT_QUIET_FROM,
                           quiet_until=rules.DEFAULT_QUIET_UNTIL, holidays=[])  # fmt: skip
    shown = schedule.as_json()
    return ScheduleOut(enabled=True, **shown)


def _schedule(body: ScheduleIn) -> rules.Schedule:
    templates = {
        language: {channel: rules.Template(t.subject, t.body)
                   for channel, t in (("email", given.email), ("sms", given.sms)) if t}
        for language, given in body.templates.items()
    }  # fmt: skip
    return rules.check_schedule(
        [rules.Step(s.day, s.channel) for s in body.steps], templates, body.quiet_from,
        body.quiet_until, body.holidays,
    )  # fmt: skip


@asynccontextmanager
async def _reminders(call: ApiCall) -> AsyncIterator[AsyncSession]:
    try:
        async with context(call.request).database.tenant_session(
            call.principal.tenant_id
        ) as session, session.begin():  # fmt: skip
            yield session
    except CollectionsError as exc:
        if exc.code == "invalid":
            raise invalid(exc.field or "(body)", exc.message) from None
        if exc.code == "not_found":
            raise not_found(exc.message.removeprefix("no such ")) from None
        raise ApiError(409, exc.code, exc.message) from None


def register(api: Api) -> None:
    _register_schedule(api)
    _register_accounts(api)
    _register_opt_out(api)


def _register_schedule(api: Api) -> None:
    @api.operation("GET", "/admin/reminders", summary="The business's reminder schedule, "
                   "templates, quiet hours and holidays", role=Role.SUPERVISOR,
                   response=ScheduleOut, tag="reminders")  # fmt: skip
    async def get_reminder_schedule(call: ApiCall) -> ScheduleOut:
        async with _reminders(call) as session:
            return _schedule_out(await store.schedule_of(session))

    @api.operation("PUT", "/admin/reminders", summary="Set the business's reminder schedule "
                   "(checked whole; audited with what it was)", role=Role.ADMIN,
                   body=ScheduleIn, response=ScheduleOut, tag="reminders")  # fmt: skip
    async def set_reminder_schedule(call: ApiCall) -> ScheduleOut:
        async with _reminders(call) as session:
            schedule = _schedule(call.body)
            stored = await store.change_schedule(
                session, call.principal.tenant_id, schedule,
                actor=By(call.principal.label, call.principal.user_id), now=datetime.now(UTC),
            )  # fmt: skip
            return _schedule_out(stored)

    @api.operation("DELETE", "/admin/reminders", summary="Send no more reminders (those "
                   "planned are stopped; audited)", role=Role.ADMIN, response=ScheduleOut,
                   tag="reminders")  # fmt: skip
    async def remove_reminder_schedule(call: ApiCall) -> ScheduleOut:
        async with _reminders(call) as session:
            await store.change_schedule(
                session, call.principal.tenant_id, None,
                actor=By(call.principal.label, call.principal.user_id), now=datetime.now(UTC),
            )  # fmt: skip
            return _schedule_out(None)


def _register_accounts(api: Api) -> None:
    async def hold(call: ApiCall, reason: str | None) -> HoldOut:
        async with _reminders(call) as session:
            account = await store.set_hold(
                session, call.principal.tenant_id, call.path_int("account_id"), reason,
                actor=By(call.principal.label, call.principal.user_id), now=datetime.now(UTC),
            )  # fmt: skip
            return HoldOut(account_id=account.id, collections_hold=account.collections_hold,
                           collections_hold_at=account.collections_hold_at)  # fmt: skip

    @api.operation("PUT", "/accounts/{account_id}/collections-hold", summary="Hold collections "
                   "on an account (a dispute opened): its reminders stop at once (audited)",
                   role=Role.SUPERVISOR, body=HoldIn, response=HoldOut,
                   tag="reminders")  # fmt: skip
    async def hold_collections(call: ApiCall) -> HoldOut:
        return await hold(call, call.body.reason)

    @api.operation("DELETE", "/accounts/{account_id}/collections-hold", summary="Release an "
                   "account's collections hold (audited)", role=Role.SUPERVISOR,
                   response=HoldOut, tag="reminders")  # fmt: skip
    async def release_collections(call: ApiCall) -> HoldOut:
        return await hold(call, None)

    @api.operation("GET", "/accounts/{account_id}/reminders", summary="An account's reminders, "
                   "newest first: planned, sent, listed for the worklist or stopped (why)",
                   response=RemindersOut, tag="reminders")  # fmt: skip
    async def list_account_reminders(call: ApiCall) -> RemindersOut:
        account_id = call.path_int("account_id")
        async with _reminders(call) as session:
            rows = await store.reminders_of(session, account_id)
            return RemindersOut(account_id=account_id, reminders=[_reminder_out(r)
                                                                   for r in rows])  # fmt: skip

    @api.operation("POST", "/customers/{customer_id}/reminders-opt-out", summary="Record that "
                   "the customer wants no more reminders (asked in a call; audited)",
                   response=OptedOutOut, tag="reminders")  # fmt: skip
    async def opt_out_customer(call: ApiCall) -> OptedOutOut:
        async with _reminders(call) as session:
            now = await store.opt_out(
                session, call.principal.tenant_id, call.path_int("customer_id"), via="staff",
                now=datetime.now(UTC), actor=By(call.principal.label, call.principal.user_id),
            )  # fmt: skip
            return OptedOutOut(already=not now)


def _reminder_out(row: Reminder) -> ReminderOut:
    return ReminderOut(
        id=row.id, step_day=row.step_day, channel=row.channel, overdue_since=row.overdue_since,
        planned_on=row.planned_on, status=row.status, stop_reason=row.stop_reason,
        message_id=row.message_id, payment_id=row.payment_id, decided_at=row.decided_at,
    )  # fmt: skip


def _register_opt_out(api: Api) -> None:
    @api.operation("GET", "/reminders/opt-out/{token}", summary="A customer's opt-out link "
                   "(in every reminder): no more reminders from this business, at once",
                   response=OptedOutOut, tag="reminders", public=True,
                   errors=(404,))  # fmt: skip
    async def opt_out_by_link(call: ApiCall) -> OptedOutOut:
        ctx = context(call.request)
        if ctx.reminder_links is None:
            raise not_found("opt-out link")
        try:
            whom = await ctx.reminder_links.check(call.path("token"))
        except OptOutTokenError:
            raise not_found("opt-out link") from None
        try:
            async with ctx.database.tenant_session(whom.tenant_id) as session, session.begin():
                now = await store.opt_out(session, whom.tenant_id, whom.customer_id,
                                          via="link", now=datetime.now(UTC))  # fmt: skip
        except CollectionsError:  # the customer is gone: nothing to send them anyway
            raise not_found("opt-out link") from None
        return OptedOutOut(already=not now)

    @api.operation("POST", "/sms/inbound", summary="The SMS gateway's inbound messages (a STOP "
                   "reply opts its sender out); the gateway's bearer token",
                   response=InboundOut, tag="reminders", public=True,
                   errors=(400, 401, 404, 413))  # fmt: skip
    async def sms_inbound(call: ApiCall) -> InboundOut:
        ctx = context(call.request)
        if not ctx.sms_inbound_token:
            raise not_found("inbound SMS endpoint")
        given = call.request.headers.get("Authorization", "")
        expected = f"Bearer {ctx.sms_inbound_token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(401, "unauthorized", "the gateway's token is required")
        raw = await read_body(call.request, 16 * 1024, "inbound SMS")
        try:
            inbound = decode_inbound(raw)
        except SmsGatewayMalformed as exc:
            raise ApiError(400, "invalid", str(exc)) from None
        if not inbound.is_stop:
            return InboundOut(stop=False, opted_out=0)
        opted = await replies.stop_requested(ctx.database, inbound.sender, datetime.now(UTC))
        return InboundOut(stop=True, opted_out=opted)
