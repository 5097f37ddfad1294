"""The rules a business's settings follow, with no database: every problem reported at once,
each naming its field; good values kept as stored (codes upper-cased, names cleaned)."""

from __future__ import annotations

import pytest

from pbx.platform.errors import Invalid
from pbx.platform.tenants import NewTenant, checked

GOOD = NewTenant("ofek", "Ofek Energy", "il", "ils", "Asia/Jerusalem", ("+97237630100",), "dana")


def _problems(**changes: object) -> list[tuple[str, str]]:
    values = vars(GOOD) | changes
    with pytest.raises(Invalid) as refused:
        checked(NewTenant(**values))  # type: ignore[arg-type]
    return refused.value.problems


def test_good_settings_are_kept_as_stored() -> None:
    kept = checked(NewTenant("ofek", " Ofek\u202e Energy ", "il", "ils", "Asia/Jerusalem",
                             ("+97237630100",), "dana"))  # fmt: skip
    assert (kept.name, kept.region, kept.currency) == ("Ofek Energy", "IL", "ILS")


@pytest.mark.parametrize("slug", ["", "Ofek", "-ofek", "ofek-", "of ek", "o" * 65, "ofek\x00"])
def test_a_slug_is_lower_case_letters_digits_and_inner_hyphens(slug: str) -> None:
    assert [field for field, _ in _problems(slug=slug)] == ["slug"]


@pytest.mark.parametrize("did", ["037630100", "+972 3 763 0100", "+9720000", "+1", "tel:+972"])
def test_a_did_is_a_valid_number_written_in_e164(did: str) -> None:
    assert [field for field, _ in _problems(dids=(did,))] == ["did"]


def test_a_business_has_at_least_one_number_and_none_twice() -> None:
    assert _problems(dids=()) == [("did", "at least one number")]
    assert _problems(dids=("+97237630100",) * 2) == [("did", "a number is given twice")]


def test_every_problem_is_reported_at_once_by_field() -> None:
    problems = _problems(region="ZZ", currency="XYZ", timezone="Europe/Atlantis", name="",
                         admin="dana levi")  # fmt: skip
    assert [field for field, _ in problems] == ["name", "region", "currency", "timezone", "admin"]


def test_a_time_zone_is_an_iana_name_not_a_path() -> None:
    assert [field for field, _ in _problems(timezone="../../etc/passwd")] == ["timezone"]
