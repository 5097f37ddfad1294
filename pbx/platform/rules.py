"""What a business's settings must be: plain functions with no I/O, each returning the value
as stored or adding a problem for its field, so a command reports every problem at once."""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import available_timezones

import phonenumbers

from billing_bridge.money import MoneyError, exponent
from pbx.free_text import clean_name, email_problem, mask_card_numbers

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
NAME_WIDTH = 200


class Problems:
    """The problems found so far, by field."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, field: str, problem: str) -> None:
        self.found.append((field, problem))


def slug(text: str, problems: Problems) -> str:
    if not SLUG.fullmatch(text):
        problems.add("slug", "lower-case letters, digits and inner hyphens, 1 to 64 long "
                     "(like ofek or saule-energy)")  # fmt: skip
    return text


def name(text: str, problems: Problems, field: str = "name") -> str:
    kept = mask_card_numbers(clean_name(text)) if len(text) <= 4 * NAME_WIDTH else text
    if not kept or len(kept) > NAME_WIDTH:
        problems.add(field, f"1 to {NAME_WIDTH} visible characters")
    return kept


def region(text: str, problems: Problems) -> str:
    code = text.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        problems.add("region", f"{text[:10]!r} is not a two-letter region code (like IL or LT)")
    return code


def currency(text: str, problems: Problems) -> str:
    code = text.strip().upper()
    try:
        exponent(code)
    except MoneyError:
        problems.add("currency", f"{text[:10]!r} is not a known ISO 4217 code (like ILS)")
    return code


def timezone(text: str, problems: Problems) -> str:
    if text not in _zones():
        problems.add("timezone", f"{text[:64]!r} is not an IANA time zone (like Asia/Jerusalem)")
    return text


LANGUAGES = ("he", "lt", "en")  # the languages Ledgerline's prompts ship in


def language(text: str, problems: Problems) -> str:
    """What a business's callers hear: one of the languages the prompts ship in."""
    code = text.strip().lower()
    if code not in LANGUAGES:
        problems.add("language", f"{text[:10]!r} is not one of {', '.join(LANGUAGES)}")
    return code


def did(text: str, problems: Problems, field: str = "did") -> str:
    """A DID exactly as E.164 (+ and country code): numbers here are stored so, and one
    written otherwise is easily read in the wrong country."""
    if not _E164.fullmatch(text):
        problems.add(field, f"{text[:20]!r} is not in E.164 form (like +97237630100)")
        return text
    number = phonenumbers.parse(text, None)
    if not phonenumbers.is_valid_number(number):
        problems.add(field, f"{text} is not a valid phone number")
    return text


def dids(texts: tuple[str, ...], problems: Problems, field: str = "did") -> tuple[str, ...]:
    kept = tuple(did(text, problems, field) for text in texts)
    if len(set(kept)) != len(kept):
        problems.add(field, "a number is given twice")
    return kept


def username(text: str, problems: Problems) -> str:
    if not USERNAME.fullmatch(text):
        problems.add("admin", "a username of 1 to 64 letters, digits, '.', '_', '@' or '-'")
    return text


def email(text: str, problems: Problems, field: str = "admin_email") -> str:
    problem = email_problem(text)
    if problem:
        problems.add(field, f"{text[:60]!r} {problem}")
    return text


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())
