"""The collections worklist (`billing_bridge.worklist`): supervisors build and read it (each
entry with the reasons it is listed and its score's parts); an agent in collections mode
claims the next account, gets its pop before any call, places the call with one click
(click-to-call) and records the call's collections outcome. Admins set the calling rules
and keep the do-not-call list; a customer's own do-not-call request is set by supervisors.

A call compliance refuses is 409 with the rule's code (`outside_window`, `holiday`,
`attempts`, `do_not_call`, `do_not_call_number`, `dispute`, `promise`, `plan`,
`no_number`); a bad value is 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from billing_bridge.business_days import business_today
from billing_bridge.collections.errors import CollectionsError
from billing_bridge.screen_pop import customer_panel
from billing_bridge.worklist import claims, rules, store
from pbx.auth.roles import Role
from pbx.db.models import WorklistEntry
from pbx.desk import commands as desk
from pbx.desk.results import CallStarted as CallStartedResult
from pbx.http.api import Api, ApiCall, QueryParam, invalid, parse_query_int
from pbx.http.collections_api import collections_error, collections_session, staff_of
from pbx.http.context import context
from pbx.http.desk_access import run_on_desk
from pbx.http.schemas import E164, line_text, note_text

Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                             description="local time HH:MM")]  # fmt: skip
Outcome = Literal["right_party_contact", "wrong_party", "no_answer", "promise", "paid",
                  "dispute", "refused", "callback"]  # fmt: skip
PAGE = 100


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreParts(BaseModel):
    amount: int = Field(description="a point per 10.00 overdue (in minor units / 1000), "
                        f"at most {rules.AMOUNT_CAP}")  # fmt: skip
    days_overdue: int = Field(description=f"{rules.DAY_POINTS} a day overdue, up to "
                              f"{rules.DAYS_CAP} days")  # fmt: skip
    no_contact: int = Field(description=f"a point a day since the customer was last spoken "
                            f"to, up to {rules.CONTACT_CAP}")  # fmt: skip
    broken_promises: int = Field(description=f"{rules.BROKEN_POINTS} a broken promise or "
                                 "instalment")  # fmt: skip


class EntryOut(BaseModel):
    id: int
    account_id: int
    customer_id: int
    status: Literal["queued", "claimed", "called", "done"]
    reasons: list[str] = Field(description="why it is listed: " + ", ".join(rules.REASONS))
    score: int
    score_parts: ScoreParts
    overdue_minor: int
    days_overdue: int
    days_since_contact: int | None
    broken_promises: int
    due_at: datetime | None = Field(description="a callback: not offered before")
    claimed_by_id: int | None
    claimed_until: datetime | None
    outcome: str | None


class EntryList(BaseModel):
    items: list[EntryOut]


class BuildOut(BaseModel):
    listed: int
    removed: int


class PassedOut(BaseModel):
    entry_id: int
    account_id: int
    code: str
    message: str


class NextOut(BaseModel):
    entry: EntryOut | None = Field(description="the account claimed for you; none: nothing "
                                   "may be called now")  # fmt: skip
    pop: dict[str, Any] | None = Field(description="the account's customer panel, as the "
                                       "screen-pop has it")  # fmt: skip
    passed: list[PassedOut] = Field(description="entries passed over, and the rule that "
                                    "refused each")  # fmt: skip


class CallPlaced(BaseModel):
    call_id: str
    record_id: int | None = Field(description="the call log's row (for the outcome)")
    attempt_id: int


class OutcomeIn(_In):
    outcome: Outcome
    callback_at: datetime | None = Field(None, description="with callback: when, within the "
                                         "calling window on the customer's clock")  # fmt: skip
    notes: note_text(4000) = None  # type: ignore[valid-type]


class OutcomeOut(BaseModel):
    record_id: int
    outcome: Outcome
    entry: EntryOut


class SettingsIn(_In):
    call_from: Clock
    call_until: Clock
    max_attempts: int = Field(strict=True, ge=1, le=50, description=f"call attempts an "
                              f"account may get in {rules.ATTEMPT_DAYS} days")  # fmt: skip
    no_contact_days: int = Field(strict=True, ge=1, le=365, description="days overdue with "
                                 "no contact before an account is listed")  # fmt: skip
    claim_minutes: int = Field(strict=True, ge=1, le=240)


class SettingsOut(BaseModel):
    call_from: str
    call_until: str
    max_attempts: int
    no_contact_days: int
    claim_minutes: int
    holidays: list[str] = Field(description="the reminders' holidays: no calls on them")


class DoNotCallIn(_In):
    number: E164
    reason: line_text(200) = None  # type: ignore[valid-type]


class DoNotCallOut(BaseModel):
    number: str
    reason: str | None
    added_by_id: int | None
    added_at: datetime


class DoNotCallList(BaseModel):
    items: list[DoNotCallOut]


class CustomerDoNotCallIn(_In):
    do_not_call: bool = Field(strict=True)


class CustomerDoNotCallOut(BaseModel):
    customer_id: int
    do_not_call_at: datetime | None


def _entry_out(row: WorklistEntry) -> EntryOut:
    parts = rules.score(row.overdue_minor, row.days_overdue, row.days_since_contact,
                        row.broken_promises)  # fmt: skip
    return EntryOut(
        id=row.id, account_id=row.account_id, customer_id=row.customer_id, status=row.status,
        reasons=list(row.reasons), score=row.score,
        score_parts=ScoreParts(amount=parts.amount, days_overdue=parts.days_overdue,
                               no_contact=parts.no_contact,
                               broken_promises=parts.broken_promises),
        overdue_minor=row.overdue_minor, days_overdue=row.days_overdue,
        days_since_contact=row.days_since_contact, broken_promises=row.broken_promises,
        due_at=row.due_at, claimed_by_id=row.claimed_by_id, claimed_until=row.claimed_until,
        outcome=row.outcome,
    )  # type: ignore[arg-type]  # fmt: skip


def _settings_out(policy: rules.Policy) -> SettingsOut:
    return SettingsOut(call_from=policy.call_from, call_until=policy.call_until,
                       max_attempts=policy.max_attempts, no_contact_days=policy.no_contact_days,
                       claim_minutes=policy.claim_minutes,
                       holidays=sorted(d.isoformat() for d in policy.holidays))  # fmt: skip


@contextmanager
def _refused() -> Iterator[None]:
    """The worklist services' refusals as status codes (outside a session of the handler)."""
    try:
        yield
    except CollectionsError as exc:
        raise collections_error(exc) from None


async def _policy(call: ApiCall) -> rules.Policy:
    async with collections_session(call) as session:
        return await store.policy_of(session)


def register(api: Api) -> None:
    _register_list(api)
    _register_dialing(api)
    _register_settings(api)
    _register_do_not_call(api)


def _register_list(api: Api) -> None:
    @api.operation("POST", "/worklist/build", summary="Build the business's collections "
                   "worklist now from its rules", role=Role.SUPERVISOR, response=BuildOut,
                   tag="worklist")  # fmt: skip
    async def build_worklist(call: ApiCall) -> BuildOut:
        database = context(call.request).database
        with _refused():
            report = await store.build(database, call.principal.tenant_id, datetime.now(UTC))
        return BuildOut(listed=report.listed, removed=report.removed)

    @api.operation("GET", "/worklist", summary="The worklist, highest score first, each entry "
                   "with why it is listed and its score's parts", role=Role.SUPERVISOR,
                   response=EntryList, tag="worklist",
                   query=(QueryParam("status", {"type": "string",
                                                "enum": ["queued", "claimed", "called", "done"]}),
                          QueryParam("limit", {"type": "integer", "minimum": 1,
                                               "maximum": PAGE})))  # fmt: skip
    async def list_worklist(call: ApiCall) -> EntryList:
        limit = parse_query_int(call.query.get("limit", str(PAGE)), "limit")
        status = call.query.get("status")
        if not 1 <= limit <= PAGE:
            raise invalid("limit", f"between 1 and {PAGE}")
        if status not in (None, "queued", "claimed", "called", "done"):
            raise invalid("status", "queued, claimed, called or done")
        async with collections_session(call) as session:
            rows = await store.entries(session, status, limit)
            return EntryList(items=[_entry_out(row) for row in rows])


def _register_dialing(api: Api) -> None:
    @api.operation("POST", "/worklist/next", summary="Claim the next account to call (it is "
                   "yours until the claim expires) and get its pop before any call is placed",
                   response=NextOut, tag="worklist")  # fmt: skip
    async def next_worklist_entry(call: ApiCall) -> NextOut:
        database, now = context(call.request).database, datetime.now(UTC)
        tenant_id = call.principal.tenant_id
        policy = await _policy(call)
        with _refused():
            claimed = await claims.claim_next(database, tenant_id, staff_of(call.principal),
                                              policy, now)  # fmt: skip
        passed = [PassedOut(entry_id=p.entry_id, account_id=p.account_id, code=p.code,
                            message=p.message) for p in claimed.passed]  # fmt: skip
        if claimed.entry is None:
            return NextOut(entry=None, pop=None, passed=passed)
        today = await business_today(database, tenant_id, now)
        pop = await customer_panel(database, tenant_id, claimed.entry.customer_id, today)
        return NextOut(entry=_entry_out(claimed.entry), pop=pop, passed=passed)

    @api.operation("POST", "/worklist/entries/{entry_id}/call", summary="Place the call to "
                   "the claimed account (click-to-call: your phone rings first); compliance "
                   "is checked again as the attempt is recorded", response=CallPlaced,
                   status=201, tag="worklist", errors=(409,))  # fmt: skip
    async def call_worklist_entry(call: ApiCall) -> CallPlaced:
        entry_id = call.path_int("entry_id")
        agent_id = call.principal.user_id

        async def place(number: str, customer_id: int) -> str:
            started = await run_on_desk(call, desk.ClickToCall(agent_id, number, customer_id))
            assert isinstance(started, CallStartedResult)
            return started.call_id

        policy = await _policy(call)
        with _refused():
            placing, call_id, record_id = await claims.place_call(
                context(call.request).database, call.principal.tenant_id, entry_id,
                staff_of(call.principal), policy, datetime.now(UTC), place,
            )  # fmt: skip
        return CallPlaced(call_id=call_id, record_id=record_id, attempt_id=placing.attempt_id)

    @api.operation("POST", "/worklist/entries/{entry_id}/release", summary="Give a claimed "
                   "account back to the worklist without calling", status=204,
                   tag="worklist")  # fmt: skip
    async def release_worklist_entry(call: ApiCall) -> None:
        with _refused():
            await claims.release(context(call.request).database, call.principal.tenant_id,
                                 call.path_int("entry_id"), staff_of(call.principal))  # fmt: skip

    @api.operation("PUT", "/calls/{record_id}/collections-outcome", summary="The collections "
                   "outcome of a worklist call (audited, shown as the call's disposition); a "
                   "callback at a time puts the account back on the worklist for then",
                   body=OutcomeIn, response=OutcomeOut, tag="worklist")  # fmt: skip
    async def set_collections_outcome(call: ApiCall) -> OutcomeOut:
        body: OutcomeIn = call.body
        change = claims.Outcome(call.path_int("record_id"), body.outcome, body.callback_at,
                                body.notes or None)  # fmt: skip
        async with collections_session(call) as session:
            policy = await store.policy_of(session)
            _, entry = await claims.record_outcome(
                session, call.principal.tenant_id, change, staff_of(call.principal), policy,
                datetime.now(UTC),
            )  # fmt: skip
            return OutcomeOut(record_id=change.record_id, outcome=body.outcome,
                              entry=_entry_out(entry))  # fmt: skip


def _register_settings(api: Api) -> None:
    @api.operation("GET", "/admin/worklist-settings", summary="The business's collection-call "
                   "rules", role=Role.SUPERVISOR, response=SettingsOut,
                   tag="worklist")  # fmt: skip
    async def get_worklist_settings(call: ApiCall) -> SettingsOut:
        return _settings_out(await _policy(call))

    @api.operation("PUT", "/admin/worklist-settings", summary="Set the calling window, the "
                   "attempts cap, the no-contact days and the claim's length (audited)",
                   role=Role.ADMIN, body=SettingsIn, response=SettingsOut,
                   tag="worklist")  # fmt: skip
    async def set_worklist_settings(call: ApiCall) -> SettingsOut:
        body: SettingsIn = call.body
        policy = rules.Policy(body.call_from, body.call_until, body.max_attempts,
                              body.no_contact_days, body.claim_minutes)  # fmt: skip
        async with collections_session(call) as session:
            changed = await store.change_policy(
                session, call.principal.tenant_id, policy, actor=call.principal,
                now=datetime.now(UTC),
            )  # fmt: skip
            return _settings_out(changed)


def _register_do_not_call(api: Api) -> None:
    def out(row: Any) -> DoNotCallOut:
        return DoNotCallOut(number=row.e164, reason=row.reason, added_by_id=row.added_by_id,
                            added_at=row.added_at)  # fmt: skip

    @api.operation("GET", "/admin/do-not-call", summary="The business's do-not-call numbers",
                   role=Role.SUPERVISOR, response=DoNotCallList, tag="worklist")  # fmt: skip
    async def list_do_not_call(call: ApiCall) -> DoNotCallList:
        async with collections_session(call) as session:
            return DoNotCallList(items=[out(r) for r in await store.do_not_call_numbers(session)])

    @api.operation("POST", "/admin/do-not-call", summary="Put a number on the do-not-call "
                   "list (audited)", role=Role.ADMIN, body=DoNotCallIn, response=DoNotCallOut,
                   status=201, tag="worklist")  # fmt: skip
    async def add_do_not_call(call: ApiCall) -> DoNotCallOut:
        body: DoNotCallIn = call.body
        async with collections_session(call) as session:
            row = await store.add_do_not_call(session, call.principal.tenant_id, body.number,
                                              body.reason or None, actor=call.principal,
                                              now=datetime.now(UTC))  # fmt: skip
            return out(row)

    @api.operation("DELETE", "/admin/do-not-call/{number}", summary="Take a number off the "
                   "do-not-call list (audited)", role=Role.ADMIN, status=204,
                   tag="worklist")  # fmt: skip
    async def remove_do_not_call(call: ApiCall) -> None:
        async with collections_session(call) as session:
            await store.remove_do_not_call(
                session, call.principal.tenant_id, call.path("number"), actor=call.principal,
                now=datetime.now(UTC),
            )  # fmt: skip

    @api.operation("PUT", "/customers/{customer_id}/do-not-call", summary="The customer's own "
                   "request not to be called about money, or to be called again (audited)",
                   role=Role.SUPERVISOR, body=CustomerDoNotCallIn,
                   response=CustomerDoNotCallOut, tag="worklist")  # fmt: skip
    async def set_customer_do_not_call(call: ApiCall) -> CustomerDoNotCallOut:
        body: CustomerDoNotCallIn = call.body
        customer_id = call.path_int("customer_id")
        async with collections_session(call) as session:
            row = await store.set_customer_do_not_call(
                session, call.principal.tenant_id, customer_id, body.do_not_call,
                actor=call.principal, now=datetime.now(UTC),
            )  # fmt: skip
            return CustomerDoNotCallOut(customer_id=row.id, do_not_call_at=row.do_not_call_at)
