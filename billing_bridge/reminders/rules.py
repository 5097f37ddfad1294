"""The rules of reminders, pure: a business's schedule read strictly (steps by days overdue,
templates per language and channel, quiet hours, holidays), which step an account is at,
whether a moment is in the customer's quiet hours or on a holiday, and the message itself.

Every template carries the business's name, a pay link and an opt-out link; none may hold a
card number. Times are judged on the customer's wall clock (zoneinfo), so a DST change moves
the quiet hours with the clock, not by a fixed UTC offset."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_zones

from billing_bridge.collections.errors import Invalid
from pbx.free_text import has_hidden_characters, mask_card_numbers

CHANNELS = ("email", "sms", "worklist")
MESSAGE_CHANNELS = ("email", "sms")
LANGUAGES = ("he", "lt", "en")
PLACEHOLDERS = frozenset({"business", "amount", "days", "pay_link", "opt_out_link"})
REQUIRED = ("pay_link", "opt_out_link")  # in every message's body
MAX_STEPS = 12
MAX_DAY = 365
MAX_HOLIDAYS = 100
MAX_SUBJECT = 200
MAX_BODY = {"email": 4000, "sms": 480}
DEFAULT_QUIET_FROM, DEFAULT_QUIET_UNTIL = "21:00", "08:00"
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")

# The built-in texts; a business may replace any of them (its `templates`).
DEFAULT_TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "email": ("{business}: your payment of {amount} is overdue",
                  "Hello,\n\nyour payment of {amount} to {business} is {days} days overdue. "
                  "You can pay it here: {pay_link}\n\nIf you have already paid, thank you and "
                  "please ignore this message.\n\nNo more reminders: {opt_out_link}"),
        "sms": ("", "{business}: {amount} is {days} days overdue. Pay: {pay_link} "
                "Reply STOP or {opt_out_link} to stop reminders"),
    },
    "he": {
        "email": ("{business}: התשלום בסך {amount} באיחור",
                  "שלום,\n\nהתשלום בסך {amount} ל{business} באיחור של {days} ימים. "
                  "אפשר לשלם כאן: {pay_link}\n\nאם כבר שילמת, תודה, ואפשר להתעלם מהודעה זו."
                  "\n\nלהפסקת התזכורות: {opt_out_link}"),
        "sms": ("", "{business}: {amount} באיחור של {days} ימים. לתשלום: {pay_link} "
                "להפסקת תזכורות השב STOP או {opt_out_link}"),
    },
    "lt": {
        "email": ("{business}: vėluoja {amount} mokėjimas",
                  "Sveiki,\n\n{amount} mokėjimas {business} vėluoja {days} d. "
                  "Sumokėti galite čia: {pay_link}\n\nJei jau sumokėjote, ačiū, šio laiško "
                  "nepaisykite.\n\nNebegauti priminimų: {opt_out_link}"),
        "sms": ("", "{business}: {amount} vėluoja {days} d. Mokėti: {pay_link} "
                "Atsakykite STOP arba {opt_out_link}, kad nebegautumėte priminimų"),
    },
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Step:
    day: int  # days overdue
    channel: str  # email, sms, worklist


@dataclass(frozen=True, slots=True)
class Template:
    subject: str
    body: str


@dataclass(frozen=True)
class Schedule:
    steps: tuple[Step, ...]
    templates: Mapping[str, Mapping[str, Template]] = field(default_factory=dict)
    quiet_from: str = DEFAULT_QUIET_FROM
    quiet_until: str = DEFAULT_QUIET_UNTIL
    holidays: frozenset[date] = frozenset()

    def template(self, language: str, channel: str) -> Template:
        """The business's own text, else the built-in one (in English for a language the
        built-in texts do not have)."""
        own = self.templates.get(language, {}).get(channel)
        if own is not None:
            return own
        subject, body = DEFAULT_TEMPLATES.get(language, DEFAULT_TEMPLATES["en"])[channel]
        return Template(subject, body)

    def as_json(self) -> dict[str, Any]:
        return {
            "steps": [{"day": s.day, "channel": s.channel} for s in self.steps],
            "templates": {lang: {ch: {"subject": t.subject, "body": t.body}
                                 for ch, t in by_channel.items()}
                          for lang, by_channel in self.templates.items()},
            "quiet_from": self.quiet_from, "quiet_until": self.quiet_until,
            "holidays": sorted(d.isoformat() for d in self.holidays),
        }  # fmt: skip


def _clock(value: str, name: str) -> time:
    match = _CLOCK.fullmatch(value)
    if match is None:
        raise Invalid(name, "expected a local time HH:MM, 00:00 to 23:59")
    return time(int(match[1]), int(match[2]))


def check_steps(steps: Sequence[Step]) -> tuple[Step, ...]:
    if not 1 <= len(steps) <= MAX_STEPS:
        raise Invalid("steps", f"between 1 and {MAX_STEPS} steps")
    days = [s.day for s in steps]
    if len(set(days)) != len(days):
        raise Invalid("steps", "one step a day overdue: a day appears twice")
    for number, step in enumerate(steps):
        if not 1 <= step.day <= MAX_DAY:
            raise Invalid(f"steps[{number}].day", f"between 1 and {MAX_DAY}")
        if step.channel not in CHANNELS:
            raise Invalid(f"steps[{number}].channel", "one of " + ", ".join(CHANNELS))
    return tuple(sorted(steps, key=lambda s: s.day))


def check_template(template: Template, channel: str, where: str) -> Template:
    """Refuses a template that lacks a required link, names an unknown placeholder (or uses
    format tricks: attributes, indexes, conversions), is too long, hides characters, or holds
    a card number."""
    if len(template.subject) > MAX_SUBJECT:
        raise Invalid(f"{where}.subject", f"at most {MAX_SUBJECT} characters")
    if channel == "email" and not template.subject.strip():
        raise Invalid(f"{where}.subject", "an email needs a subject")
    if not template.body.strip() or len(template.body) > MAX_BODY[channel]:
        raise Invalid(f"{where}.body", f"between 1 and {MAX_BODY[channel]} characters")
    for part, text in (("subject", template.subject), ("body", template.body)):
        if has_hidden_characters(text.replace("\n", "")):  # line breaks are text
            raise Invalid(f"{where}.{part}", "holds invisible or direction-changing characters")
        if mask_card_numbers(text) != text:
            raise Invalid(f"{where}.{part}", "looks like it holds a card number")
        names = _placeholders(text, f"{where}.{part}")
        if part == "body" and not set(REQUIRED) <= names:
            raise Invalid(f"{where}.body", "must carry {pay_link} and {opt_out_link}")
    return template


def _placeholders(text: str, where: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        raise Invalid(where, "a { or } without its pair (write {{ or }} for the sign)") from None
    names = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            raise Invalid(where, f"unknown placeholder {{{name}}}: use "
                          + ", ".join(sorted(f"{{{p}}}" for p in PLACEHOLDERS)))  # fmt: skip
        names.add(name)
    return names


def check_schedule(
    steps: Sequence[Step], templates: Mapping[str, Mapping[str, Template]], quiet_from: str,
    quiet_until: str, holidays: Iterable[date],
) -> Schedule:  # fmt: skip
    """A schedule every part of which holds, or `Invalid` naming the part."""
    if _clock(quiet_from, "quiet_from") == _clock(quiet_until, "quiet_until"):
        raise Invalid("quiet_until", "differs from quiet_from (quiet hours of no length, or "
                      "of the whole day, are not a schedule)")  # fmt: skip
    days = frozenset(holidays)
    if len(days) > MAX_HOLIDAYS:
        raise Invalid("holidays", f"at most {MAX_HOLIDAYS} dates")
    for language, by_channel in templates.items():
        if language not in LANGUAGES:
            raise Invalid(f"templates.{language}", "one of " + ", ".join(LANGUAGES))
        for channel, template in by_channel.items():
            if channel not in MESSAGE_CHANNELS:
                raise Invalid(f"templates.{language}.{channel}", "email or sms")
            check_template(template, channel, f"templates.{language}.{channel}")
    return Schedule(check_steps(steps), templates, quiet_from, quiet_until, days)


def schedule_of(row: Any) -> Schedule:
    """A stored `reminder_settings` row as a schedule (validated when it was stored)."""
    return Schedule(
        tuple(Step(int(s["day"]), str(s["channel"])) for s in row.steps),
        {lang: {ch: Template(t["subject"], t["body"]) for ch, t in by.items()}
         for lang, by in (row.templates or {}).items()},
        row.quiet_from, row.quiet_until,
        frozenset(date.fromisoformat(d) for d in row.holidays or ()),
    )  # fmt: skip


def step_for(days_overdue: int, steps: Sequence[Step]) -> Step | None:
    """The last step an account `days_overdue` has reached (None: not yet the first)."""
    reached = [s for s in steps if s.day <= days_overdue]
    return max(reached, key=lambda s: s.day) if reached else None


def is_quiet(moment: datetime, zone: ZoneInfo, quiet_from: str, quiet_until: str) -> bool:
    """Whether `moment` falls in the quiet hours on the wall clock of `zone`."""
    local = moment.astimezone(zone).time().replace(tzinfo=None)
    start, end = _clock(quiet_from, "quiet_from"), _clock(quiet_until, "quiet_until")
    if start > end:  # across midnight, as 21:00 to 08:00
        return local >= start or local < end
    return start <= local < end


def may_send(moment: datetime, zone: ZoneInfo, schedule: Schedule) -> bool:
    """Out of the quiet hours and not on one of the business's holidays, in `zone`."""
    if moment.astimezone(zone).date() in schedule.holidays:
        return False
    return not is_quiet(moment, zone, schedule.quiet_from, schedule.quiet_until)


def customer_zone(e164: str | None, business: ZoneInfo) -> ZoneInfo:
    """The customer's time zone where their number tells one zone, else the business's."""
    if not e164:
        return business
    try:
        zones = phone_zones.time_zones_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return business
    if len(zones) != 1 or zones[0] == "Etc/Unknown":
        return business
    try:
        return ZoneInfo(zones[0])
    except (KeyError, ValueError):
        return business


def render(template: Template, values: Mapping[str, str]) -> Template:
    """The message: the template with its placeholders filled (and only those)."""
    filled = {name: values[name] for name in PLACEHOLDERS}
    return Template(template.subject.format_map(filled), template.body.format_map(filled))
