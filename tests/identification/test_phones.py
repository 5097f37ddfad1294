import pytest

from billing_bridge.phones import NumberProblem, normalise_caller_id, to_e164


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+972 3-555-1234", "IL", "+97235551234"),
        ("00972 3 555 1234", "IL", "+97235551234"),
        ("972502345678", "IL", "+972502345678"),
        ("050-234-5678", "IL", "+972502345678"),
        ("(03) 555.1234", "IL", "+97235551234"),
        ("+37061234567", "LT", "+37061234567"),
        ("8 612 34567", "LT", "+37061234567"),
        ("0037061234567", "LT", "+37061234567"),
        ("061234567", "LT", "+37061234567"),
        ("+44 20 7946 0958", "IL", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_national_and_international_forms_become_e164(raw: str, region: str, e164: str) -> None:
    assert normalise_caller_id(raw, region).e164 == e164


@pytest.mark.parametrize("raw", ["anonymous", "Anonymous", "withheld", "RESTRICTED", "private"])
def test_words_for_a_hidden_number_mean_withheld(raw: str) -> None:
    assert normalise_caller_id(raw, "IL").problem is NumberProblem.WITHHELD


@pytest.mark.parametrize("raw", ["", "   ", "unknown", None])
def test_an_absent_caller_id_is_missing(raw: str | None) -> None:
    assert normalise_caller_id(raw, "IL").problem is NumberProblem.MISSING


@pytest.mark.parametrize("presentation", [32, 35, 67, "67", "35"])
def test_restricted_presentation_withholds_even_a_delivered_number(presentation: int) -> None:
    result = normalise_caller_id("+97235551234", "IL", presentation)
    assert result.e164 is None
    assert result.problem is NumberProblem.WITHHELD


@pytest.mark.parametrize("presentation", [0, 1, 3, "0", "", None, "garbage"])
def test_allowed_presentation_keeps_the_number(presentation: object) -> None:
    assert normalise_caller_id("+97235551234", "IL", presentation).known


@pytest.mark.parametrize(
    "raw", ["abc", "12", "+", "0000000", "+972 3 555 1234 ext 5", "1-800-FLOWERS", "💥", "9" * 40]
)
def test_garbage_is_invalid_not_an_error(raw: str) -> None:
    result = normalise_caller_id(raw, "IL")
    assert result.e164 is None
    assert result.problem is NumberProblem.INVALID


def test_a_number_valid_nowhere_is_refused_rather_than_guessed() -> None:
    assert to_e164("12345", "IL") is None
