from __future__ import annotations

import re

import pytest
from stdnum.no import kontonr

from billing_bridge.payments.bank_accounts import (
    BankAccountError,
    aba_checksum_ok,
    iban_checksum_ok,
    validate_iban,
    validate_israeli_account,
    validate_uk_account,
    validate_us_account,
)

HOLDER = "Dana Levi"


def mod97_piecewise(iban: str) -> int:
    """ISO 7064 MOD 97-10 the way the standard's annex computes it by hand: nine digits at a
    time, carrying the remainder. Independent of the module's big-integer version."""
    digits = "".join(str(ord(c) - 55) if c.isalpha() else c for c in iban[4:] + iban[:4])
    remainder = 0
    while digits:
        chunk, digits = str(remainder) + digits[:7], digits[7:]
        remainder = int(chunk) % 97
    return remainder


def assert_no_account_digits(error: BankAccountError, account: str) -> None:
    """Nothing longer than the last two digits of the account appears in the message."""
    digits = re.sub(r"\D", "", account)
    for run in re.findall(r"\d{3,}", str(error)):
        assert run not in digits, str(error)


# --- IBAN -----------------------------------------------------------------------------------

STANDARD_IBANS = [
    "GB82WEST12345698765432",  # ISO 13616 / ECBS example
    "DE89370400440532013000",  # SWIFT registry, DE
    "LT121000011101001000",  # SWIFT registry, LT
    "FR1420041010050500013M02606",  # SWIFT registry, FR (letters inside the BBAN)
    "NL91ABNA0417164300",  # SWIFT registry, NL
    "IL620108000000099999999",  # SWIFT registry, IL
]


@pytest.mark.parametrize("iban", STANDARD_IBANS)
def test_the_registry_examples_pass_mod_97_computed_by_hand(iban: str) -> None:
    assert mod97_piecewise(iban) == 1
    assert iban_checksum_ok(iban)


@pytest.mark.parametrize("iban", STANDARD_IBANS)
def test_a_valid_iban_becomes_a_bank_account_of_its_country(iban: str) -> None:
    account = validate_iban(iban, account_holder=HOLDER)
    assert (account.country, account.iban, account.account_holder) == (iban[:2], iban, HOLDER)


def test_an_iban_may_be_keyed_in_print_form_and_lower_case() -> None:
    account = validate_iban("gb82 west 1234 5698 7654 32", account_holder="  Dana   Levi ")
    assert account.iban == "GB82WEST12345698765432"
    assert account.account_holder == "Dana Levi"


@pytest.mark.parametrize(
    "iban",
    [
        "GB82WEST12345698765433",  # last digit changed
        "DE89370400440532013001",
        "LT121000011101001001",
        "LT121000011101010000",  # two digits swapped
        "DE98370400440532013000",  # check digits swapped
    ],
)
def test_a_mistyped_iban_fails_its_check_digits(iban: str) -> None:
    with pytest.raises(BankAccountError) as caught:
        validate_iban(iban, account_holder=HOLDER)
    assert caught.value.field == "iban"
    assert "check digits" in caught.value.message
    assert_no_account_digits(caught.value, iban)


@pytest.mark.parametrize(
    ("iban", "needle"),
    [
        ("LT12100001110100100", "LT IBAN has 20 characters"),
        ("DE8937040044053201300", "DE IBAN has 22 characters"),
        ("GB82WEST123456987654321", "GB IBAN has 22 characters"),
        ("FR14200410100505000", "FR IBAN has 27 characters"),
        ("NL91ABNA041716430", "NL IBAN has 18 characters"),
        ("IL62010800000009999999", "IL IBAN has 23 characters"),
        ("US12345678901234567890", "US does not issue IBANs"),
        ("GB82123412345698765432", "not laid out as a GB IBAN"),
        ("NL911234041716430A", "not laid out as a NL IBAN"),
        ("LT12A000011101001000", "not laid out as a LT IBAN"),
        ("1212345", "two letters and two digits"),
        ("DEXX370400440532013000", "two letters and two digits"),
        ("DE89_370400440532013000", "only letters and digits"),
    ],
)
def test_length_country_and_layout_are_checked_per_country(iban: str, needle: str) -> None:
    with pytest.raises(BankAccountError, match=needle) as caught:
        validate_iban(iban, account_holder=HOLDER)
    assert_no_account_digits(caught.value, iban)


def test_check_digits_01_are_refused_even_where_mod_97_would_pass() -> None:
    # An LT account whose proper check digits are 98 (remainder 0 with 00): then 01 also
    # leaves remainder 1, and only the rule on check digits tells them apart.
    bban = next(f"{n:016d}" for n in range(10_000) if mod97_piecewise(f"LT00{n:016d}") == 0)
    assert mod97_piecewise(f"LT01{bban}") == 1
    validate_iban(f"LT98{bban}", account_holder=HOLDER)
    with pytest.raises(BankAccountError, match="check digits"):
        validate_iban(f"LT01{bban}", account_holder=HOLDER)


def with_check_digits(country: str, bban: str) -> str:
    """The IBAN of `bban` with the check digits mod 97 asks for (computed by hand, above)."""
    return f"{country}{98 - mod97_piecewise(f'{country}00{bban}'):02d}{bban}"


@pytest.mark.parametrize(
    "iban",
    [
        "OM810180000001299123456",  # SWIFT registry, OM (registered after release 103)
        "RU0304452522540817810538091310419",  # SWIFT registry, RU
        "SO211000001001000100141",  # SWIFT registry, SO
    ],
)
def test_countries_the_registry_added_since_our_own_table_are_accepted(iban: str) -> None:
    assert mod97_piecewise(iban) == 1
    assert validate_iban(iban, account_holder=HOLDER).country == iban[:2]


def test_every_country_s_registry_layout_is_checked_not_only_the_ones_we_collect_from() -> None:
    # ES is 4!n4!n1!n1!n10!n: a letter in the account part is a slip even with good mod 97.
    iban = with_check_digits("ES", "2100041845020005133A")
    assert mod97_piecewise(iban) == 1
    with pytest.raises(BankAccountError, match="not laid out as a ES IBAN"):
        validate_iban(iban, account_holder=HOLDER)


@pytest.mark.parametrize(
    ("good", "bad_bban"),
    [
        # Spain's CCC: digits 9-10 check the bank and branch, and the account.
        ("ES9121000418450200051332", "21000418460200051332"),
        # Belgium: the last two digits are the first ten mod 97 (00 written 97).
        ("BE68539007547034", "539007547035"),
        # Norway: mod 11 over the ten digits, weights 5 4 3 2 7 6 5 4 3 2.
        ("NO9386011117947", "86011117948"),
    ],
)
def test_a_national_account_number_with_a_wrong_check_digit_is_refused(
    good: str, bad_bban: str
) -> None:
    validate_iban(good, account_holder=HOLDER)  # the registry's example, bank code and all
    bad = with_check_digits(good[:2], bad_bban)
    assert mod97_piecewise(bad) == 1
    with pytest.raises(BankAccountError, match="its own check digits") as caught:
        validate_iban(bad, account_holder=HOLDER)
    assert_no_account_digits(caught.value, bad)


def test_a_norwegian_account_with_00_as_5th_and_6th_digits_escapes_the_ten_digit_check() -> None:
    # ECBS TR 201: then the check digit covers digits 7-10 only, so the bank code takes no
    # part. python-stdnum checks all ten digits and would refuse this account.
    body = "1234"
    check = 11 - sum(int(d) * w for d, w in zip(body, (5, 4, 3, 2), strict=True)) % 11
    assert check < 10
    bban = f"150300{body}{check}"
    assert not kontonr.is_valid(bban)
    validate_iban(with_check_digits("NO", bban), account_holder=HOLDER)


# --- Israel ---------------------------------------------------------------------------------

# Examples from MASAV's check-digit document (as quoted by the two open-source validators the
# module cites); each is re-derived by hand in the comment.
ISRAELI_VALID = [
    # Leumi: 9*10+3*9+6*8 + 0*7+7*6+8*5+6*4+9*3+6*2 = 310; + 60 = 370; mod 100 = 70
    ("10", "936", "07869660"),
    # Leumi: 116 + 52 + 22 = 190; mod 100 = 90
    ("10", "607", "11710022"),
    # Hapoalim: 5*9+7*8+1*7 + 0*6+4*5+1*4+1*3+1*2+6*1 = 143 = 13*11; mod 11 = 0
    ("12", "571", "41116"),
    # Yahav: 2*9+8*8+4*7 + 5*5+6*2+7*1 = 154 = 14*11
    ("04", "284", "50067"),
    # Discount: 3*5+2*4+0*3+1*2+8*1 = 33 = 3*11
    ("11", "001", "000032018"),
    ("17", "001", "32011"),  # Mercantile: 3*5+2*4+1*2+1*1 = 26; mod 11 = 4
    # Mizrahi, former Tefahot branch 406 checked as 006: 6*7+1*6+6*5+7*3+7*2+8*1 = 121
    ("20", "406", "160778"),
    ("20", "006", "160778"),
    # Postal Bank: 5*8+9*7+1*6+2*5+1*4+9*3 = 150; mod 10 = 0
    ("09", "001", "059121900"),
]


@pytest.mark.parametrize(("bank", "branch", "account"), ISRAELI_VALID)
def test_israeli_accounts_that_pass_their_banks_check_digit_are_accepted(
    bank: str, branch: str, account: str
) -> None:
    result = validate_israeli_account(bank, branch, account, account_holder=HOLDER)
    assert (result.country, result.bank_code, result.branch_code) == ("IL", bank, branch)
    assert result.account_number is not None
    assert result.account_number.lstrip("0") == account.lstrip("0")


@pytest.mark.parametrize(
    ("bank", "branch", "account"),
    [
        ("10", "936", "07869661"),
        ("10", "937", "07869660"),  # Leumi's rule weighs the branch
        ("12", "571", "41117"),
        ("12", "572", "41116"),
        ("04", "284", "50068"),
        ("11", "001", "000032019"),
        ("17", "001", "32012"),
        ("20", "406", "160779"),
        ("09", "001", "059121901"),
    ],
)
def test_a_mistyped_israeli_account_fails_its_banks_check_digit(
    bank: str, branch: str, account: str
) -> None:
    with pytest.raises(BankAccountError) as caught:
        validate_israeli_account(bank, branch, account, account_holder=HOLDER)
    assert caught.value.field == "account_number"
    assert "check digit" in caught.value.message
    assert_no_account_digits(caught.value, account)


def test_israeli_codes_may_be_keyed_without_leading_zeros_and_are_stored_padded() -> None:
    result = validate_israeli_account("4", "284", "50067", account_holder=HOLDER)
    assert (result.bank_code, result.branch_code, result.account_number) == ("04", "284", "050067")
    mizrahi = validate_israeli_account("20", "6", "160778", account_holder=HOLDER)
    assert mizrahi.branch_code == "006"


def test_israeli_account_separators_are_ignored() -> None:
    result = validate_israeli_account("10", "936", "078696/60", account_holder=HOLDER)
    assert result.account_number == "07869660"


def test_an_account_longer_than_its_bank_issues_is_refused() -> None:
    with pytest.raises(BankAccountError, match="at most 6 digits") as caught:
        validate_israeli_account("12", "571", "1041116", account_holder=HOLDER)
    assert caught.value.field == "account_number"
    assert validate_israeli_account("12", "571", "000041116", account_holder=HOLDER)


def test_banks_without_a_confirmed_rule_are_checked_for_format_only() -> None:
    for bank in ("31", "13", "14", "46", "52"):
        result = validate_israeli_account(bank, "123", "123456", account_holder=HOLDER)
        assert result.account_number == "123456"
    with pytest.raises(BankAccountError, match="at most 9 digits"):
        validate_israeli_account("31", "123", "1234567890", account_holder=HOLDER)


@pytest.mark.parametrize(
    ("bank", "branch", "account", "field"),
    [
        ("99", "123", "123456", "bank_code"),
        ("123", "123", "123456", "bank_code"),
        ("1a", "123", "123456", "bank_code"),
        ("12", "1234", "41116", "branch_code"),
        ("12", "", "41116", "branch_code"),
        ("12", "571", "41x16", "account_number"),
        ("12", "571", "000000", "account_number"),
    ],
)
def test_israeli_fields_out_of_format_name_the_field(
    bank: str, branch: str, account: str, field: str
) -> None:
    with pytest.raises(BankAccountError) as caught:
        validate_israeli_account(bank, branch, account, account_holder=HOLDER)
    assert caught.value.field == field


# --- United Kingdom -------------------------------------------------------------------------


def test_a_uk_sort_code_and_account_are_accepted_with_or_without_hyphens() -> None:
    account = validate_uk_account("20-00-00", "55779911", account_holder=HOLDER)
    assert (account.country, account.bank_code, account.account_number) == (
        "GB",
        "200000",
        "55779911",
    )


@pytest.mark.parametrize(
    ("sort_code", "number", "field"),
    [
        ("20000", "55779911", "sort_code"),
        ("2000000", "55779911", "sort_code"),
        ("20-00-0a", "55779911", "sort_code"),
        ("200000", "5577991", "account_number"),
        ("200000", "557799111", "account_number"),
    ],
)
def test_uk_details_out_of_format_name_the_field(sort_code: str, number: str, field: str) -> None:
    with pytest.raises(BankAccountError) as caught:
        validate_uk_account(sort_code, number, account_holder=HOLDER)
    assert caught.value.field == field
    assert_no_account_digits(caught.value, number)


# --- United States --------------------------------------------------------------------------


@pytest.mark.parametrize("routing", ["011000015", "021000021", "111000025", "026073150"])
def test_routing_numbers_with_a_good_3_7_1_check_digit_are_accepted(routing: str) -> None:
    # 021000021: 3*(0+0+0) + 7*(2+0+2) + (1+0+1) = 30
    assert aba_checksum_ok(routing)
    account = validate_us_account(routing, "2715500356", account_holder=HOLDER)
    assert (account.country, account.bank_code) == ("US", routing)


@pytest.mark.parametrize(
    "routing",
    [
        "021000022",  # check digit changed
        "012000015",  # a digit changed
        "101000015",  # first two digits swapped
        "123456789",
        "000000000",  # passes 3-7-1 but 00 is not a district we accept
        "131000015",  # 13 is no Federal Reserve district
    ],
)
def test_bad_routing_numbers_are_refused(routing: str) -> None:
    with pytest.raises(BankAccountError) as caught:
        validate_us_account(routing, "2715500356", account_holder=HOLDER)
    assert caught.value.field == "routing_number"


@pytest.mark.parametrize("number", ["123", "123456789012345678", "12a456"])
def test_us_account_numbers_are_4_to_17_digits(number: str) -> None:
    with pytest.raises(BankAccountError) as caught:
        validate_us_account("021000021", number, account_holder=HOLDER)
    assert caught.value.field == "account_number"
    assert validate_us_account("021000021", "1234", account_holder=HOLDER)
    assert validate_us_account("021000021", "1" * 17, account_holder=HOLDER)


# --- shared ---------------------------------------------------------------------------------


@pytest.mark.parametrize("holder", ["", "   ", "x" * 141])
def test_the_account_holder_is_required_and_bounded(holder: str) -> None:
    with pytest.raises(BankAccountError) as caught:
        validate_uk_account("200000", "55779911", account_holder=holder)
    assert caught.value.field == "account_holder"


def test_a_bank_account_repr_shows_no_more_than_the_tail() -> None:
    account = validate_iban("DE89370400440532013000", account_holder=HOLDER)
    assert "370400440532" not in repr(account)
