"""Bank details for a direct-debit mandate, checked before they reach a provider (pure).

Each validator returns the port's `BankAccount` or raises `BankAccountError` naming the field.
Messages show at most the last two digits of an account, enough for the agent to read back.

Sources for the rules (looked up, not recalled):
- IBAN: ISO 13616 with ISO 7064 MOD 97-10; lengths and BBAN formats from the SWIFT IBAN
  Registry (the ISO 13616 registration authority), release 103.
- US: the ABA routing number's 3-7-1 weighted mod-10 check digit and its first-two-digit
  Federal Reserve ranges (Federal Reserve Regulation CC, appendix A; ABA).
- Israel: MASAV's "bank account validity check" document (bdikat_hukiot_heshbon.pdf, as
  reproduced by the open-source validators soryy708/il-bank-account-validator and
  EliShteinman/il-bank-validator, the latter following MASAV's December 2024 edition). We
  implement a bank's rule only where both readings agree; see `_IL_RULES`.
- UK: sort code and account number format only. Vocalink's modulus checking needs its weight
  table (valacdos.txt), which changes several times a year; out of scope here, the provider
  (GoCardless / Stripe) runs it when the mandate is created.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from billing_bridge.payments.port import BankAccount

MAX_HOLDER_LENGTH = 140


class BankAccountError(ValueError):
    """A field of the bank details is wrong. `field` is the form's name for it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- IBAN -----------------------------------------------------------------------------------

# Total IBAN length by country, from the SWIFT IBAN Registry.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TL": 23, "TN": 24, "TR": 26, "UA": 29,
    "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# BBAN structure for the countries our tenants collect from (registry notation in comments).
_BBAN_FORMATS: dict[str, re.Pattern[str]] = {
    "LT": re.compile(r"[0-9]{16}"),  # 5!n11!n
    "DE": re.compile(r"[0-9]{18}"),  # 8!n10!n
    "GB": re.compile(r"[A-Z]{4}[0-9]{14}"),  # 4!a6!n8!n
    "FR": re.compile(r"[0-9]{10}[0-9A-Z]{11}[0-9]{2}"),  # 5!n5!n11!c2!n
    "NL": re.compile(r"[A-Z]{4}[0-9]{10}"),  # 4!a10!n
    "IL": re.compile(r"[0-9]{19}"),  # 3!n3!n13!n
}


def iban_checksum_ok(iban: str) -> bool:
    """ISO 7064 MOD 97-10 over the rearranged IBAN (letters as 10..35); 1 means valid."""
    rearranged = iban[4:] + iban[:4]
    if not rearranged.isascii() or not rearranged.isalnum():
        return False
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def validate_iban(iban: str, *, account_holder: str) -> BankAccount:
    """An IBAN as keyed or printed (spaces allowed, any case)."""
    text = re.sub(r"[\s-]", "", iban).upper()
    holder = _holder(account_holder)
    if not text.isascii() or not text.isalnum():
        raise BankAccountError("iban", "only letters and digits are allowed")
    country, check = text[:2], text[2:4]
    if len(text) < 4 or not country.isalpha() or not check.isdigit():
        raise BankAccountError("iban", "starts with the country's two letters and two digits")
    expected = IBAN_LENGTHS.get(country)
    if expected is None:
        raise BankAccountError("iban", f"{country} does not issue IBANs")
    if len(text) != expected:
        raise BankAccountError(
            "iban", f"a {country} IBAN has {expected} characters, this one has {len(text)}"
        )
    bban_format = _BBAN_FORMATS.get(country)
    if bban_format is not None and not bban_format.fullmatch(text[4:]):
        raise BankAccountError("iban", f"not laid out as a {country} IBAN is")
    # 00, 01 and 99 are never issued (ISO 13616 uses 98 where 01 would also satisfy mod 97).
    if check in {"00", "01", "99"} or not iban_checksum_ok(text):
        raise BankAccountError("iban", f"IBAN ending {text[-2:]} fails its check digits")
    return BankAccount(country=country, account_holder=holder, iban=text)


# --- Israel ---------------------------------------------------------------------------------

# A bank's rule: (account digits including check digits, predicate on branch and account).
_IlRule = tuple[int, Callable[[str, str], bool]]


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True))


_NINE_TO_ONE = (9, 8, 7, 6, 5, 4, 3, 2, 1)


def _leumi(branch: str, account: str) -> bool:
    # MASAV: branch (3) and the account's first 6 digits weighted 10..2, plus the 2-digit check
    # number; the total mod 100 is one of 90, 72, 70, 60, 20. (The 2024 reading refuses 90 when
    # the account's 5th-6th digits are 00, 20 or 23; the older one does not. We accept all five
    # so a good account is never turned away.)
    total = _weighted(branch + account[:6], (10, 9, 8, 7, 6, 5, 4, 3, 2)) + int(account[6:])
    return total % 100 in {90, 72, 70, 60, 20}


def _mod11_branch_account(allowed: frozenset[int]) -> Callable[[str, str], bool]:
    # Branch (3) + account (6) weighted 9..1, the total mod 11 in the bank's allowed set.
    def rule(branch: str, account: str) -> bool:
        return _weighted(branch + account, _NINE_TO_ONE) % 11 in allowed

    return rule


def _mizrahi(branch: str, account: str) -> bool:
    # Former Tefahot branches (401-799) are checked as their number less 400. (The older reading
    # subtracts 400 from any branch above 400; the two agree up to 799.)
    number = int(branch)
    adjusted = f"{number - 400:03d}" if 401 <= number <= 799 else branch
    return _weighted(adjusted + account, _NINE_TO_ONE) % 11 in {0, 2, 4}


def _discount_group(branch: str, account: str) -> bool:
    # Account (9) weighted 9..1, mod 11 in {0, 2, 4}; the branch takes no part.
    return _weighted(account, _NINE_TO_ONE) % 11 in {0, 2, 4}


def _postal_bank(branch: str, account: str) -> bool:
    # Account (9) weighted 9..1, mod 10 == 0.
    return _weighted(account, _NINE_TO_ONE) % 10 == 0


_IL_RULES: dict[str, _IlRule] = {
    "10": (8, _leumi),
    "12": (6, _mod11_branch_account(frozenset({0, 2, 4, 6}))),  # Hapoalim
    "04": (6, _mod11_branch_account(frozenset({0, 2}))),  # Yahav
    "20": (6, _mizrahi),
    "11": (9, _discount_group),  # Discount
    "17": (9, _discount_group),  # Mercantile Discount
    "09": (9, _postal_bank),
}

IL_BANKS: dict[str, str] = {
    "04": "Bank Yahav",
    "09": "the Postal Bank",
    "10": "Bank Leumi",
    "11": "Discount Bank",
    "12": "Bank Hapoalim",
    "13": "Union Bank",
    "14": "Otsar Ha-Hayal",
    "17": "Mercantile Discount",
    "18": "One Zero",
    "20": "Mizrahi-Tefahot",
    "22": "Citibank",
    "23": "HSBC",
    "31": "First International",
    "34": "Arab Israel Bank",
    "46": "Bank Massad",
    "52": "Poalei Agudat Israel",
    "54": "Bank of Jerusalem",
}
# Format only (no check digit) for the banks in IL_BANKS without a rule above: for Union (13)
# the two readings differ (Leumi's rule, or none since its merger into Leumi); for First
# International (31, 52), Otsar Ha-Hayal (14) and Massad (46) they differ on the first step
# (account of 9 digits, or branch + account of 6) and on the branch exceptions; for the rest
# we did not check the rule against a second source.
IL_MAX_ACCOUNT_DIGITS = 9


def validate_israeli_account(
    bank_code: str, branch_code: str, account_number: str, *, account_holder: str
) -> BankAccount:
    """Bank (2 digits), branch (3) and account as on a cheque; leading zeros may be left off
    and the account may carry the bank's separators ("12-345678", "123456/78")."""
    holder = _holder(account_holder)
    bank = _digits_field("bank_code", bank_code, 2, "the bank code")
    branch = _digits_field("branch_code", branch_code, 3, "the branch number")
    account = re.sub(r"[\s/-]", "", account_number)
    if not (account.isascii() and account.isdigit()):
        raise BankAccountError("account_number", "only digits are allowed")
    name = IL_BANKS.get(bank)
    if name is None:
        raise BankAccountError("bank_code", "not a bank code we know; check it with the caller")
    rule = _IL_RULES.get(bank)
    width = rule[0] if rule else IL_MAX_ACCOUNT_DIGITS
    significant = account.lstrip("0")
    if not significant:
        raise BankAccountError("account_number", "an account number cannot be all zeros")
    if len(significant) > width:
        raise BankAccountError(
            "account_number", f"{name} account numbers have at most {width} digits"
        )
    if rule is not None:
        account = account.zfill(width)[-width:]
        if not rule[1](branch, account):
            raise BankAccountError(
                "account_number",
                f"account ending {account[-2:]} fails {name}'s check digit; read the branch "
                "and account back to the caller",
            )
    return BankAccount(
        country="IL",
        account_holder=holder,
        bank_code=bank,
        branch_code=branch,
        account_number=account,
    )


# --- United Kingdom -------------------------------------------------------------------------


def validate_uk_account(sort_code: str, account_number: str, *, account_holder: str) -> BankAccount:
    """Sort code (6 digits, "20-00-00" allowed) and account number (8 digits). Format only:
    see the module's note on modulus checking."""
    holder = _holder(account_holder)
    sort = re.sub(r"[\s-]", "", sort_code)
    if not (sort.isascii() and sort.isdigit() and len(sort) == 6):
        raise BankAccountError("sort_code", "a sort code is 6 digits")
    account = re.sub(r"\s", "", account_number)
    if not (account.isascii() and account.isdigit() and len(account) == 8):
        raise BankAccountError("account_number", "a UK account number is 8 digits")
    return BankAccount(country="GB", account_holder=holder, bank_code=sort, account_number=account)


# --- United States --------------------------------------------------------------------------

# First two digits of a routing number: 01-12 Federal Reserve districts, 21-32 thrifts,
# 61-72 electronic transactions, 80 traveller's cheques. 00 (US government) is left out: no
# caller pays from it, and it lets an all-zeros number through the check digit.
_ROUTING_PREFIXES = frozenset([*range(1, 13), *range(21, 33), *range(61, 73), 80])


def aba_checksum_ok(routing_number: str) -> bool:
    """3(d1+d4+d7) + 7(d2+d5+d8) + (d3+d6+d9) is a multiple of 10."""
    if len(routing_number) != 9 or not (routing_number.isascii() and routing_number.isdigit()):
        return False
    return _weighted(routing_number, (3, 7, 1) * 3) % 10 == 0


def validate_us_account(
    routing_number: str, account_number: str, *, account_holder: str
) -> BankAccount:
    holder = _holder(account_holder)
    routing = re.sub(r"[\s-]", "", routing_number)
    if not (routing.isascii() and routing.isdigit() and len(routing) == 9):
        raise BankAccountError("routing_number", "a routing number is 9 digits")
    if int(routing[:2]) not in _ROUTING_PREFIXES or not aba_checksum_ok(routing):
        raise BankAccountError("routing_number", "not a valid routing number (check digit)")
    account = re.sub(r"[\s-]", "", account_number)
    if not (account.isascii() and account.isdigit() and 4 <= len(account) <= 17):
        raise BankAccountError("account_number", "a US account number is 4 to 17 digits")
    return BankAccount(
        country="US", account_holder=holder, bank_code=routing, account_number=account
    )


# --- shared ---------------------------------------------------------------------------------


def _holder(account_holder: str) -> str:
    name = " ".join(account_holder.split())
    if not name:
        raise BankAccountError("account_holder", "the account holder's name is needed")
    if len(name) > MAX_HOLDER_LENGTH:
        raise BankAccountError("account_holder", f"at most {MAX_HOLDER_LENGTH} characters")
    return name


def _digits_field(field: str, value: str, width: int, what: str) -> str:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > width:
        raise BankAccountError(field, f"{what} is up to {width} digits")
    return text.zfill(width)
