"""Free text as it may be kept: what a person types (notes, dispositions, names, reasons) or a
provider sends, screened before it is stored or logged (pure: no I/O).

- `mask_card_numbers`: a card number typed into a note must never reach the database or a
  log. A PAN-like run is 13-19 digits, in groups separated by single spaces or dashes, that
  passes the Luhn check; all its digits but the last four become `*`, the separators stay
  (`4242 4242 4242 4242` -> `**** **** **** 4242`). Runs that fail Luhn (phone numbers,
  invoice numbers) are left alone. Every group-aligned stretch of a run is tried, so a card
  typed next to another number (a phone number, a CVV) is still found.
- `clean_name`: one line, as a person's or thing's name is shown: no NUL or other control
  characters (line breaks and tabs become spaces), no bidirectional overrides or isolates
  (U+202A-U+202E, U+2066-U+2069: they make a name display as something else), NFC, spaces
  collapsed and trimmed.
- `clean_text`: the same for multi-line text (line breaks and tabs kept), with card numbers
  masked.
- `has_hidden_characters`: for identifiers, which are refused rather than changed.
- `is_email_address` / `email_problem`: the one rule of what an e-mail address is (a user's,
  a customer's from a CSV file or from the billing system): one @, a dotted domain, no
  spaces, at most 254 characters, and (`email_problem`) no hidden characters.
- `cap`: at most n characters, the cut marked with an ellipsis.
"""

from __future__ import annotations

import re
import unicodedata

MASK = "*"
ELLIPSIS = "…"
MAX_EMAIL = 254

_MIN_PAN, _MAX_PAN = 13, 19  # ISO/IEC 7812 lengths a card of any scheme may have
_KEEP = 4  # the last four digits: what receipts and the desk show of a card anyway

# Bidirectional embeddings, overrides (U+202A-U+202E) and isolates (U+2066-U+2069); plus the
# invisible characters that could hide digits from the card screen (zero-width space, word
# joiner, byte-order mark).
_BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_INVISIBLE = frozenset("\u200b\u2060\ufeff")
# A single separator a person types between digit groups: space, no-break spaces, dashes.
_SEPARATORS = " \u00a0\u202f\u2007-\u2010\u2011\u2012\u2013\u2014\u2212"
_RUN = re.compile(rf"\d+(?:[{re.escape(_SEPARATORS)}]\d+)*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def mask_card_numbers(text: str) -> str:
    """`text` with every Luhn-valid 13-19 digit run masked to its last four digits."""
    if sum(map(str.isdigit, text)) < _MIN_PAN:  # the common case: nothing to look at
        return text
    return _RUN.sub(_mask_run, text)


def clean_name(text: str) -> str:
    """A name as it may be stored: no controls or bidi overrides, NFC, one line, trimmed."""
    kept = "".join(_name_char(ch) for ch in text)
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", kept)).strip()


def clean_text(text: str) -> str:
    """Multi-line free text (a note): no NUL, other controls or bidi overrides, NFC, card
    numbers masked, trimmed. Line breaks and tabs stay."""
    kept = "".join(_text_char(ch) for ch in text.replace("\r\n", "\n"))
    return mask_card_numbers(unicodedata.normalize("NFC", kept)).strip()


def has_hidden_characters(text: str) -> bool:
    """Whether the text holds what `clean_name` drops: NUL and other control characters,
    bidi overrides and isolates, zero-width characters. For identifiers (references,
    addresses), which are refused with such characters rather than changed."""
    return any(
        ch in _BIDI or ch in _INVISIBLE or unicodedata.category(ch) == "Cc" for ch in text
    )


def is_email_address(text: str) -> bool:
    return len(text) <= MAX_EMAIL and _EMAIL.fullmatch(text) is not None


def email_problem(address: str) -> str | None:
    """Why `address` cannot be an e-mail address, or None when it can."""
    if has_hidden_characters(address):
        return "contains a control or bidi character"
    if not is_email_address(address):
        return "is not a valid email address"
    return None


def cap(text: str, limit: int) -> str:
    """At most `limit` characters; a longer text keeps its start and ends with an ellipsis."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def _name_char(ch: str) -> str:
    if ch in _BIDI or ch in _INVISIBLE:
        return ""
    if unicodedata.category(ch) == "Cc":
        return " " if ch.isspace() else ""
    return ch


def _text_char(ch: str) -> str:
    if ch in _BIDI or ch in _INVISIBLE:
        return ""
    if unicodedata.category(ch) == "Cc" and ch not in "\n\t":
        return " " if ch.isspace() else ""
    return ch


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    # Digit groups as (start, end) offsets into `run`; a separator lies between each two.
    groups = [(m.start(), m.end()) for m in re.finditer(r"\d+", run)]
    digits = [unicodedata.decimal(ch) for ch in run if ch.isdigit()]
    luhn = _LuhnSums(digits)
    # Digit index where each group starts, plus the total, to size any stretch of groups.
    starts = [0]
    for start, end in groups:
        starts.append(starts[-1] + end - start)
    masked = [False] * len(digits)
    for first in range(len(groups)):
        for last in range(first, len(groups)):
            lo, hi = starts[first], starts[last + 1]
            if hi - lo > _MAX_PAN:
                break
            if hi - lo >= _MIN_PAN and luhn.valid(lo, hi):
                for i in range(lo, hi - _KEEP):
                    masked[i] = True
    if not any(masked):
        return run
    out, index = [], 0
    for ch in run:
        if ch.isdigit():
            out.append(MASK if masked[index] else ch)
            index += 1
        else:
            out.append(ch)
    return "".join(out)


class _LuhnSums:
    """Luhn checks of any stretch of a digit run in constant time. Luhn doubles every second
    digit counted from the right, so which digits a stretch doubles depends on where it ends:
    prefix sums are kept both ways (doubling the even-indexed digits, or the odd-indexed).
    Kept by hand rather than python-stdnum's `luhn` on each stretch (which `cards.py` uses):
    every string that enters is screened, and on a long run of digit groups (10,000
    characters) the library per stretch took 20 ms against 5.5 ms here. A test compares the
    two on every stretch."""

    def __init__(self, digits: list[int]) -> None:
        self._sums: tuple[list[int], list[int]] = ([0], [0])
        for index, value in enumerate(digits):
            doubled = value * 2 - 9 if value > 4 else value * 2
            for parity, sums in enumerate(self._sums):
                sums.append(sums[-1] + (doubled if index % 2 == parity else value))

    def valid(self, lo: int, hi: int) -> bool:
        """Whether digits[lo:hi] pass the check: the last digit is never doubled, so the
        doubled ones have the other parity than hi - 1."""
        sums = self._sums[hi % 2]
        return (sums[hi] - sums[lo]) % 10 == 0
