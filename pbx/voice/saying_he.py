"""Hebrew read-out: numbers that agree with the noun's gender, and "ו" before the last part.

- Gender: units and teens take the counted noun's gender (shekel masculine: "שלושה שקלים";
  agora feminine: "שלוש אגורות"). Hundreds (מאה, מאתיים, שלוש מאות), thousands (אלף,
  אלפיים, שלושת אלפים ... עשרת אלפים, then "אחד עשר אלף") and millions (מיליון, שני
  מיליון, שלושה מיליון) have fixed forms; their counts are masculine.
- With a noun, exactly 2 is in the construct form ("שני שקלים", "שתי אגורות") and exactly 1
  follows the noun ("שקל אחד", "אגורה אחת"); "עשרים ושניים שקלים" keeps the absolute form.
- "ו" joins the last part of each group ("מאה עשרים ושלושה") and, when the last group is a
  single word, that group ("אלף ומאה", "מיליון ומאתיים אלף"); the minor units join the
  major ones with "ו" ("אחד עשר שקלים ועשרים אגורות"). "ו" changes how the word after it
  is said (u-, ve-, va-), so each word that can follow it has an `and-` prompt of its own.
- Dates: the day as a masculine cardinal, the month with ב ("שישה בדצמבר"), and the year as
  a feminine cardinal ("אלפיים עשרים ושש").
"""

from __future__ import annotations

import datetime

NOUNS = {
    "shekel": "m",  # שקל
    "agora": "f",  # אגורה
    "euro": "m",  # אירו
    "cent": "m",  # סנט
    "pound": "f",  # לירה שטרלינג
    "penny": "m",  # פני
    "dollar": "m",  # דולר
    "minute": "f",  # דקה
}
MINOR_NOUNS = ("agora", "cent", "penny")
_MILLIONS = ((10**9, "w-billion"), (10**6, "w-million"))


def _and(word: str) -> str:
    return f"and-{word}"


def _small(n: int, gender: str) -> str:
    """1-19 in the gender given (the absolute form)."""
    return f"n-{n}-f" if gender == "f" else f"n-{n}"


def _group(n: int, gender: str) -> list[str]:
    """1-999: "מאה עשרים ושלושה"."""
    hundreds, rest = divmod(n, 100)
    words = [f"n-{hundreds * 100}"] if hundreds else []
    if 0 < rest < 20:
        words.append(_small(rest, gender))
    elif rest:
        tens, unit = divmod(rest, 10)
        words.append(f"n-{tens * 10}")
        if unit:
            words.append(_small(unit, gender))
    if len(words) > 1:
        words[-1] = _and(words[-1])
    return words


def _segments(n: int, gender: str) -> list[list[str]]:
    """Billions, millions, thousands and the rest, each a list of words."""
    segments: list[list[str]] = []
    for scale, word in _MILLIONS:
        count, n = divmod(n, scale)
        if count == 1:
            segments.append([word])
        elif count == 2:
            segments.append(["n-2-c", word])
        elif count:
            segments.append([*_group(count, "m"), word])
    count, n = divmod(n, 1000)
    if 1 <= count <= 10:
        segments.append([f"n-{count * 1000}"])
    elif count:
        segments.append([*_group(count, "m"), "w-thousand"])
    if n:
        segments.append(_group(n, gender))
    return segments


def _joined_by_and(segment: list[str]) -> bool:
    """Whether the segment has its own "ו" ("עשרים ואחד אלף"); if not, and it is the last of
    several, "ו" joins it to the rest ("מיליון ומאתיים אלף")."""
    return any(word.startswith("and-") for word in segment)


def number(n: int, gender: str = "m", *, before_noun: bool = False) -> list[str]:
    """The cardinal; `before_noun` gives exactly 2 its construct form ("שני")."""
    if n == 0:
        return ["n-0"]
    if before_noun and n == 2:
        return [f"n-2-{gender}-c" if gender == "f" else "n-2-c"]
    segments = _segments(n, gender)
    if len(segments) > 1 and not _joined_by_and(segments[-1]):
        segments[-1] = [_and(segments[-1][0]), *segments[-1][1:]]
    return [word for segment in segments for word in segment]


def _count(n: int, noun: str) -> list[str]:
    gender = NOUNS[noun]
    if n == 1:
        return [f"unit-{noun}-sg", _small(1, gender)]
    return [*number(n, gender, before_noun=True), f"unit-{noun}-pl"]


def money(major: int, minor: int, major_noun: str, minor_noun: str) -> list[str]:
    """Like "אחד עשר שקלים ועשרים אגורות"; "חמש אגורות"; "אפס שקלים"."""
    if major == 0 and minor:
        return _count(minor, minor_noun)
    words = _count(major, major_noun)
    if minor:
        first, *rest = _count(minor, minor_noun)
        words += [_and(first), *rest]
    return words


def day(d: datetime.date) -> list[str]:
    """Like "שישה בדצמבר אלפיים עשרים ושש"."""
    return [f"day-{d.day}", f"month-{d.month}", *number(d.year, "f")]


def place_in_line(place: int) -> list[str]:
    """Like "מיקומך בתור הוא שלוש": a number used as a label is said in the feminine."""
    return ["w-place-in-line", *number(place, "f")]


def wait(minutes: int) -> list[str]:
    """Like "זמן ההמתנה המשוער הוא דקה אחת", "... שתי דקות" (דקה is feminine)."""
    return ["w-expected-wait", *_count(minutes, "minute")]


def vocabulary() -> frozenset[str]:
    joinable = {f"n-{n}" for n in range(1, 20)} | {f"n-{n}-f" for n in range(1, 20)}
    joinable |= {f"n-{n}" for n in range(20, 100, 10)} | {f"n-{n}" for n in range(100, 1000, 100)}
    joinable |= {f"n-{n}" for n in range(1000, 11000, 1000)}
    joinable |= {"n-2-c", "n-2-f-c", "w-million"}
    joinable |= {f"unit-{noun}-sg" for noun in MINOR_NOUNS}
    words = joinable | {_and(word) for word in joinable}
    words |= {"n-0", "w-thousand", "w-billion", "w-place-in-line", "w-expected-wait"}
    words |= {f"unit-{noun}-{form}" for noun in NOUNS for form in ("sg", "pl")}
    words |= {f"day-{d}" for d in range(1, 32)} | {f"month-{m}" for m in range(1, 13)}
    return frozenset(words)
