"""The LL_* variables of a result the cache hands out again are encoded once, and only ever
for that very result."""

from __future__ import annotations

from agi_scripts.lookup import EncodedVariables, lookup_variables
from billing_bridge.identification.model import (
    AccountSummary,
    CustomerProfile,
    Identification,
    Match,
    NoMatchReason,
)


def sara(balance_minor: int) -> Identification:
    account = AccountSummary(1, "A-1", "ILS", balance_minor, "overdue", False, balance_minor, 1)
    profile = CustomerProfile(5, "C-5", "Sara Cohen", None, (account,), "ILS")
    return Identification(Match.UNIQUE, "+972502345678", 1, customer=profile)


def test_a_result_handed_out_again_is_encoded_once_as_lookup_variables_encodes_it() -> None:
    encoded = EncodedVariables()
    cached = sara(45_050)
    first = encoded(cached)
    assert first == lookup_variables(cached)
    assert encoded(cached) is first


def test_a_new_result_for_the_same_caller_is_encoded_anew() -> None:
    encoded = EncodedVariables()
    before = encoded(sara(45_050))
    after = encoded(sara(10_000))  # the account changed: the cache was told, a new result
    assert dict(before)["LL_BALANCE_MINOR"] == "45050"
    assert dict(after)["LL_BALANCE_MINOR"] == "10000"


def test_results_past_the_bound_are_forgotten_and_still_encoded_right() -> None:
    encoded = EncodedVariables(max_entries=2)
    results = [sara(n) for n in (1, 2, 3)] + [Identification.nobody(NoMatchReason.NOT_FOUND, 1)]
    for result in results * 2:
        assert encoded(result) == lookup_variables(result)
    assert len(encoded) <= 2
