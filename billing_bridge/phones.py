"""Reading a caller ID the way a person would: pure functions, no I/O.

Trunks deliver caller IDs in every shape: `+972 3-555-1234`, `00972...`, `972...` without a
plus, national `03-5551234`, Lithuania's old `8 612 34567` trunk prefix, or no number at all
(`anonymous`, `unknown`, withheld presentation). Everything is turned into E.164 or a reason
why it cannot be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata
from phonenumbers.phonenumberutil import _is_number_matching_desc

# Words switches and carriers put where a number was not given.
_NO_NUMBER_WORDS = frozenset(
    {"", "unknown", "anonymous", "withheld", "restricted", "private", "unavailable", "blocked"}
)
# Asterisk CALLINGPRES: 0x20 set means presentation restricted, 0x40 means number unavailable.
_PRESENTATION_HIDDEN = 0x20 | 0x40
_DIALLABLE = re.compile(r"^\+?[0-9]{3,20}$")
_SEPARATORS = re.compile(r"[\s\-./()]")
_E164_FORM = re.compile(r"\+[1-9][0-9]{2,19}")  # as _DIALLABLE takes it, with its plus


class NumberProblem(StrEnum):
    WITHHELD = "withheld"
    MISSING = "missing"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class CallerNumber:
    """An E.164 number, or the reason there is none."""

    e164: str | None
    problem: NumberProblem | None = None

    @property
    def known(self) -> bool:
        return self.e164 is not None


@lru_cache(maxsize=8192)  # regular callers call again; parsing is the costly part of a lookup
def normalise_caller_id(
    raw: str | None, region: str, presentation: int | str | None = None
) -> CallerNumber:
    """Turn a caller ID as Asterisk hands it over into E.164, using the tenant's region."""
    if _is_hidden(presentation):
        return CallerNumber(None, NumberProblem.WITHHELD)
    text = (raw or "").strip()
    word = text.lower()
    if word in _NO_NUMBER_WORDS:
        missing = word in {"", "unknown"}
        return CallerNumber(None, NumberProblem.MISSING if missing else NumberProblem.WITHHELD)
    e164 = to_e164(text, region)
    return CallerNumber(e164) if e164 else CallerNumber(None, NumberProblem.INVALID)


def to_e164(text: str, region: str) -> str | None:
    """E.164 for a number in any common written form, or None when it is not a valid number."""
    if _E164_FORM.fullmatch(text) and _valid_as_written(text):
        return text
    compact = _SEPARATORS.sub("", text)
    if not _DIALLABLE.match(compact):
        return None
    attempts = [compact]
    if not compact.startswith("+"):
        # Many trunks send international numbers without the plus: 97235551234.
        attempts.append("+" + compact)
    for candidate in attempts:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _valid_as_written(text: str) -> bool:
    """True when `phonenumbers` would read `text` (`+` and digits, as billing systems send
    numbers) as exactly this number and call it valid; False when it would not, or might not,
    and the full reading decides. It reads the country code as `phonenumbers.parse` does (the
    calling codes are prefix-free) and skips parse's search of free text for a number, which
    is most of a number's cost in a bulk ingest. Numbers parse could change are left to it: a
    national part starting with 0 (Italy's leading zeros) or with what the country's
    national prefix pattern matches (a trunk prefix written after the country code)."""
    digits = text[1:]
    for length in (1, 2, 3):
        code = int(digits[:length])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False
    national = digits[length:]
    if len(national) < 2 or national[0] == "0":
        return False
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if metadata is None:
        return False
    prefix = metadata.national_prefix_for_parsing
    if prefix and re.match(prefix, national):
        return False
    if len(COUNTRY_CODE_TO_REGION_CODE[code]) == 1:
        return _of_some_kind(national, metadata)
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    return phonenumbers.is_valid_number(number)


def _of_some_kind(national: str, metadata: PhoneMetadata) -> bool:
    """`phonenumbers.is_valid_number` for `national` (no leading zero) after a calling code
    of one region, `metadata` being that region's: the library then reads the same metadata
    and the same digits, and calls the number valid when it matches one kind of number. To
    name the kind it tries up to ten in turn (premium rate, toll free, ..., fixed line,
    mobile); here the kinds callers' numbers usually are go first and the first match
    answers, and the number is not built again. A test holds it to the library's answer
    for every calling code of one region."""
    matches = _is_number_matching_desc
    if not matches(national, metadata.general_desc):
        return False
    return (
        matches(national, metadata.mobile) or matches(national, metadata.fixed_line)
        or matches(national, metadata.toll_free) or matches(national, metadata.premium_rate)
        or matches(national, metadata.shared_cost) or matches(national, metadata.voip)
        or matches(national, metadata.personal_number) or matches(national, metadata.pager)
        or matches(national, metadata.uan) or matches(national, metadata.voicemail)
    )  # fmt: skip


def _is_hidden(presentation: int | str | None) -> bool:
    if presentation is None or presentation == "":
        return False
    try:
        value = int(presentation)
    except (TypeError, ValueError):
        return False
    return bool(value & _PRESENTATION_HIDDEN)
