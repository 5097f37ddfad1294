"""Money, numbers, dates and queue places read out in the caller's language.

Pure: each function returns the ARI media URIs to play one after another
(`sound:ledgerline-n-20`, `sound:ledgerline-unit-shekel-pl`, ...), composed of word prompts
built once from `[words]` in `texts/<language>.toml`, never a sentence synthesised per call.
The grammar of each language lives in `saying_<language>.py`; docs/voice.md says how the
read-outs compose and how prompts are named.

A negative amount is a balance in the caller's favour: the amount, then "in credit"
("לזכותך", "jūsų naudai"). Amounts go up to 999,999,999,999.99.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from types import ModuleType

from pbx.voice import saying_en, saying_he, saying_lt

PREFIX = "ledgerline-"
MAX_NUMBER = 10**12 - 1
GENDERS = ("m", "f")


@dataclass(frozen=True)
class Currency:
    major: str  # the noun of the major unit, as named in unit-<noun>-<form>
    minor: str
    minor_per_major: int = 100


CURRENCIES = {
    "ILS": Currency("shekel", "agora"),
    "EUR": Currency("euro", "cent"),
    "GBP": Currency("pound", "penny"),
    "USD": Currency("dollar", "cent"),
}
_GRAMMARS: dict[str, ModuleType] = {"en": saying_en, "he": saying_he, "lt": saying_lt}
LANGUAGES = tuple(_GRAMMARS)

VOCABULARY: dict[str, frozenset[str]] = {
    language: frozenset(PREFIX + word for word in (*grammar.vocabulary(), "w-in-credit"))
    for language, grammar in _GRAMMARS.items()
}


class CannotSay(ValueError):
    """A language, currency, gender or value the read-out does not say."""


def money(amount_minor: int, currency: str, language: str) -> tuple[str, ...]:
    """An amount in minor units: "twelve pounds and fifty pence"; below zero, "... in credit"."""
    grammar = _grammar(language)
    unit = CURRENCIES.get(currency) if isinstance(currency, str) else None
    if unit is None:
        raise CannotSay(f"no read-out for currency {currency!r} (one of {', '.join(CURRENCIES)})")
    major, minor = divmod(abs(_strict_int(amount_minor, "amount_minor")), unit.minor_per_major)
    _in_range(major, "amount")
    words = grammar.money(major, minor, unit.major, unit.minor)
    if amount_minor < 0:
        words.append("w-in-credit")
    return _sounds(words)


def number(n: int, language: str, *, gender: str = "m") -> tuple[str, ...]:
    """A cardinal 0..999,999,999,999, in the gender of what it counts (he, lt)."""
    grammar = _grammar(language)
    if gender not in GENDERS:
        raise CannotSay(f"gender is 'm' or 'f', not {gender!r}")
    return _sounds(grammar.number(_in_range(_strict_int(n, "n"), "n"), gender))


def day(d: datetime.date, language: str) -> tuple[str, ...]:
    """A date: "the sixth of December twenty twenty-six", "שישה בדצמבר אלפיים עשרים ושש"."""
    grammar = _grammar(language)
    if not isinstance(d, datetime.date) or isinstance(d, datetime.datetime):
        raise CannotSay(f"a date is a datetime.date, not {type(d).__name__}")
    return _sounds(grammar.day(d))


def place_in_line(place: int, language: str) -> tuple[str, ...]:
    """The caller's place in the queue, 1 first: "you are number three in line"."""
    grammar = _grammar(language)
    if _strict_int(place, "place") < 1:
        raise CannotSay(f"a place in line is 1 or more, not {place}")
    return _sounds(grammar.place_in_line(_in_range(place, "place")))


def wait_minutes(minutes: int, language: str) -> tuple[str, ...]:
    """A waiting caller's expected wait, 1 minute or more: "the expected wait is about three
    minutes"."""
    grammar = _grammar(language)
    if _strict_int(minutes, "minutes") < 1:
        raise CannotSay(f"an expected wait is 1 minute or more, not {minutes}")
    return _sounds(grammar.wait(_in_range(minutes, "minutes")))


def _grammar(language: str) -> ModuleType:
    grammar = _GRAMMARS.get(language) if isinstance(language, str) else None
    if grammar is None:
        raise CannotSay(f"no read-out in language {language!r} (one of {', '.join(LANGUAGES)})")
    return grammar


def _strict_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CannotSay(f"{what} must be an int, not {type(value).__name__}")
    return value


def _in_range(n: int, what: str) -> int:
    if not 0 <= n <= MAX_NUMBER:
        raise CannotSay(f"{what} {n} is outside 0..{MAX_NUMBER:,}")
    return n


def _sounds(words: list[str]) -> tuple[str, ...]:
    return tuple(f"sound:{PREFIX}{word}" for word in words)
