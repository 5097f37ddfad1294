"""Request and response bodies of `/api/v1`, validated by pydantic and published in the
OpenAPI document. Limits here are the ones a person could mistype; rules that need the
database (does that queue exist?) are checked by the handlers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pbx.acd.callback_rule import rule_of
from pbx.acd.queues import QueueConfig
from pbx.callflow.hours import HoursError, OpeningHours
from pbx.free_text import clean_name, clean_text, email_problem, mask_card_numbers
from pbx.http.api import BIGINT_MAX

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="lower-case id")]
Strategy = Literal["ringall", "leastrecent", "fewestcalls", "rrmemory", "linear", "random"]
Skills = dict[
    Annotated[str, Field(min_length=1, max_length=32)], Annotated[int, Field(ge=0, le=100)]
]
Endpoint = Annotated[
    str,
    Field(
        pattern=r"^(PJSIP|SIP|IAX2|DAHDI|Local)/[^\s,]{1,120}$",
        description="what Asterisk dials: PJSIP/1001, or Local/+972...@outbound",
    ),
]


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number in E.164 form (+ and country code)") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$"), AfterValidator(_e164)]

# Ids and money are strict integers within what their BIGINT columns hold: `true`, "100" and
# 100.0 are refused, and 2**63 is a 422 rather than an overflow in the database driver.
Id = Annotated[int, Field(strict=True, ge=1, le=BIGINT_MAX)]
Minor = Annotated[int, Field(strict=True, ge=0, le=BIGINT_MAX)]
# A payment's amount: a typo's extra zeros stop at a million in major units.
PaymentMinor = Annotated[int, Field(strict=True, gt=0, le=100_000_000)]


def _screened(clean: Any, max_length: int) -> BeforeValidator:
    def screen(value: Any) -> Any:
        # Far over the limit: left as typed for the length check to refuse, not scanned.
        if isinstance(value, str) and len(value) <= 4 * max_length:
            return clean(value)
        return value

    return BeforeValidator(screen)


def _one_line(text: str) -> str:
    return mask_card_numbers(clean_name(text))


def line_text(max_length: int, min_length: int = 0) -> Any:
    """A one-line free text (a name, a reason, a disposition) as it may be stored: no controls
    or bidi overrides, NFC, card numbers masked (pbx.free_text); the lengths are
    checked on what is kept."""
    return Annotated[str, _screened(_one_line, max_length),
                     Field(min_length=min_length, max_length=max_length)]  # fmt: skip


def note_text(max_length: int, min_length: int = 0) -> Any:
    """Multi-line free text (notes), screened like `line_text`; line breaks stay."""
    return Annotated[str, _screened(clean_text, max_length),
                     Field(min_length=min_length, max_length=max_length)]  # fmt: skip


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- sign-in ---------------------------------------------------------------------------------


class LoginIn(_In):
    tenant: Annotated[str, Field(min_length=1, max_length=64)]
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class Me(BaseModel):
    user_id: int
    tenant_id: int
    username: str
    role: Literal["agent", "supervisor", "admin"]


class LoginOut(BaseModel):
    token: str
    expires_at: datetime
    user: Me


# --- queues ----------------------------------------------------------------------------------

# A wall-clock time, HH:MM.
ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
# A wall-board threshold: a wait in seconds, a service level in percent.
BoardWait = Annotated[int, Field(strict=True, ge=1, le=86_400)]
BoardPercent = Annotated[int, Field(strict=True, ge=0, le=100)]


class QueueIn(_In):
    name: Name
    strategy: Strategy = "ringall"
    ring_timeout_seconds: Annotated[int, Field(ge=1, le=600)] = 15
    retry_seconds: Annotated[int, Field(ge=0, le=600)] = 0
    wrapup_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    max_wait_seconds: Annotated[int, Field(ge=1, le=86_400)] | None = None
    overflow_kind: Literal["queue", "voicemail", "callback"] | None = None
    overflow_target: Annotated[str, Field(max_length=64)] = ""
    announce_every_seconds: Annotated[int, Field(ge=10, le=3600)] | None = None
    required_skills: Skills = Field(default_factory=dict)
    autopause: bool = True
    music_class: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "ledgerline"
    # None: as the caller's inbound route says.
    recording_policy: Literal["all", "none", "on_demand"] | None = None
    # A callback whose customer does not answer is tried again by this rule; unset: 3
    # attempts, 600 seconds apart, 08:00-21:00 on the customer's clock.
    callback_attempts: Annotated[int, Field(strict=True, ge=1, le=10)] | None = None
    callback_spacing_seconds: Annotated[int, Field(strict=True, ge=60, le=604_800)] | None = None
    callback_window_start: ClockTime | None = None
    callback_window_end: ClockTime | None = None
    # The wall board's tile turns amber / red past these waits and below these service
    # levels; each unset is derived (`pbx.reports.board.thresholds_for`).
    board_wait_amber_seconds: BoardWait | None = None
    board_wait_red_seconds: BoardWait | None = None
    board_service_level_amber_pct: BoardPercent | None = None
    board_service_level_red_pct: BoardPercent | None = None

    @field_validator("board_wait_red_seconds")
    @classmethod
    def _red_wait_not_before_amber(cls, red: int | None, info: ValidationInfo) -> int | None:
        amber = info.data.get("board_wait_amber_seconds")
        if red is not None and amber is not None and red < amber:
            raise ValueError("must be at least board_wait_amber_seconds")
        return red

    @field_validator("board_service_level_red_pct")
    @classmethod
    def _red_level_not_above_amber(cls, red: int | None, info: ValidationInfo) -> int | None:
        amber = info.data.get("board_service_level_amber_pct")
        if red is not None and amber is not None and red > amber:
            raise ValueError("must be at most board_service_level_amber_pct")
        return red

    @model_validator(mode="after")
    def _consistent(self) -> QueueIn:
        QueueConfig(  # the ACD's own rules: overflow needs a target, and so on
            self.name,
            ring_timeout_s=self.ring_timeout_seconds,
            max_wait_s=self.max_wait_seconds,
            overflow_kind=self.overflow_kind,
            overflow_target=self.overflow_target,
        )
        if self.overflow_kind in ("queue", "voicemail") and not self.overflow_target:
            raise ValueError("overflow_target is required for this overflow_kind")
        rule_of(  # the callback window ends after it starts (and so on)
            self.callback_attempts, self.callback_spacing_seconds,
            self.callback_window_start, self.callback_window_end,
        )  # fmt: skip
        return self


class QueueOut(BaseModel):
    """A queue as stored: plain types, not `QueueIn`'s rules (a row made before a rule, or
    by the seeder, is still answered; a change to it is held to them)."""

    id: int
    name: str
    strategy: str
    ring_timeout_seconds: int
    retry_seconds: int
    wrapup_seconds: int
    max_wait_seconds: int | None
    overflow_kind: str | None
    overflow_target: str
    announce_every_seconds: int | None
    required_skills: dict[str, int]
    autopause: bool
    music_class: str
    recording_policy: str | None
    callback_attempts: int | None
    callback_spacing_seconds: int | None
    callback_window_start: str | None
    callback_window_end: str | None
    board_wait_amber_seconds: int | None
    board_wait_red_seconds: int | None
    board_service_level_amber_pct: int | None
    board_service_level_red_pct: int | None


class QueueList(BaseModel):
    items: list[QueueOut]


# --- agents ----------------------------------------------------------------------------------


def _user_email(address: str | None) -> str | None:
    if address is None:
        return None
    problem = email_problem(address)
    if problem:
        raise ValueError(problem)
    return address


class AgentIn(_In):
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]
    display_name: line_text(200, min_length=1)  # type: ignore[valid-type]
    role: Literal["agent", "supervisor", "admin"] = "agent"
    endpoint: Endpoint | None = None
    skills: Skills = Field(default_factory=dict)
    active: bool = True
    credit_limit_minor: Minor = Field(
        default=0, description="a personal credit limit (minor units of the business's "
        "currency) that replaces the role's when above 0",
    )  # fmt: skip
    password: Annotated[str | None, Field(min_length=10, max_length=256)] = Field(
        default=None, description="write-only; omitted on update keeps the current one"
    )
    email: Annotated[str | None, AfterValidator(_user_email)] = Field(
        default=None, description="where the user is told what needs them (an admin: a "
        "webhook subscription disabled); omitted or null: none",
    )  # fmt: skip


class AgentOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    endpoint: str | None
    skills: dict[str, int]
    active: bool
    credit_limit_minor: int
    has_password: bool
    email: str | None


class AgentList(BaseModel):
    items: list[AgentOut]


class MemberIn(_In):
    agent_id: Id
    penalty: Annotated[int, Field(ge=0, le=100)] = 0
    position: Annotated[int, Field(ge=0, le=10_000)] = 0


class MemberOut(MemberIn):
    queue_id: int


class MemberList(BaseModel):
    items: list[MemberOut]


# --- business hours and routes ---------------------------------------------------------------


# 0 = Monday, or the day's name.
Weekday = Annotated[int, Field(strict=True, ge=0, le=6)] | Annotated[str, Field(max_length=9)]


class Window(_In):
    days: Annotated[list[Weekday], Field(min_length=1, max_length=7)]
    open: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    close: Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]


class HoursIn(_In):
    name: Name
    timezone: Annotated[str, Field(min_length=1, max_length=64, examples=["Asia/Jerusalem"])]
    weekly: list[Window] = Field(default_factory=list, max_length=50)
    closed_dates: list[str] = Field(default_factory=list, max_length=400)

    @model_validator(mode="after")
    def _readable(self) -> HoursIn:
        try:
            OpeningHours.parse(
                self.timezone, [w.model_dump() for w in self.weekly], self.closed_dates
            )
        except HoursError as exc:
            raise ValueError(str(exc)) from None
        return self


class HoursOut(HoursIn):
    id: int


class HoursList(BaseModel):
    items: list[HoursOut]


class MenuIn(_In):
    prompt: Annotated[str, Field(pattern=r"^[A-Za-z0-9_/-]{1,64}$")] = "ledgerline-menu"
    options: dict[Annotated[str, Field(pattern=r"^[0-9*#]$")], Name] = Field(
        default_factory=dict, description="a keypad digit to a queue name"
    )


class SelfServiceIn(_In):
    """The route's self-service menu before the queue: 1 the balance, 2 pay by card, 3 a
    direct debit, 4 a promise to pay (`promise`, off unless turned on: offered to an
    identified caller with something overdue), 0 or 9 an agent. `identify`: how a caller not
    known by their number proves who they are (account number, then a PIN or date of birth);
    none: they go to the queue."""

    balance: bool = True
    card: bool = False
    mandate: bool = False
    identify: Literal["none", "pin", "date_of_birth"] = "none"
    attempts: Annotated[int, Field(ge=1, le=5)] = 2
    identify_attempts: Annotated[int, Field(ge=1, le=5)] = 3
    promise: bool = False

    @model_validator(mode="after")
    def _offers_something(self) -> SelfServiceIn:
        if not (self.balance or self.card or self.mandate or self.promise):
            raise ValueError("self_service offers nothing: turn on balance, card, mandate or "
                             "promise")  # fmt: skip
        return self


class RouteIn(_In):
    did: E164
    queue_id: Id
    collections_queue_id: Id | None = None
    business_hours_id: Id | None = None
    closed_kind: Literal["queue", "voicemail", "hangup"] = "hangup"
    closed_target: Annotated[str, Field(max_length=64)] = ""
    verification: Literal["none", "pin", "date_of_birth"] = "none"
    verification_attempts: Annotated[int, Field(ge=1, le=5)] = 3
    menu: MenuIn | None = None
    recording_policy: Literal["all", "none", "on_demand"] = "all"
    # A sound name played when recording starts; None: ledgerline-call-recorded.
    recording_announcement: Annotated[str, Field(pattern=r"^[A-Za-z0-9_/-]{1,64}$")] | None = None
    self_service: SelfServiceIn | None = None
    # What this number's callers hear (the channel's language); None: the business's.
    language: Literal["he", "lt", "en"] | None = None

    @model_validator(mode="after")
    def _closed_target(self) -> RouteIn:
        if self.closed_kind != "hangup" and not self.closed_target:
            raise ValueError("closed_target is required unless closed_kind is hangup")
        return self


class RouteOut(RouteIn):
    id: int


class RouteList(BaseModel):
    items: list[RouteOut]


# --- agent state and calls -------------------------------------------------------------------


class AgentStateIn(_In):
    state: Literal["available", "paused", "logged_out"]
    reason: line_text(64) = ""  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _reason(self) -> AgentStateIn:
        if self.state == "paused" and not self.reason:
            raise ValueError("a pause needs a reason")
        return self


class AgentStateOut(BaseModel):
    agent_id: int
    state: str
    pause_reason: str | None = None
    since: datetime | None = None
    call_id: str | None = None


class AgentStateList(BaseModel):
    items: list[AgentStateOut]


class CallOut(BaseModel):
    id: int
    call_id: str = Field(description="the live call's id, for the call-control operations")
    direction: str
    caller_number: str | None
    dialed_number: str | None
    match: str
    customer_id: int | None
    queue_id: int | None
    agent_id: int | None
    priority: int
    verified: str | None
    arrived_at: datetime
    queued_at: datetime | None
    offered_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: int | None
    talk_seconds: int | None
    outcome: str | None
    disposition: str | None
    recording_notice: str | None = Field(
        None, description="whether the caller heard that the call is recorded: played (to "
        "its end), failed (not played, or hung up during it), none (not recorded on arrival)"
    )
    callback_of: int | None = Field(
        None, description="an attempt at calling a customer back: the id of the call that "
        "asked for the callback"
    )
    callback_attempt: int | None = Field(None, description="which attempt: 1, 2, ...")
    callback_state: str | None = Field(
        None, description="on a call that asked for a callback, how it ended: pending, "
        "answered, failed (no attempt answered) or cancelled (the customer called in)"
    )


class CallList(BaseModel):
    items: list[CallOut]
    next_before_id: int | None = Field(description="pass as before_id for the next page")


class CardPaymentIn(_In):
    account_id: Id
    # Minor units; omitted: the account's overdue invoices (or its balance), or with
    # invoice_id what that invoice still owes (never more).
    amount_minor: PaymentMinor | None = None
    # The account's open invoice the payment pays (a Stripe invoice is paid at Stripe).
    invoice_id: Id | None = None


class CardPaymentStarted(BaseModel):
    amount_minor: int
    currency: str
    status: Literal["started"]


class PayLinkIn(_In):
    account_id: Id
    amount_minor: PaymentMinor | None = None
    channel: Literal["sms", "email"] = "sms"
    # Omitted: the number calling (SMS) or the customer's address on file (email).
    recipient: Annotated[str, Field(min_length=3, max_length=254)] | None = None


class PayLinkSent(BaseModel):
    payment_id: int
    url: str
    status: Literal["sent", "failed"]
    amount_minor: int
    currency: str
    channel: str
    to: str


class MandateByPhoneIn(_In):
    account_id: Id
    # The bank's country; omitted: the business's region (IL, GB, LT or US by phone).
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")] | None = None
    # Where the payer's confirmation goes; omitted: SMS to the number calling.
    channel: Literal["sms", "email"] = "sms"
    recipient: Annotated[str, Field(min_length=3, max_length=254)] | None = None


class MandateStarted(BaseModel):
    status: Literal["started"]
    scheme: str


class MandateLinkIn(_In):
    account_id: Id
    scheme: Literal["masav", "bacs", "sepa_core", "ach"] | None = None
    channel: Literal["sms", "email"] = "sms"
    recipient: Annotated[str, Field(min_length=3, max_length=254)] | None = None


class MandateLinkSent(BaseModel):
    mandate_id: int
    scheme: str
    status: str
    url: str | None
    sent: Literal["sent", "failed"]
    to: str


class RecordingPauseIn(_In):
    reason: line_text(64, min_length=1) = "agent"  # type: ignore[valid-type]


class TransferIn(_In):
    mode: Literal["blind", "attended"] = "blind"
    agent_id: Id | None = None
    queue_id: Id | None = None
    number: E164 | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TransferIn:
        targets = [t for t in (self.agent_id, self.queue_id, self.number) if t is not None]
        if len(targets) != 1:
            raise ValueError("give exactly one of agent_id, queue_id, number")
        if self.queue_id is not None and self.mode != "blind":
            raise ValueError("a transfer to a queue is always blind")
        return self


class ClickToCallIn(_In):
    number: E164
    customer_id: Id | None = None


class CallStarted(BaseModel):
    call_id: str


class AttachCustomerIn(_In):
    customer_id: Id
    # household: one of the customers sharing the number calling; search: any customer of
    # the business, found by the desk's search (`billing_bridge.call_customer`)
    via: Literal["household", "search"] = "household"


class CustomerAttached(BaseModel):
    call_id: str
    customer_id: int
    previous_customer_id: int | None


class DispositionIn(_In):
    disposition: line_text(64, min_length=1)  # type: ignore[valid-type]
    notes: note_text(4000) = ""  # type: ignore[valid-type]


class QueueStats(BaseModel):
    queue_id: int
    name: str
    waiting: int
    longest_wait_seconds: int
    agents: dict[str, int] = Field(description="how many members are in each state")


class SelfServiceToday(BaseModel):
    used: int = Field(description="today's calls whose caller used the IVR's self-service")
    resolved: int = Field(description="of them, those the caller ended satisfied after a "
                          "self-service action (balance, payment, mandate), without an agent")


class QueueStatsList(BaseModel):
    items: list[QueueStats]
    self_service: SelfServiceToday  # since midnight in the business's time zone


class CustomerHit(BaseModel):
    id: int
    ref: str
    name: str
    phones: list[str]
    balance_minor: int
    currency: str | None


class CustomerHits(BaseModel):
    items: list[CustomerHit]


def dump(model: BaseModel, **extra: Any) -> dict[str, Any]:
    """A model's fields as column values (the write-only password excluded)."""
    return model.model_dump(exclude={"password"}) | extra


# --- recordings -----------------------------------------------------------------------------


class PauseOut(BaseModel):
    start_ms: int
    end_ms: int | None
    reason: str


class RecordingOut(BaseModel):
    id: int
    call_id: int
    status: str
    format: str
    duration_ms: int | None
    started_at: datetime | None
    stored_at: datetime | None
    expires_at: datetime | None
    pauses: list[PauseOut]


class RecordingList(BaseModel):
    items: list[RecordingOut]


class PlaybackOut(BaseModel):
    url: str
    expires_at: datetime
    content_type: str | None


class LegalHoldIn(_In):
    call_id: Id | None = None
    customer_id: Id | None = None
    reason: note_text(500, min_length=3)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _one_target(self) -> LegalHoldIn:
        if (self.call_id is None) == (self.customer_id is None):
            raise ValueError("give exactly one of call_id, customer_id")
        return self


class LegalHoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    call_id: int | None
    customer_id: int | None
    reason: str
    placed_by: int | None
    placed_at: datetime


class LegalHoldList(BaseModel):
    items: list[LegalHoldOut]


class RetentionIn(_In):
    days: int | None = Field(ge=1, le=36500)


class RetentionOut(BaseModel):
    days: int | None
