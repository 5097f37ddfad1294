"""Lithuanian read-out: the case a number governs, and gendered 1-9.

A counted noun (and tūkstantis, milijonas, milijardas) takes the case its number asks for,
decided by the number's last two digits: 1, 21, 31... (not 11) the nominative singular
("euras"); 2-9, 22-29... (not 12-19) the nominative plural ("eurai"); 0, 10-20, 30... the
genitive plural ("eurų"). Units 1-9 agree with the noun ("vienas euras", "viena agora");
the count of a thousand or a million is masculine. Dates: the year's last word an ordinal
in the genitive plural ("du tūkstančiai dvidešimt šeštųjų metų"), the month in the genitive
and the day a feminine ordinal (diena): "gruodžio šeštoji".
"""

from __future__ import annotations

import datetime

SCALES = ((10**9, "w-billion"), (10**6, "w-million"), (10**3, "w-thousand"))
NOUNS = {
    "shekel": "m",  # šekelis
    "agora": "f",  # agora
    "euro": "m",  # euras
    "cent": "m",  # centas
    "pound": "m",  # svaras sterlingų
    "penny": "m",  # pensas
    "dollar": "m",  # doleris
    "minute": "f",  # minutė
}
# The last word of a year as an ordinal: 1-19, whole tens, hundreds and thousands.
YEAR_ENDS = (*range(1, 20), *range(20, 100, 10), *range(100, 1000, 100), *range(1000, 10000, 1000))


def form(n: int) -> str:
    """The case a noun counted by `n` takes: sg, pl (nominative) or gen (genitive plural)."""
    if 11 <= n % 100 <= 19 or n % 10 == 0:
        return "gen"
    return "sg" if n % 10 == 1 else "pl"


def _below_thousand(n: int, gender: str) -> list[str]:
    hundreds, rest = divmod(n, 100)
    words = [f"n-{hundreds * 100}"] if hundreds else []
    if 10 <= rest <= 19:
        words.append(f"n-{rest}")
        return words
    tens, unit = divmod(rest, 10)
    if tens:
        words.append(f"n-{tens * 10}")
    if unit:
        words.append(f"n-{unit}-f" if gender == "f" else f"n-{unit}")
    return words


def _scale_word(word: str, count: int) -> str:
    case = form(count)
    return word if case == "sg" else f"{word}-{case}"


def number(n: int, gender: str = "m") -> list[str]:
    """Like "dvidešimt vienas tūkstantis", "du šimtai dvi" (for a feminine noun)."""
    if n == 0:
        return ["n-0"]
    words: list[str] = []
    for scale, word in SCALES:
        count, n = divmod(n, scale)
        if count:
            if count != 1:  # "tūkstantis", not "vienas tūkstantis"
                words += _below_thousand(count, "m")
            words.append(_scale_word(word, count))
    if n:
        words += _below_thousand(n, gender)
    return words


def _count(n: int, noun: str) -> list[str]:
    return [*number(n, NOUNS[noun]), f"unit-{noun}-{form(n)}"]


def money(major: int, minor: int, major_noun: str, minor_noun: str) -> list[str]:
    """Like "dvylika eurų ir penkiasdešimt centų"; "penki centai"; "nulis eurų"."""
    if major == 0 and minor:
        return _count(minor, minor_noun)
    words = _count(major, major_noun)
    if minor:
        words += ["w-and", *_count(minor, minor_noun)]
    return words


def year(y: int) -> list[str]:
    """Like "du tūkstančiai dvidešimt šeštųjų metų": cardinals, then the last word an ordinal."""
    rest = y % 100
    if rest:
        head, last = y - rest, rest
        if rest > 20 and rest % 10:
            head, last = y - rest % 10, rest % 10
    elif y % 1000:
        head, last = y - y % 1000, y % 1000
    else:
        head, last = 0, y
    words = number(head) if head else []
    return [*words, f"ord-{last}-gen", "w-year-gen"]


def day(d: datetime.date) -> list[str]:
    """Like "du tūkstančiai dvidešimt šeštųjų metų gruodžio šeštoji"."""
    return [*year(d.year), f"month-{d.month}", f"day-{d.day}"]


def place_in_line(place: int) -> list[str]:
    """Like "Jūsų numeris eilėje trys" (numeris is masculine)."""
    return ["w-place-in-line", *number(place, "m")]


def wait(minutes: int) -> list[str]:
    """Like "Numatomas laukimo laikas dvi minutės", "... dešimt minučių" (minutė is feminine)."""
    return ["w-expected-wait", *_count(minutes, "minute")]


def vocabulary() -> frozenset[str]:
    words = {f"n-{n}" for n in range(21)} | {f"n-{n}" for n in range(30, 100, 10)}
    words |= {f"n-{n}-f" for n in range(1, 10)}
    words |= {f"n-{n}" for n in range(100, 1000, 100)}
    words |= {f"{word}{case}" for _, word in SCALES for case in ("", "-pl", "-gen")}
    words |= {f"unit-{noun}-{case}" for noun in NOUNS for case in ("sg", "pl", "gen")}
    words |= {f"ord-{n}-gen" for n in YEAR_ENDS} | {"w-year-gen"}
    words |= {f"day-{d}" for d in range(1, 32)} | {f"month-{m}" for m in range(1, 13)}
    words |= {"w-and", "w-place-in-line", "w-expected-wait"}
    return frozenset(words)
