"""The read-out as a whole: every name it can say has its words, and bad input is refused."""

from __future__ import annotations

import datetime
import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal

import pytest

from pbx.voice import saying
from pbx.voice.catalog import load
from tests.voice.saying_spoken import said

LANGUAGES = ("en", "he", "lt")


def _numbers() -> list[int]:
    rng = random.Random(17)
    sample = set(range(2001))
    sample |= {d * 10**e for d in range(1, 1000) for e in (3, 6, 9)}
    sample |= {10**e + d * 10**f for e in (6, 9) for f in (3, 6) for d in range(1, 11) if f < e}
    sample |= {rng.randrange(10**12) for _ in range(2000)} | {saying.MAX_NUMBER}
    return sorted(sample)


NUMBERS = _numbers()


def _read_outs(language: str) -> Iterator[tuple[str, ...]]:
    for n in NUMBERS:
        yield saying.number(n, language, gender="m")
        yield saying.number(n, language, gender="f")
    for currency in saying.CURRENCIES:
        for minor in range(100):
            for major in (0, 1, 2, 3, 11, 21, 22, 1000, 1001, 1002, 1_000_000):
                yield saying.money(major * 100 + minor, currency, language)
        for n in NUMBERS[::7]:
            yield saying.money(n * 100 + n % 100, currency, language)
            yield saying.money(-n, currency, language)
    for year in range(1, 10000):
        yield saying.day(datetime.date(year, 1, 1), language)
    start = datetime.date(2024, 1, 1)
    for days in range(366):
        yield saying.day(start + datetime.timedelta(days), language)
    for place in range(1, 2001):
        yield saying.place_in_line(place, language)
    for minutes in range(1, 301):
        yield saying.wait_minutes(minutes, language)


@pytest.fixture(scope="module", params=LANGUAGES)
def spoken(request: pytest.FixtureRequest) -> tuple[str, list[tuple[str, ...]]]:
    return request.param, list(_read_outs(request.param))


def test_every_read_out_says_something_and_only_ledgerline_sounds(
    spoken: tuple[str, list[tuple[str, ...]]],
) -> None:
    _, read_outs = spoken
    assert all(read_out for read_out in read_outs)
    assert all(
        isinstance(sound, str) and sound.startswith("sound:ledgerline-")
        for read_out in read_outs
        for sound in read_out
    )


def test_every_name_said_is_in_the_vocabulary_and_the_vocabulary_holds_no_unused_name(
    spoken: tuple[str, list[tuple[str, ...]]],
) -> None:
    language, read_outs = spoken
    names = {sound.removeprefix("sound:") for read_out in read_outs for sound in read_out}
    assert names - saying.VOCABULARY[language] == set()
    assert saying.VOCABULARY[language] - names == set()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_name_in_the_vocabulary_has_its_words_in_the_language_file(language: str) -> None:
    words = load().texts[language].words
    assert saying.VOCABULARY[language] - set(words) == set()


def test_the_words_tables_hold_exactly_the_names_some_language_says() -> None:
    every = set().union(*saying.VOCABULARY.values())
    for texts in load().texts.values():
        assert set(texts.words) == every


def test_the_issues_examples_read_as_the_issue_writes_them() -> None:
    assert said(saying.money(200, "ILS", "he"), "he") == "שני שקלים"
    assert said(saying.money(1120, "ILS", "he"), "he") == "אחד עשר שקלים ועשרים אגורות"
    issue = {1: ("vienas", "euras", "centas"), 2: ("du", "eurai", "centai"),
             10: ("dešimt", "eurų", "centų"), 21: ("dvidešimt vienas", "euras", "centas"),
             12: ("dvylika", "eurų", "centų")}  # fmt: skip
    for n, (number, euros, cents) in issue.items():
        assert said(saying.money(n * 100, "EUR", "lt"), "lt") == f"{number} {euros}"
        assert said(saying.money(n, "EUR", "lt"), "lt") == f"{number} {cents}"


def test_a_read_out_is_a_tuple_of_media_uris() -> None:
    assert saying.money(1250, "GBP", "en") == (
        "sound:ledgerline-n-12",
        "sound:ledgerline-unit-pound-pl",
        "sound:ledgerline-w-and",
        "sound:ledgerline-n-50",
        "sound:ledgerline-unit-penny-pl",
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: saying.money(100, "ILS", "fr"), "no read-out in language 'fr'"),
        (lambda: saying.money(100, "JPY", "en"), "no read-out for currency 'JPY'"),
        (lambda: saying.money(100, "ils", "en"), "no read-out for currency 'ils'"),
        (lambda: saying.money(1.5, "ILS", "en"), "amount_minor must be an int, not float"),
        (lambda: saying.money(True, "ILS", "en"), "amount_minor must be an int, not bool"),
        (lambda: saying.money(Decimal(1), "ILS", "en"), "must be an int, not Decimal"),
        (lambda: saying.money(10**14, "ILS", "en"), "amount 1000000000000 is outside"),
        (lambda: saying.money(-(10**14), "ILS", "en"), "amount 1000000000000 is outside"),
        (lambda: saying.number(-1, "en"), "n -1 is outside"),
        (lambda: saying.number(10**12, "he"), "is outside 0..999,999,999,999"),
        (lambda: saying.number(3, "he", gender="n"), "gender is 'm' or 'f'"),
        (lambda: saying.number("3", "he"), "n must be an int, not str"),
        (lambda: saying.place_in_line(0, "en"), "a place in line is 1 or more"),
        (lambda: saying.wait_minutes(0, "en"), "an expected wait is 1 minute or more"),
        (lambda: saying.wait_minutes(True, "he"), "minutes must be an int"),
        (lambda: saying.place_in_line(2.0, "en"), "place must be an int"),
        (lambda: saying.day(datetime.datetime(2026, 12, 6), "en"), "not datetime"),
        (lambda: saying.day("2026-12-06", "en"), "not str"),
        (lambda: saying.day(datetime.date(2026, 12, 6), None), "no read-out in language None"),
    ],
)
def test_what_it_cannot_say_is_refused_with_the_reason(call, message: str) -> None:
    with pytest.raises(saying.CannotSay, match=message.replace("(", r"\(")):
        call()


def test_the_largest_amount_is_read_in_full_and_one_cent_more_is_refused() -> None:
    largest = saying.MAX_NUMBER * 100 + 99
    nines = "nine hundred and ninety-nine"
    assert said(saying.money(-largest, "EUR", "en"), "en") == (
        f"{nines} billion {nines} million {nines} thousand {nines} euros "
        "and ninety-nine cents in credit"
    )
    nines = "devyni šimtai devyniasdešimt devyni"
    assert said(saying.money(largest, "EUR", "lt"), "lt") == (
        f"{nines} milijardai {nines} milijonai {nines} tūkstančiai {nines} eurai "
        "ir devyniasdešimt devyni centai"
    )
    nines = "תשע מאות תשעים ותשעה"
    assert said(saying.money(largest, "ILS", "he"), "he") == (
        f"{nines} מיליארד {nines} מיליון {nines} אלף {nines} שקלים ותשעים ותשע אגורות"
    )
    with pytest.raises(saying.CannotSay):
        saying.money(largest + 1, "EUR", "en")


_ESPEAK = shutil.which("espeak-ng")
_STRESS = str.maketrans("", "", "',;")


def _phonemes_said(texts: list[str], *, ssml: bool) -> list[str]:
    """What espeak-ng's Hebrew voice says for each text (one a line), as phonemes without
    stress marks; as SSML, the last text ends right before the closing tag."""
    lines = "\n".join(texts)
    command = [_ESPEAK, "-v", "he", "-q", "-x", *(["-m"] if ssml else []), "--stdin"]
    said = subprocess.run(command, input=f"<speak>{lines}</speak>" if ssml else lines,
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return [" ".join(line.translate(_STRESS).split()) for line in said.stdout.splitlines()
            if line.strip()]  # fmt: skip


def test_every_hebrew_word_is_said_as_exactly_its_phonemes_plain_or_in_ssml() -> None:
    assert _ESPEAK, "espeak-ng is not installed (./dev test installs it)"
    words = load().texts["he"].words
    expected = []
    for name, text in words.items():
        match = re.fullmatch(r"\[\[([^\]]+)\]\]\.", text)
        assert match, f"{name}: {text!r} is not espeak-ng phonemes written [[...]]."
        expected.append(" ".join(match[1].translate(_STRESS).split()))
    for ssml in (False, True):
        spoken = _phonemes_said(list(words.values()), ssml=ssml)
        assert dict(zip(words, spoken, strict=True)) == dict(zip(words, expected, strict=True))
