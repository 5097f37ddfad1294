from __future__ import annotations

import random

import pytest
from stdnum import luhn

from pbx.free_text import (
    cap,
    clean_name,
    clean_text,
    has_hidden_characters,
    mask_card_numbers,
)
from tests.payments.test_cards import card_of, luhn_complete

VISA = "4242424242424242"
AMEX = "378282246310005"


# --- card numbers in free text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("4242 4242 4242 4242", "**** **** **** 4242"),
        ("card 4242-4242-4242-4242 exp 12/30", "card ****-****-****-4242 exp 12/30"),
        (f"paid with {VISA}.", "paid with ************4242."),
        (f"amex {AMEX}", "amex ***********0005"),
        ("3782 822463 10005", "**** ****** *0005"),
        (f"x{VISA}y", "x************4242y"),
    ],
)
def test_a_card_number_in_a_note_is_masked_to_its_last_four_digits(typed: str, kept: str) -> None:
    assert mask_card_numbers(typed) == kept


def test_every_card_length_from_13_to_19_digits_is_masked() -> None:
    for length in range(13, 20):
        number = card_of("4", length)
        assert mask_card_numbers(number) == "*" * (length - 4) + number[-4:]


def test_a_card_typed_beside_another_number_is_still_masked() -> None:
    note = f"call back on 0545551234, card {VISA} 123, or 4242 4242 4242 4242 0545"
    masked = mask_card_numbers(note)
    assert "4242424242424242" not in masked.replace(" ", "")
    assert masked.count("4242") <= 2  # at most each card's last four


def test_numbers_that_fail_the_card_check_are_left_alone() -> None:
    not_cards = [
        "+972 54 555 1234",
        "+1 415 555 2671",
        "invoice 1234567890123",  # 13 digits, not Luhn-valid
        "4242 4242 4242 4243",
        "order 12345678901234567890",  # 20 digits: longer than any card
        "ref 424242424242",  # 12 digits: shorter than any card
        "4242  4242  4242  4242",  # two spaces: not one number
    ]
    for text in not_cards:
        assert mask_card_numbers(text) == text


def test_the_mask_agrees_with_the_card_check_on_random_numbers() -> None:
    rng = random.Random(14)
    for _ in range(2000):
        body = "".join(rng.choice("0123456789") for _ in range(rng.randint(12, 18)))
        valid = luhn_complete(body)
        invalid = valid[:-1] + str((int(valid[-1]) + 1) % 10)
        assert mask_card_numbers(valid) == "*" * (len(valid) - 4) + valid[-4:]
        assert mask_card_numbers(invalid) == invalid


def test_the_mask_agrees_with_python_stdnum_s_luhn_on_every_stretch_of_a_grouped_run() -> None:
    # The mask checks every group-aligned stretch with running sums (one pass, however many
    # stretches); this recomputes each stretch with the library's Luhn and compares.
    rng = random.Random(16)
    for _ in range(300):
        groups = [
            "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
            for _ in range(rng.randint(2, 8))
        ]
        if rng.random() < 0.5:  # plant a card across some of the groups
            first = rng.randrange(len(groups))
            card = card_of(rng.choice("3456"), rng.randint(13, 19))
            groups[first : first + 1] = [card[:6], card[6:]]
        run = " ".join(groups)
        digits = run.replace(" ", "")
        starts = [0]
        for group in groups:
            starts.append(starts[-1] + len(group))
        masked = [False] * len(digits)
        for first in range(len(groups)):
            for last in range(first, len(groups)):
                lo, hi = starts[first], starts[last + 1]
                if 13 <= hi - lo <= 19 and luhn.is_valid(digits[lo:hi]):
                    masked[lo : hi - 4] = [True] * (hi - lo - 4)
        expected = iter("*" if m else d for m, d in zip(masked, digits, strict=True))
        assert mask_card_numbers(run) == "".join(" " if c == " " else next(expected) for c in run)


def test_card_digits_in_other_scripts_are_masked() -> None:
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in VISA)
    assert mask_card_numbers(fullwidth) == "*" * 12 + fullwidth[-4:]


# --- names and notes -------------------------------------------------------------------------


def test_a_name_loses_nul_controls_and_bidi_overrides() -> None:
    typed = " Dana\x00 Co\u202ehen\u2066\u2069\x07 "
    assert clean_name(typed) == "Dana Cohen"


def test_a_name_is_one_line_with_its_spaces_collapsed() -> None:
    assert clean_name("Dana\n\tCohen  Levi\r\n") == "Dana Cohen Levi"


def test_a_name_is_stored_in_nfc() -> None:
    assert clean_name("Jose\u0301") == "Jos\u00e9"


def test_hebrew_and_arabic_names_are_kept_as_typed() -> None:
    for name in ("דנה כהן", "سارة أحمد", "Zoë O'Neil-Smith"):
        assert clean_name(name) == name


def test_a_note_keeps_its_lines_and_loses_controls() -> None:
    assert clean_text("first\r\nsecond\x00\x1b[2J\tend\u202d ") == "first\nsecond[2J\tend"


def test_a_card_hidden_by_invisible_characters_in_a_note_is_masked() -> None:
    typed = "4242\u200b4242 4242\u202e4242"
    assert clean_text(typed) == "******** ****4242"


def test_a_note_with_a_card_number_is_masked() -> None:
    assert clean_text("paid by 4111 1111 1111 1111") == "paid by **** **** **** 1111"


# --- caps ------------------------------------------------------------------------------------


def test_cap_keeps_a_short_text_whole() -> None:
    assert cap("evt_123", 64) == "evt_123"
    assert cap("x" * 64, 64) == "x" * 64


def test_cap_cuts_a_long_text_to_the_limit_and_marks_the_cut() -> None:
    capped = cap("e" * 10_000, 64)
    assert len(capped) == 64
    assert capped == "e" * 63 + "…"


def test_cap_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError):
        cap("anything", 0)


def test_hidden_characters_are_found_in_identifiers() -> None:
    for text in ("C-\x001", "A-\u202e1", "x\u2066", "a\u200bb", "tab\there"):
        assert has_hidden_characters(text), repr(text)
    for text in ("C-100", "שרה", "Zoë", "a b"):
        assert not has_hidden_characters(text), repr(text)
