"""Numbers already written as E.164 (`+` and digits, as billing systems send them) are read
without `phonenumbers.parse` when that cannot change the answer: `to_e164` must answer
exactly as the full reading does, for valid numbers of every country and number type and for
invalid ones (unknown country codes, wrong lengths, trunk prefixes and leading zeros written
after the country code)."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumberFormat, PhoneNumberType

from billing_bridge import phones
from billing_bridge.phones import to_e164

REGIONS = ("IL", "GB", "US", "LT", "IT", "AR", "MX", "DE", "BR", "IN")


def read_by_phonenumbers(text: str, region: str) -> str | None:
    """The full reading, as `to_e164` did before it had a shortcut."""
    compact = phones._SEPARATORS.sub("", text)
    if not phones._DIALLABLE.match(compact):
        return None
    attempts = [compact] if compact.startswith("+") else [compact, "+" + compact]
    for candidate in attempts:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return None


def example_numbers() -> list[str]:
    """Every region's and non-geographic code's example numbers of every type, in E.164."""
    found = set()
    types = [getattr(PhoneNumberType, name) for name in dir(PhoneNumberType)
             if name.isupper() and name != "UNKNOWN"]  # fmt: skip
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in types:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.add(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.add(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    return sorted(found)


def variants(e164: str, rng: random.Random) -> list[str]:
    """A number, and numbers near it that are often not valid, or read as another."""
    number = phonenumbers.parse(e164)
    code, national = str(number.country_code), e164[1 + len(str(number.country_code)) :]
    near = [e164, e164[:-1], e164 + "5", e164[:-2] + "00", f"+{code}0{national}",
            f"+{code}1{national}", f"+{code}9{national}", f"+{code}00{national}",
            f"+{code}{national[1:]}"]  # fmt: skip
    near += [f"+{code}{rng.randrange(10 ** (n - 1), 10**n)}" for n in (4, 7, 9, 10, 11, 13)]
    return near


def test_example_numbers_of_every_country_and_type_and_numbers_near_them_read_alike() -> None:
    rng = random.Random(15)
    numbers = [near for e164 in example_numbers() for near in variants(e164, rng)]
    assert len(numbers) > 10_000
    valid = 0
    for text in numbers:
        region = REGIONS[len(text) % len(REGIONS)]
        expected = read_by_phonenumbers(text, region)
        assert to_e164(text, region) == expected, text
        valid += expected is not None
    assert valid > 3_000  # the shortcut was exercised on valid numbers, not only refusals


def test_random_digits_after_every_calling_code_and_unknown_codes_read_alike() -> None:
    rng = random.Random(20)
    codes = [*sorted(COUNTRY_CODE_TO_REGION_CODE), 0, 28, 42, 83, 89, 210, 999]
    numbers = [
        f"+{code}{rng.randrange(10 ** (n - 1), 10**n)}"
        for code in codes
        for n in (1, 2, 5, 8, 9, 10, 12, 15)
        for _ in range(4)
    ]
    numbers += [f"+0{rng.randrange(10**8, 10**9)}", "+123", "+1234", "+" + "9" * 20]
    for text in numbers:
        for region in ("IL", "US", "IT"):
            assert to_e164(text, region) == read_by_phonenumbers(text, region), (text, region)


@pytest.mark.parametrize(
    "text",
    [
        "+390612345678",
        "+3906123456",
        "+9720501234567",
        "+4402079460958",
        "+5491123456789",
        "+541123456789",
        "+5215512345678",
        "+525512345678",
        "+79123456789",
        "+8801812345678",
    ],
)
def test_leading_zeros_trunk_prefixes_and_mobile_tokens_read_alike(text: str) -> None:
    for region in REGIONS:
        assert to_e164(text, region) == read_by_phonenumbers(text, region)


def test_a_valid_number_as_written_skips_the_full_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_called(*args: object, **kwargs: object) -> None:
        raise AssertionError("phonenumbers.parse was called")

    monkeypatch.setattr(phonenumbers, "parse", not_called)
    assert to_e164("+972530000001", "IL") == "+972530000001"
    assert to_e164("+442079460958", "IL") == "+442079460958"


def test_the_kind_check_answers_as_phonenumbers_for_every_calling_code_of_one_region() -> None:
    """`to_e164` falls back to the full reading when the shortcut says no, so the other tests
    would not see the shortcut wrongly refusing a valid number: this one compares the kind
    check with `phonenumbers.is_valid_number` itself, valid and invalid numbers alike."""
    rng = random.Random(25)
    examples = [phonenumbers.parse(e164) for e164 in example_numbers()]
    nationals: dict[int, set[str]] = {}
    for number in examples:
        national = str(number.national_number)
        near = [national, national[:-1], national + "5", national[:-2] + "00", national[1:]]
        nationals.setdefault(number.country_code, set()).update(near)
    for code in COUNTRY_CODE_TO_REGION_CODE:
        nationals.setdefault(code, set()).update(
            str(rng.randrange(10 ** (n - 1), 10**n)) for n in (2, 5, 7, 8, 9, 10, 11, 13)
        )
    checked = valid = 0
    for code, numbers in nationals.items():
        regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
        if len(regions) != 1:
            continue  # several regions share the code: the library itself answers
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
        for national in numbers:
            if len(national) < 2 or national[0] == "0":
                continue  # never given to the kind check
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
            expected = phonenumbers.is_valid_number(number)
            assert phones._of_some_kind(national, metadata) == expected, (code, national)
            checked += 1
            valid += expected
    assert checked > 5_000 and valid > 1_500
