"""English read-out: cardinal words, British "and", singular and plural money nouns.

Words are `ledgerline-` names without the prefix (`saying.py` adds it). Every number below
a hundred is one prompt ("twenty-one" is said as one word, not "twenty" then "one").
"""

from __future__ import annotations

import datetime

SCALES = ((10**9, "w-billion"), (10**6, "w-million"), (10**3, "w-thousand"))
NOUNS = ("shekel", "agora", "euro", "cent", "pound", "penny", "dollar", "minute")


def _below_thousand(n: int) -> list[str]:
    hundreds, rest = divmod(n, 100)
    words = [f"n-{hundreds}", "w-hundred"] if hundreds else []
    if hundreds and rest:
        words.append("w-and")
    if rest:
        words.append(f"n-{rest}")
    return words


def number(n: int, gender: str = "m") -> list[str]:
    """Cardinals, British style: "one thousand and five", "one hundred and ten"."""
    if n == 0:
        return ["n-0"]
    words: list[str] = []
    for scale, word in SCALES:
        count, n = divmod(n, scale)
        if count:
            words += [*_below_thousand(count), word]
    if n:
        if words and n < 100:
            words.append("w-and")
        words += _below_thousand(n)
    return words


def _count(n: int, noun: str) -> list[str]:
    return [*number(n), f"unit-{noun}-{'sg' if n == 1 else 'pl'}"]


def money(major: int, minor: int, major_noun: str, minor_noun: str) -> list[str]:
    """Like "twelve pounds and fifty pence"; "five pence"; "zero pounds"."""
    if major == 0 and minor:
        return _count(minor, minor_noun)
    words = _count(major, major_noun)
    if minor:
        words += ["w-and", *_count(minor, minor_noun)]
    return words


def year(y: int) -> list[str]:
    """As years are said: "twenty twenty-six", "nineteen oh five", "two thousand and five"."""
    high, low = divmod(y, 100)
    if y < 1000 or y % 1000 < 10:
        return number(y)
    if low == 0:
        return [f"n-{high}", "w-hundred"]
    if low < 10:
        return [f"n-{high}", "w-oh", f"n-{low}"]
    return [f"n-{high}", f"n-{low}"]


def day(d: datetime.date) -> list[str]:
    """Like "the sixth of December twenty twenty-six"."""
    return [f"day-{d.day}", f"month-{d.month}", *year(d.year)]  # day-6: "the sixth of"


def place_in_line(place: int) -> list[str]:
    """Like "you are number three in line"."""
    return ["w-place-in-line", *number(place), "w-in-line"]


def wait(minutes: int) -> list[str]:
    """Like "the expected wait is about one minute", "... three minutes"."""
    return ["w-expected-wait", *_count(minutes, "minute")]


def vocabulary() -> frozenset[str]:
    words = {f"n-{n}" for n in range(100)}
    words |= {"w-hundred", "w-and", "w-oh", "w-place-in-line", "w-in-line", "w-expected-wait"}
    words |= {word for _, word in SCALES}
    words |= {f"unit-{noun}-{form}" for noun in NOUNS for form in ("sg", "pl")}
    words |= {f"day-{d}" for d in range(1, 32)} | {f"month-{m}" for m in range(1, 13)}
    return frozenset(words)
