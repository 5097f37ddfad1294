import pytest

from billing_bridge.money import MoneyError, format_minor, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1234.50", "ILS", 123450),
        ("1234.5", "EUR", 123450),
        ("0.1", "EUR", 10),
        ("-20.05", "EUR", -2005),
        ("12", "JPY", 12),
        ("1.234", "KWD", 1234),
        ("0", "USD", 0),
        ("99999999999.99", "EUR", 9999999999999),
    ],
)
def test_decimal_amounts_convert_to_exact_minor_units(
    amount: str, currency: str, minor: int
) -> None:
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("12.345", "EUR"),
        ("1.5", "JPY"),
        ("1e3", "EUR"),
        ("NaN", "EUR"),
        ("1,5", "EUR"),
        ("", "EUR"),
    ],
)
def test_amounts_that_would_need_rounding_or_guessing_are_refused(
    amount: str, currency: str
) -> None:
    with pytest.raises(MoneyError):
        to_minor(amount, currency)


def test_an_unknown_currency_is_refused() -> None:
    with pytest.raises(MoneyError, match="unknown currency"):
        to_minor("1.00", "XYZ")


def test_minor_units_format_back_to_the_same_decimal() -> None:
    assert format_minor(123450, "ILS") == "1234.50"
    assert format_minor(12, "JPY") == "12"
    assert format_minor(-5, "EUR") == "-0.05"
