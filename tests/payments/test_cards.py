from __future__ import annotations

import re
from datetime import date

import pytest

from billing_bridge.payments.cards import (
    CardBrand,
    brand_of,
    check_cvc,
    check_expiry,
    check_expiry_date,
    check_number,
    keying_progress,
    luhn_ok,
)


def luhn_complete(body: str) -> str:
    """`body` with the check digit that makes it pass Luhn (computed independently of the
    module: the check digit is whatever of 0-9 makes the doubled sum a multiple of 10)."""
    for digit in "0123456789":
        candidate = body + digit
        total = 0
        for i, char in enumerate(candidate[::-1]):
            n = int(char) * (2 if i % 2 else 1)
            total += n // 10 + n % 10
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def card_of(prefix: str, length: int) -> str:
    return luhn_complete(prefix + "0" * (length - len(prefix) - 1))


# --- Luhn -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digits",
    ["4242424242424242", "79927398713", "378282246310005", "5555555555554444", "0000000000"],
)
def test_luhn_accepts_numbers_whose_doubled_sum_is_a_multiple_of_ten(digits: str) -> None:
    assert luhn_ok(digits)


def test_luhn_catches_every_single_digit_change() -> None:
    number = "4242424242424242"
    for position in range(len(number)):
        for digit in "0123456789":
            if digit != number[position]:
                changed = number[:position] + digit + number[position + 1 :]
                assert not luhn_ok(changed)


def test_luhn_catches_adjacent_swaps_except_09_and_90() -> None:
    number = "4539578763621486"
    assert luhn_ok(number)
    for i in range(len(number) - 1):
        a, b = number[i], number[i + 1]
        if a == b or {a, b} == {"0", "9"}:
            continue
        assert not luhn_ok(number[:i] + b + a + number[i + 2 :])


@pytest.mark.parametrize("digits", ["", "4242 4242 4242 4242", "42424242424242x2", "４２４２"])
def test_luhn_refuses_anything_but_ascii_digits(digits: str) -> None:
    assert not luhn_ok(digits)


# --- brands and lengths ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "brand"),
    [
        ("4111111111111111", CardBrand.VISA),
        ("5105105105105100", CardBrand.MASTERCARD),
        ("5500000000000004", CardBrand.MASTERCARD),
        ("2221000000000009", CardBrand.MASTERCARD),
        ("2720990000000007", CardBrand.MASTERCARD),
        ("378282246310005", CardBrand.AMEX),
        ("341111111111111", CardBrand.AMEX),
        ("6011111111111117", CardBrand.DISCOVER),
        ("6445644564456445", CardBrand.DISCOVER),
        ("6500000000000002", CardBrand.DISCOVER),
        ("30569309025904", CardBrand.DINERS),
        ("36227206271667", CardBrand.DINERS),
        ("3800000000000006", CardBrand.DINERS),
        ("3528000000000007", CardBrand.JCB),
        ("3566002020360505", CardBrand.JCB),
        ("3589000000000003", CardBrand.JCB),
    ],
)
def test_brand_comes_from_the_iin_range(digits: str, brand: CardBrand) -> None:
    assert brand_of(digits) is brand
    assert check_number(digits).brand is brand


@pytest.mark.parametrize(
    "prefix", ["2220", "2721", "50", "56", "306", "3527", "3590", "6010", "643", "1", "9"]
)
def test_numbers_just_outside_the_ranges_have_no_brand(prefix: str) -> None:
    digits = card_of(prefix, 16)
    assert brand_of(digits) is None
    assert check_number(digits).problem == "unknown_brand"


@pytest.mark.parametrize(
    ("prefix", "length"),
    [
        ("4", 13), ("4", 16), ("4", 19), ("51", 16), ("2221", 16), ("34", 15), ("37", 15),
        ("6011", 16), ("6011", 19), ("36", 14), ("300", 14), ("38", 19), ("3528", 16),
        ("3589", 19),
    ],
)  # fmt: skip
def test_each_brand_accepts_its_published_lengths(prefix: str, length: int) -> None:
    result = check_number(card_of(prefix, length))
    assert result.ok, result
    assert result.length == length


@pytest.mark.parametrize(
    ("prefix", "length", "problem"),
    [
        ("4", 12, "too_short"),
        ("4", 14, "bad_length"),
        ("4", 15, "bad_length"),
        ("4", 17, "bad_length"),
        ("4", 18, "bad_length"),
        ("4", 20, "too_long"),
        ("51", 15, "too_short"),
        ("51", 17, "too_long"),
        ("37", 14, "too_short"),
        ("37", 16, "too_long"),
        ("36", 13, "too_short"),
        ("3528", 15, "too_short"),
        ("9", 11, "too_short"),
        ("9", 20, "too_long"),
    ],
)
def test_lengths_a_brand_does_not_issue_are_refused(prefix: str, length: int, problem: str) -> None:
    result = check_number(card_of(prefix, length))
    assert not result.ok
    assert result.problem == problem


def test_a_number_failing_luhn_is_refused_with_the_brand_still_known() -> None:
    result = check_number("4242424242424241")
    assert (result.ok, result.problem, result.brand) == (False, "luhn", CardBrand.VISA)


@pytest.mark.parametrize("digits", ["4242-4242-4242-4242", "4242424242a24242"])
def test_a_number_with_anything_but_digits_is_refused(digits: str) -> None:
    assert check_number(digits).problem == "not_digits"


def test_an_empty_number_is_too_short() -> None:
    assert check_number("").problem == "too_short"


def test_progress_lines_read_as_the_agent_sees_them() -> None:
    assert check_number("4242424242424242").progress == "card number: 16 digits, valid (Visa)"
    assert (
        check_number("378282246310006").progress
        == "card number: 15 digits, failed the check — caller asked again"
    )
    assert keying_progress("card number", 7) == "card number: 7 digits so far"
    assert keying_progress("security code", 1) == "security code: 1 digit so far"


# --- expiry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mmyy", "today", "ok"),
    [
        ("0625", date(2025, 6, 1), True),
        ("0625", date(2025, 6, 30), True),  # good through the month's last day
        ("0625", date(2025, 7, 1), False),
        ("0525", date(2025, 6, 15), False),
        ("1225", date(2025, 12, 31), True),  # year rollover
        ("1225", date(2026, 1, 1), False),
        ("0126", date(2025, 12, 31), True),
        ("0126", date(2026, 1, 31), True),
        ("0224", date(2024, 2, 29), True),
    ],
)
def test_a_card_is_valid_through_the_end_of_its_expiry_month(
    mmyy: str, today: date, ok: bool
) -> None:
    result = check_expiry(mmyy, today)
    assert result.ok is ok
    assert result.problem == (None if ok else "expired")


def test_a_valid_expiry_keeps_month_and_full_year_for_the_charge() -> None:
    result = check_expiry("0930", date(2025, 1, 1))
    assert (result.month, result.year, result.progress) == (9, 2030, "expiry: valid")


@pytest.mark.parametrize("mmyy", ["0026", "1326", "9926"])
def test_a_month_outside_1_to_12_is_refused(mmyy: str) -> None:
    assert check_expiry(mmyy, date(2025, 1, 1)).problem == "bad_month"


def test_years_up_to_twenty_ahead_are_accepted_and_later_ones_refused() -> None:
    today = date(2025, 6, 15)
    assert check_expiry("1245", today).ok
    assert check_expiry("0146", today).problem == "too_far"


def test_two_digit_years_near_a_century_end_roll_into_the_next_century() -> None:
    result = check_expiry("0105", date(2095, 3, 1))
    assert result.ok and result.year == 2105


@pytest.mark.parametrize(
    ("mmyy", "problem"),
    [("125", "bad_length"), ("12345", "bad_length"), ("", "bad_length"), ("12/5", "not_digits")],
)
def test_expiry_must_be_four_digits_as_keyed(mmyy: str, problem: str) -> None:
    assert check_expiry(mmyy, date(2025, 1, 1)).problem == problem


def test_expiry_from_the_card_accepts_a_four_digit_year() -> None:
    assert check_expiry_date(6, 2030, date(2025, 1, 1)).ok
    assert check_expiry_date(6, 2024, date(2025, 1, 1)).problem == "expired"


# --- security code --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cvc", "brand", "problem"),
    [
        ("1234", CardBrand.AMEX, None),
        ("123", CardBrand.AMEX, "too_short"),
        ("123", CardBrand.VISA, None),
        ("1234", CardBrand.VISA, "too_long"),
        ("12", CardBrand.MASTERCARD, "too_short"),
        ("123", None, None),
        ("1234", None, None),
        ("12345", None, "too_long"),
        ("", CardBrand.VISA, "too_short"),
        ("12a", CardBrand.VISA, "not_digits"),
    ],
)
def test_security_code_is_four_digits_on_amex_and_three_elsewhere(
    cvc: str, brand: CardBrand | None, problem: str | None
) -> None:
    result = check_cvc(cvc, brand)
    assert result.problem == problem
    assert result.ok is (problem is None)


def test_a_good_security_code_shows_only_its_length() -> None:
    assert check_cvc("737", CardBrand.VISA).progress == "security code: 3 digits"


# --- nothing of the card reaches the screen -------------------------------------------------

LEAK_CASES = [
    # (number, mmyy, cvc, today): valid, failing Luhn, wrong length, unknown brand, expired...
    ("4242424242424242", "1230", "123", date(2025, 1, 1)),
    ("4242424242424241", "1230", "123", date(2025, 1, 1)),
    ("378282246310005", "0127", "1234", date(2025, 1, 1)),
    ("378282246310005", "0127", "987", date(2025, 1, 1)),
    ("5555555555554444", "0123", "4444", date(2025, 1, 1)),
    ("4111111111111", "1399", "12", date(2025, 1, 1)),
    ("99999999999999999999", "0099", "99999", date(2025, 1, 1)),
    ("6011111111111117", "0250", "611", date(2025, 1, 1)),
    ("3566002020360505", "1/26", "05x", date(2025, 1, 1)),
]


def secrets_of(number: str, mmyy: str, cvc: str) -> list[str]:
    runs = {number[i:j] for i in range(len(number)) for j in range(i + 4, len(number) + 1)}
    return [*runs, cvc, mmyy, f"{mmyy[:2]}/{mmyy[2:]}", "20" + mmyy[2:]]


@pytest.mark.parametrize(("number", "mmyy", "cvc", "today"), LEAK_CASES)
def test_no_result_ever_carries_a_digit_sequence_of_the_card(
    number: str, mmyy: str, cvc: str, today: date
) -> None:
    number_result = check_number(number)
    results = [
        number_result,
        check_expiry(mmyy, today),
        check_cvc(cvc, number_result.brand),
        check_cvc(cvc, None),
    ]
    texts = [text for r in results for text in (r.progress, r.problem or "", repr(r), str(r))]
    for text in texts:
        for secret in secrets_of(number, mmyy, cvc):
            assert secret not in text, (text, "leaks a keyed sequence")
    for result in results:
        # The screen line's only numbers are counts of digits keyed.
        assert all(len(run) <= 2 for run in re.findall(r"\d+", result.progress)), result.progress


def test_checks_raise_no_exception_that_could_carry_the_number() -> None:
    for number, mmyy, cvc, today in LEAK_CASES:
        check_number(number)
        check_expiry(mmyy, today)
        check_cvc(cvc, brand_of(number))
