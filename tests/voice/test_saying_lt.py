"""Lithuanian read-outs: each noun in the case its number asks for, units in its gender."""

from __future__ import annotations

import datetime

import pytest

from pbx.voice import saying
from tests.voice.saying_spoken import minor_units, rows, said

MASCULINE = ("vienas", "du", "trys", "keturi", "penki", "šeši", "septyni", "aštuoni", "devyni")
FEMININE = (
    "viena", "dvi", "trys", "keturios", "penkios", "šešios", "septynios", "aštuonios", "devynios"
)  # fmt: skip
NINES = "devyni šimtai devyniasdešimt devyni"
TENS = {20: "dvidešimt", 30: "trisdešimt", 90: "devyniasdešimt"}
TEENS = (
    "dešimt", "vienuolika", "dvylika", "trylika", "keturiolika",
    "penkiolika", "šešiolika", "septyniolika", "aštuoniolika", "devyniolika",
)  # fmt: skip

NUMBERS = """
0 | m | nulis
1 | m | vienas
2 | m | du
3 | m | trys
9 | m | devyni
10 | m | dešimt
11 | m | vienuolika
12 | m | dvylika
19 | m | devyniolika
20 | m | dvidešimt
21 | m | dvidešimt vienas
22 | m | dvidešimt du
99 | m | devyniasdešimt devyni
100 | m | šimtas
101 | m | šimtas vienas
111 | m | šimtas vienuolika
200 | m | du šimtai
999 | m | devyni šimtai devyniasdešimt devyni
1000 | m | tūkstantis
1001 | m | tūkstantis vienas
2000 | m | du tūkstančiai
5000 | m | penki tūkstančiai
10000 | m | dešimt tūkstančių
11000 | m | vienuolika tūkstančių
21000 | m | dvidešimt vienas tūkstantis
22000 | m | dvidešimt du tūkstančiai
100000 | m | šimtas tūkstančių
101000 | m | šimtas vienas tūkstantis
111000 | m | šimtas vienuolika tūkstančių
1000000 | m | milijonas
2000000 | m | du milijonai
10000000 | m | dešimt milijonų
21000000 | m | dvidešimt vienas milijonas
1000000000 | m | milijardas
5000000000 | m | penki milijardai
12000000000 | m | dvylika milijardų
1 | f | viena
2 | f | dvi
3 | f | trys
4 | f | keturios
11 | f | vienuolika
21 | f | dvidešimt viena
22 | f | dvidešimt dvi
1001 | f | tūkstantis viena
2002 | f | du tūkstančiai dvi
"""

MONEY = """
0 | EUR | nulis eurų
1 | EUR | vienas euras
2 | EUR | du eurai
10 | EUR | dešimt eurų
11 | EUR | vienuolika eurų
12 | EUR | dvylika eurų
21 | EUR | dvidešimt vienas euras
22 | EUR | dvidešimt du eurai
30 | EUR | trisdešimt eurų
101 | EUR | šimtas vienas euras
111 | EUR | šimtas vienuolika eurų
1000 | EUR | tūkstantis eurų
1001 | EUR | tūkstantis vienas euras
2000 | EUR | du tūkstančiai eurų
1000000 | EUR | milijonas eurų
1000001 | EUR | milijonas vienas euras
2000000 | EUR | du milijonai eurų
0.01 | EUR | vienas centas
0.02 | EUR | du centai
0.10 | EUR | dešimt centų
0.12 | EUR | dvylika centų
0.21 | EUR | dvidešimt vienas centas
0.99 | EUR | devyniasdešimt devyni centai
12.50 | EUR | dvylika eurų ir penkiasdešimt centų
1.01 | EUR | vienas euras ir vienas centas
21.21 | EUR | dvidešimt vienas euras ir dvidešimt vienas centas
1 | ILS | vienas šekelis
5 | ILS | penki šekeliai
10 | ILS | dešimt šekelių
0.01 | ILS | viena agora
0.02 | ILS | dvi agoros
0.05 | ILS | penkios agoros
0.11 | ILS | vienuolika agorų
0.21 | ILS | dvidešimt viena agora
0.22 | ILS | dvidešimt dvi agoros
11.20 | ILS | vienuolika šekelių ir dvidešimt agorų
1 | GBP | vienas svaras sterlingų
2 | GBP | du svarai sterlingų
15 | GBP | penkiolika svarų sterlingų
0.01 | GBP | vienas pensas
0.03 | GBP | trys pensai
12.50 | GBP | dvylika svarų sterlingų ir penkiasdešimt pensų
1 | USD | vienas doleris
3 | USD | trys doleriai
30 | USD | trisdešimt dolerių
0.03 | USD | trys centai
-5 | EUR | penki eurai jūsų naudai
-0.01 | EUR | vienas centas jūsų naudai
"""

DATES = """
2026-12-06 | du tūkstančiai dvidešimt šeštųjų metų gruodžio šeštoji
2000-01-01 | dutūkstantųjų metų sausio pirmoji
2011-03-21 | du tūkstančiai vienuoliktųjų metų kovo dvidešimt pirmoji
2020-05-31 | du tūkstančiai dvidešimtųjų metų gegužės trisdešimt pirmoji
2030-02-10 | du tūkstančiai trisdešimtųjų metų vasario dešimtoji
1999-08-15 | tūkstantis devyni šimtai devyniasdešimt devintųjų metų rugpjūčio penkioliktoji
2100-09-03 | du tūkstančiai šimtųjų metų rugsėjo trečioji
1900-04-02 | tūkstantis devynšimtųjų metų balandžio antroji
2025-06-30 | du tūkstančiai dvidešimt penktųjų metų birželio trisdešimtoji
2024-07-20 | du tūkstančiai dvidešimt ketvirtųjų metų liepos dvidešimtoji
2024-10-11 | du tūkstančiai dvidešimt ketvirtųjų metų spalio vienuoliktoji
2024-11-22 | du tūkstančiai dvidešimt ketvirtųjų metų lapkričio dvidešimt antroji
"""

PLACES = """
1 | Jūsų numeris eilėje vienas
3 | Jūsų numeris eilėje trys
12 | Jūsų numeris eilėje dvylika
21 | Jūsų numeris eilėje dvidešimt vienas
"""


@pytest.mark.parametrize(("n", "gender", "expected"), rows(NUMBERS))
def test_a_number_is_said_in_the_gender_of_what_it_counts(
    n: str, gender: str, expected: str
) -> None:
    assert said(saying.number(int(n), "lt", gender=gender), "lt") == expected


@pytest.mark.parametrize(("amount", "currency", "expected"), rows(MONEY))
def test_an_amount_takes_the_case_its_number_asks_for(
    amount: str, currency: str, expected: str
) -> None:
    assert said(saying.money(minor_units(amount), currency, "lt"), "lt") == expected


def test_nine_hundred_and_ninety_nine_million_and_more() -> None:
    assert said(saying.money(99_999_999_999, "EUR", "lt"), "lt") == (
        f"{NINES} milijonai {NINES} tūkstančiai {NINES} eurai ir devyniasdešimt devyni centai"
    )


@pytest.mark.parametrize("tens", [0, 20, 30, 90])
@pytest.mark.parametrize("unit", range(1, 10))
def test_units_after_tens_say_the_nominative_in_the_nouns_gender(tens: int, unit: int) -> None:
    head = f"{TENS[tens]} " if tens else ""
    euros = "euras" if unit == 1 else "eurai"
    agoros = "agora" if unit == 1 else "agoros"
    assert said(saying.money((tens + unit) * 100, "EUR", "lt"), "lt") == (
        f"{head}{MASCULINE[unit - 1]} {euros}"
    )
    assert said(saying.money(tens + unit, "ILS", "lt"), "lt") == (
        f"{head}{FEMININE[unit - 1]} {agoros}"
    )


@pytest.mark.parametrize("n", range(10, 20))
def test_ten_to_nineteen_take_the_genitive_plural(n: int) -> None:
    assert said(saying.money(n * 100, "EUR", "lt"), "lt") == f"{TEENS[n - 10]} eurų"
    assert said(saying.money(n, "EUR", "lt"), "lt") == f"{TEENS[n - 10]} centų"
    assert said(saying.money(n, "ILS", "lt"), "lt") == f"{TEENS[n - 10]} agorų"


@pytest.mark.parametrize(("date", "expected"), rows(DATES))
def test_a_date_is_the_years_ordinal_the_months_genitive_and_the_day(
    date: str, expected: str
) -> None:
    assert said(saying.day(datetime.date.fromisoformat(date), "lt"), "lt") == expected


@pytest.mark.parametrize(("place", "expected"), rows(PLACES))
def test_the_place_in_line_is_a_masculine_number(place: str, expected: str) -> None:
    assert said(saying.place_in_line(int(place), "lt"), "lt") == expected


WAITS = """
1 | Numatomas laukimo laikas apie viena minutė
2 | Numatomas laukimo laikas apie dvi minutės
9 | Numatomas laukimo laikas apie devynios minutės
10 | Numatomas laukimo laikas apie dešimt minučių
12 | Numatomas laukimo laikas apie dvylika minučių
21 | Numatomas laukimo laikas apie dvidešimt viena minutė
22 | Numatomas laukimo laikas apie dvidešimt dvi minutės
30 | Numatomas laukimo laikas apie trisdešimt minučių
"""


@pytest.mark.parametrize(("minutes", "expected"), rows(WAITS))
def test_the_expected_wait_counts_feminine_minutes_in_their_case(
    minutes: str, expected: str
) -> None:
    assert said(saying.wait_minutes(int(minutes), "lt"), "lt") == expected
