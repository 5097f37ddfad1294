"""Bank details for a direct-debit mandate, checked before they reach a provider (pure).

Each validator returns the port's `BankAccount` or raises `BankAccountError` naming the field.
Messages show at most the last two digits of an account, enough for the agent to read back.

Sources for the rules (looked up, not recalled):
- IBAN: ISO 13616 with ISO 7064 MOD 97-10; every country's length and BBAN structure from
  the SWIFT IBAN Registry (the ISO 13616 registration authority) as python-stdnum keeps it,
  so a release of the library brings the registry's changes. The mod 97 and, for Belgium,
  Spain, Montenegro and Norway, the national account number's check digits are stdnum's
  (Norway's accounts with 00 as 5th-6th digits excepted, as its published rule says).
  Kept here: the messages (which part is wrong, no more than the last two characters) and
  ISO 13616's rule that check digits 00, 01 and 99 are never issued, which stdnum leaves out.
- US: the ABA routing number's 3-7-1 weighted mod-10 check digit (stdnum's `us.rtn`) and its
  first-two-digit Federal Reserve ranges (Federal Reserve Regulation CC, appendix A; ABA),
  which stdnum does not check.
- Israel: MASAV's "bank account validity check" document (bdikat_hukiot_heshbon.pdf, as
  reproduced by the open-source validators soryy708/il-bank-account-validator and
  EliShteinman/il-bank-validator, the latter following MASAV's December 2024 edition). We
  implement a bank's rule only where both readings agree; see `_IL_RULES`.
- UK: sort code and account number format only (stdnum has no module for either). Vocalink's
  modulus checking needs its weight table (valacdos.txt), which changes several times a year;
  out of scope here, the provider (GoCardless / Stripe) runs it when the mandate is created.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from stdnum import iban as stdnum_iban
from stdnum import numdb
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.iso7064 import mod_97_10
from stdnum.us import rtn

from billing_bridge.payments.port import BankAccount

MAX_HOLDER_LENGTH = 140


class BankAccountError(ValueError):
    """A field of the bank details is wrong. `field` is the form's name for it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- IBAN -----------------------------------------------------------------------------------

# The SWIFT IBAN Registry as python-stdnum keeps it (`stdnum/iban.dat`): each country's BBAN
# structure in the registry's notation ("4!a6!n8!n": 4 letters, 6 digits, 8 digits; "c" is a
# letter or digit). An IBAN is 4 characters longer than its BBAN.
_IBAN_REGISTRY = numdb.get("iban")
_BBAN_PART = re.compile(r"([1-9][0-9]*)!([nac])")
_BBAN_CHARS = {"n": "[0-9]", "a": "[A-Z]", "c": "[0-9A-Z]"}


def iban_length(country: str) -> int | None:
    """The length of the country's IBANs, or None where the registry has no IBANs for it."""
    structure = _bban_structure(country)
    if structure is None:
        return None
    return 4 + sum(int(width) for width, _ in _BBAN_PART.findall(structure))


def iban_checksum_ok(iban: str) -> bool:
    """ISO 7064 MOD 97-10 over the rearranged IBAN (letters as 10..35); 1 means valid."""
    rearranged = iban[4:] + iban[:4]
    if not rearranged.isascii() or not rearranged.isalnum():
        return False
    return mod_97_10.is_valid(rearranged)


def validate_iban(iban: str, *, account_holder: str) -> BankAccount:
    """An IBAN as keyed or printed (spaces allowed, any case)."""
    text = re.sub(r"[\s-]", "", iban).upper()
    holder = _holder(account_holder)
    if not text.isascii() or not text.isalnum():
        raise BankAccountError("iban", "only letters and digits are allowed")
    country, check = text[:2], text[2:4]
    if len(text) < 4 or not country.isalpha() or not check.isdigit():
        raise BankAccountError("iban", "starts with the country's two letters and two digits")
    structure = _bban_structure(country)
    expected = iban_length(country)
    if structure is None or expected is None:
        raise BankAccountError("iban", f"{country} does not issue IBANs")
    if len(text) != expected:
        raise BankAccountError(
            "iban", f"a {country} IBAN has {expected} characters, this one has {len(text)}"
        )
    if not _bban_pattern(structure).fullmatch(text[4:]):
        raise BankAccountError("iban", f"not laid out as a {country} IBAN is")
    # 00, 01 and 99 are never issued (ISO 13616 uses 98 where 01 would also satisfy mod 97);
    # python-stdnum checks mod 97 alone.
    if check in {"00", "01", "99"} or not stdnum_iban.is_valid(text, check_country=False):
        raise BankAccountError("iban", f"IBAN ending {text[-2:]} fails its check digits")
    if _national_check_digits_fail(text):
        raise BankAccountError(
            "iban", f"the {country} account number in the IBAN fails its own check digits"
        )
    return BankAccount(country=country, account_holder=holder, iban=text)


def _national_check_digits_fail(iban: str) -> bool:
    """The national account number's own check digits, for the countries python-stdnum knows
    them (Belgium, Spain, Montenegro, Norway): an IBAN made from a mistyped account number has
    good IBAN check digits but no such account. Only a failed check digit refuses: stdnum's
    own list of Belgian bank codes can lag behind the banks and is not a check digit."""
    if iban.startswith("NO") and iban[8:10] == "00":
        # Norway's published rule (ECBS TR 201) checks an account whose 5th and 6th digits
        # are 00 over its 7th to 10th digits only; stdnum always checks all ten and would
        # turn such an account away. Left unchecked here (mod 97 still applies); the
        # provider checks the account when the mandate is created.
        return False
    try:
        stdnum_iban.validate(iban)
    except InvalidChecksum:
        return True
    except ValidationError:
        return False
    return False


def _bban_structure(country: str) -> str | None:
    if len(country) != 2 or not (country.isascii() and country.isalpha()):
        return None
    structure = _IBAN_REGISTRY.info(country.upper())[0][1].get("bban")
    return structure if isinstance(structure, str) and structure else None


@functools.cache
def _bban_pattern(structure: str) -> re.Pattern[str]:
    return re.compile(
        "".join(f"{_BBAN_CHARS[kind]}{{{width}}}" for width, kind in _BBAN_PART.findall(structure))
    )


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
    """3(d1+d4+d7) + 7(d2+d5+d8) + (d3+d6+d9) is a multiple of 10 (python-stdnum's
    `us.rtn`, which computes the same check digit with the weights 7, 3, 9)."""
    if len(routing_number) != 9 or not (routing_number.isascii() and routing_number.isdigit()):
        return False
    return rtn.is_valid(routing_number)


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
