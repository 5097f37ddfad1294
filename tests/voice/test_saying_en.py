"""English read-outs: British "and", singular and plural nouns, dates as they are said."""

from __future__ import annotations

import datetime

import pytest

from pbx.voice import saying
from tests.voice.saying_spoken import minor_units, rows, said

ONES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NINES = "nine hundred and ninety-nine"

NUMBERS = """
0 | zero
1 | one
2 | two
11 | eleven
12 | twelve
13 | thirteen
14 | fourteen
15 | fifteen
16 | sixteen
17 | seventeen
18 | eighteen
19 | nineteen
20 | twenty
21 | twenty-one
40 | forty
99 | ninety-nine
100 | one hundred
101 | one hundred and one
110 | one hundred and ten
999 | nine hundred and ninety-nine
1000 | one thousand
1001 | one thousand and one
1010 | one thousand and ten
1100 | one thousand one hundred
1234 | one thousand two hundred and thirty-four
21000 | twenty-one thousand
100000 | one hundred thousand
100001 | one hundred thousand and one
1000000 | one million
1000005 | one million and five
2500000 | two million five hundred thousand
1000000000 | one billion
"""

MONEY = """
0 | GBP | zero pounds
0.01 | GBP | one penny
0.02 | GBP | two pence
0.50 | GBP | fifty pence
1 | GBP | one pound
1.01 | GBP | one pound and one penny
2 | GBP | two pounds
12.50 | GBP | twelve pounds and fifty pence
1000 | GBP | one thousand pounds
0 | EUR | zero euros
1 | EUR | one euro
2 | EUR | two euros
0.01 | EUR | one cent
0.05 | EUR | five cents
21.21 | EUR | twenty-one euros and twenty-one cents
1 | USD | one dollar
1.01 | USD | one dollar and one cent
1000000 | USD | one million dollars
0 | ILS | zero shekels
1 | ILS | one shekel
2 | ILS | two shekels
0.01 | ILS | one agora
0.02 | ILS | two agorot
11.20 | ILS | eleven shekels and twenty agorot
-12.50 | GBP | twelve pounds and fifty pence in credit
-0.05 | USD | five cents in credit
"""

DATES = """
2026-12-06 | the sixth of December twenty twenty-six
2000-01-01 | the first of January two thousand
2005-05-05 | the fifth of May two thousand and five
2010-10-10 | the tenth of October twenty ten
1999-11-22 | the twenty-second of November nineteen ninety-nine
1905-03-03 | the third of March nineteen oh five
2100-02-28 | the twenty-eighth of February twenty-one hundred
2031-08-31 | the thirty-first of August twenty thirty-one
2024-04-02 | the second of April twenty twenty-four
2024-06-11 | the eleventh of June twenty twenty-four
2024-07-12 | the twelfth of July twenty twenty-four
2024-09-13 | the thirteenth of September twenty twenty-four
"""

PLACES = """
1 | You are number one in line
3 | You are number three in line
21 | You are number twenty-one in line
"""


@pytest.mark.parametrize(("n", "expected"), rows(NUMBERS))
def test_a_number_is_said_the_british_way(n: str, expected: str) -> None:
    assert said(saying.number(int(n), "en"), "en") == expected


@pytest.mark.parametrize("n", range(100))
def test_every_number_below_a_hundred_is_said_as_one_word(n: int) -> None:
    teens = (
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen",
    )  # fmt: skip
    tens = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
    expected = teens[n] if n < 20 else tens[n // 10 - 2] + (f"-{teens[n % 10]}" if n % 10 else "")
    assert saying.number(n, "en") == (f"sound:ledgerline-n-{n}",)
    assert said(saying.number(n, "en"), "en") == expected


@pytest.mark.parametrize(("amount", "currency", "expected"), rows(MONEY))
def test_an_amount_is_said_with_singular_or_plural_nouns(
    amount: str, currency: str, expected: str
) -> None:
    assert said(saying.money(minor_units(amount), currency, "en"), "en") == expected


def test_nine_hundred_and_ninety_nine_million_and_more() -> None:
    assert said(saying.number(999_999_999, "en"), "en") == (
        f"{NINES} million {NINES} thousand {NINES}"
    )
    assert said(saying.money(99_999_999_999, "USD", "en"), "en") == (
        f"{NINES} million {NINES} thousand {NINES} dollars and ninety-nine cents"
    )


@pytest.mark.parametrize("currency", ["GBP", "EUR", "USD", "ILS"])
@pytest.mark.parametrize("unit", range(2, 10))
def test_more_than_one_of_a_unit_is_plural(currency: str, unit: int) -> None:
    major, minor = {
        "GBP": ("pounds", "pence"),
        "EUR": ("euros", "cents"),
        "USD": ("dollars", "cents"),
        "ILS": ("shekels", "agorot"),
    }[currency]
    words = ONES[unit - 1]
    assert said(saying.money(unit * 101, currency, "en"), "en") == (
        f"{words} {major} and {words} {minor}"
    )


@pytest.mark.parametrize(("date", "expected"), rows(DATES))
def test_a_date_is_the_ordinal_day_of_the_month_and_the_year(date: str, expected: str) -> None:
    assert said(saying.day(datetime.date.fromisoformat(date), "en"), "en") == expected


@pytest.mark.parametrize(("place", "expected"), rows(PLACES))
def test_the_place_in_line_is_a_number(place: str, expected: str) -> None:
    assert said(saying.place_in_line(int(place), "en"), "en") == expected


WAITS = """
1 | The expected wait is about one minute
2 | The expected wait is about two minutes
11 | The expected wait is about eleven minutes
21 | The expected wait is about twenty-one minutes
60 | The expected wait is about sixty minutes
"""


@pytest.mark.parametrize(("minutes", "expected"), rows(WAITS))
def test_the_expected_wait_counts_minutes(minutes: str, expected: str) -> None:
    assert said(saying.wait_minutes(int(minutes), "en"), "en") == expected
