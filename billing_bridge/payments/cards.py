"""Card checks for keypad capture, one field at a time (pure: no I/O, no clock).

Each check returns a result with a machine `problem` code and a `progress` line for the agent's
screen. Neither ever holds a digit of the card: the agent sees how many digits were keyed and
whether they passed, never which. Results keep no digits either, so they are safe to log.

Brands by IIN range and length (ISO/IEC 7812 issuer ranges as the schemes publish them):
Visa 4 (13, 16, 19); Mastercard 51-55 and 2221-2720 (16); American Express 34, 37 (15);
Discover 6011, 644-649, 65 (16-19); Diners Club 300-305, 36, 38 (14-19); JCB 3528-3589 (16-19).
Isracard's domestic 8-9 digit cards are not supported: their check rule is not published in a
form we could confirm, and a guessed rule would turn away good cards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from stdnum import luhn

ASK_AGAIN = "caller asked again"
YEARS_AHEAD = 20  # no scheme issues cards valid longer; a later year is a keying slip


class CardBrand(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    DINERS = "diners"
    JCB = "jcb"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    CardBrand.VISA: "Visa",
    CardBrand.MASTERCARD: "Mastercard",
    CardBrand.AMEX: "American Express",
    CardBrand.DISCOVER: "Discover",
    CardBrand.DINERS: "Diners Club",
    CardBrand.JCB: "JCB",
}

# (first IIN, last IIN, brand); a range's bounds have as many digits as the prefix it tests.
_IIN_RANGES: tuple[tuple[str, str, CardBrand], ...] = (
    ("4", "4", CardBrand.VISA),
    ("51", "55", CardBrand.MASTERCARD),
    ("2221", "2720", CardBrand.MASTERCARD),
    ("34", "34", CardBrand.AMEX),
    ("37", "37", CardBrand.AMEX),
    ("6011", "6011", CardBrand.DISCOVER),
    ("644", "649", CardBrand.DISCOVER),
    ("65", "65", CardBrand.DISCOVER),
    ("300", "305", CardBrand.DINERS),
    ("36", "36", CardBrand.DINERS),
    ("38", "38", CardBrand.DINERS),
    ("3528", "3589", CardBrand.JCB),
)

LENGTHS: dict[CardBrand, frozenset[int]] = {
    CardBrand.VISA: frozenset({13, 16, 19}),
    CardBrand.MASTERCARD: frozenset({16}),
    CardBrand.AMEX: frozenset({15}),
    CardBrand.DISCOVER: frozenset(range(16, 20)),
    CardBrand.DINERS: frozenset(range(14, 20)),
    CardBrand.JCB: frozenset(range(16, 20)),
}
MIN_LENGTH, MAX_LENGTH = 12, 19  # ISO/IEC 7812: no PAN is shorter or longer


@dataclass(frozen=True)
class CardCheck:
    ok: bool
    progress: str
    problem: str | None = None  # not_digits, too_short, too_long, bad_length, unknown_brand, luhn
    brand: CardBrand | None = None
    length: int = 0


@dataclass(frozen=True)
class ExpiryCheck:
    ok: bool
    progress: str
    problem: str | None = None  # not_digits, bad_length, bad_month, expired, too_far
    # Kept only when ok, for the charge; out of the repr so a logged result shows no expiry.
    month: int | None = field(default=None, repr=False)
    year: int | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CvcCheck:
    ok: bool
    progress: str
    problem: str | None = None  # not_digits, too_short, too_long


def luhn_ok(digits: str) -> bool:
    """The mod-10 check every scheme above uses (ISO/IEC 7812-1 annex B), as python-stdnum's
    `luhn` computes it; ASCII digits only."""
    return digits.isascii() and digits.isdigit() and luhn.is_valid(digits)


def brand_of(digits: str) -> CardBrand | None:
    """The brand whose IIN range holds the number's prefix, or None."""
    for low, high, brand in _IIN_RANGES:
        prefix = digits[: len(low)]
        if len(prefix) == len(low) and low <= prefix <= high:
            return brand
    return None


def keying_progress(field: str, keyed: int) -> str:
    """A line for the agent while the caller is still keying ("card number: 7 digits so far")."""
    return f"{field}: {_digits(keyed)} so far"


def check_number(digits: str) -> CardCheck:
    count = len(digits)
    if not digits:
        return _refused(0, "too short", "too_short", None)
    if not (digits.isascii() and digits.isdigit()):
        return CardCheck(False, f"card number: not digits only — {ASK_AGAIN}", "not_digits")
    brand = brand_of(digits)
    shortest = min(LENGTHS[brand]) if brand else MIN_LENGTH
    longest = max(LENGTHS[brand]) if brand else MAX_LENGTH
    if count < shortest:
        return _refused(count, "too short", "too_short", brand)
    if count > longest:
        return _refused(count, "too long", "too_long", brand)
    if brand is None:
        return _refused(count, "card type not accepted", "unknown_brand", None)
    if count not in LENGTHS[brand]:
        return _refused(count, f"wrong length for {brand.label}", "bad_length", brand)
    if not luhn_ok(digits):
        return _refused(count, "failed the check", "luhn", brand)
    return CardCheck(
        True, f"card number: {_digits(count)}, valid ({brand.label})", None, brand, count
    )


def check_expiry(mmyy: str, today: date) -> ExpiryCheck:
    """MMYY as the caller keys it."""
    if len(mmyy) != 4:
        return ExpiryCheck(
            False, f"expiry: month and year needed (MMYY) — {ASK_AGAIN}", "bad_length"
        )
    if not (mmyy.isascii() and mmyy.isdigit()):
        return ExpiryCheck(False, f"expiry: not digits only — {ASK_AGAIN}", "not_digits")
    return check_expiry_date(int(mmyy[:2]), int(mmyy[2:]), today)


def check_expiry_date(month: int, year: int, today: date) -> ExpiryCheck:
    """A card is good through the last day of its expiry month. `year` may be two digits."""
    if not 1 <= month <= 12:
        return ExpiryCheck(False, f"expiry: month not valid — {ASK_AGAIN}", "bad_month")
    full_year = _full_year(year, today)
    if (full_year, month) < (today.year, today.month):
        return ExpiryCheck(False, f"expiry: card has expired — {ASK_AGAIN}", "expired")
    if full_year > today.year + YEARS_AHEAD:
        return ExpiryCheck(False, f"expiry: too far in the future — {ASK_AGAIN}", "too_far")
    return ExpiryCheck(True, "expiry: valid", None, month, full_year)


def check_cvc(cvc: str, brand: CardBrand | None) -> CvcCheck:
    """4 digits on American Express (front of the card), 3 on the others; either when the
    brand is not known yet."""
    count = len(cvc)
    if cvc and not (cvc.isascii() and cvc.isdigit()):
        return CvcCheck(False, f"security code: not digits only — {ASK_AGAIN}", "not_digits")
    allowed = {4} if brand is CardBrand.AMEX else {3} if brand else {3, 4}
    if count in allowed:
        return CvcCheck(True, f"security code: {_digits(count)}")
    problem = "too_short" if count < min(allowed) else "too_long"
    needed = " or ".join(str(n) for n in sorted(allowed))
    return CvcCheck(
        False, f"security code: {_digits(count)}, {needed} needed — {ASK_AGAIN}", problem
    )


def _full_year(year: int, today: date) -> int:
    if year >= 100:
        return year
    full = today.year // 100 * 100 + year
    # Near a century's end "05" means the next century, not 95 years ago.
    return full + 100 if full < today.year - 50 else full


def _refused(count: int, what: str, problem: str, brand: CardBrand | None) -> CardCheck:
    return CardCheck(
        False, f"card number: {_digits(count)}, {what} — {ASK_AGAIN}", problem, brand, count
    )


def _digits(count: int) -> str:
    return f"{count} digit" if count == 1 else f"{count} digits"
