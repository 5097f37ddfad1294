"""Money as integer minor units beside an ISO 4217 code. Never floats."""

from __future__ import annotations

import re
from decimal import Decimal

# ISO 4217 minor-unit exponents for the currencies Ledgerline's tenants bill in. A currency
# missing here is refused rather than guessed, since a wrong exponent is a 100x error.
MINOR_UNIT_EXPONENTS: dict[str, int] = {
    "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "CZK": 2,
    "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3,
    "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PLN": 2, "RON": 2,
    "SEK": 2, "SGD": 2, "TND": 3, "TRY": 2, "UAH": 2, "USD": 2, "ZAR": 2,
}  # fmt: skip


_PLAIN_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def exponent(currency: str) -> int:
    try:
        return MINOR_UNIT_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}") from None


def to_minor(amount: str, currency: str) -> int:
    """'1234.50' EUR -> 123450. Refuses anything that would need rounding."""
    digits = exponent(currency)
    text = amount.strip()
    if not _PLAIN_DECIMAL.match(text):
        raise MoneyError(f"{amount!r} is not a plain decimal amount (like 1234.50)")
    value = Decimal(text)
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{amount!r} has more than {digits} decimal places for {currency}")
    return int(scaled)


def format_minor(amount_minor: int, currency: str) -> str:
    """123450, EUR -> '1234.50' (for people and files, not for arithmetic)."""
    digits = exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-digits):.{digits}f}"
