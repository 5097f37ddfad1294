"""The LL_* channel variables carry a caller's identity from caller-lookup to the call flow:
what is encoded is decoded the same, and nothing malformed is taken for an identity."""

from __future__ import annotations

import pytest

from billing_bridge.identification import variables
from billing_bridge.identification.model import (
    AccountSummary,
    CallerIdentity,
    Candidate,
    CustomerProfile,
    Identification,
    Match,
    NoMatchReason,
)

SARA = CustomerProfile(
    42, "C42", "Sara\nCohen", None,
    (AccountSummary(7, "A7", "ILS", 45_050, "overdue", False, 45_050, 1),), "ILS",
)  # fmt: skip


def test_an_identified_caller_comes_back_as_the_same_identity() -> None:
    identity = Identification(Match.UNIQUE, "+972502345678", 1, customer=SARA).identity()

    decoded = variables.decode(dict(variables.encode(identity)))

    assert decoded == CallerIdentity(
        Match.UNIQUE, 42, 5, "overdue", "Sara Cohen", 45_050, "ILS"
    )  # the line break in the name cannot reach the dialplan
    assert decoded is not None and decoded.in_arrears


def test_only_control_characters_in_a_name_are_replaced() -> None:
    for name, sent in [
        ("דנה כהן", "דנה כהן"), ("Jonas\u00a0Petraitis", "Jonas\u00a0Petraitis"),
        ("Sara\t\x7fCohen", "Sara Cohen"), ("Ona\r\n", "Ona "),
    ]:  # fmt: skip
        identity = CallerIdentity(Match.UNIQUE, 42, customer_name=name)
        assert dict(variables.encode(identity))[variables.CUSTOMER_NAME] == sent


def test_a_shared_number_comes_back_ambiguous_with_its_candidate_count() -> None:
    both = (Candidate(1, "C1", "Dana"), Candidate(2, "C2", "Dan"))
    identity = Identification(Match.AMBIGUOUS, "+972502345678", 1, candidates=both).identity()

    decoded = variables.decode(dict(variables.encode(identity)))

    assert decoded == CallerIdentity(Match.AMBIGUOUS, candidates=2)
    assert not decoded.in_arrears


def test_every_variable_is_set_on_every_call_so_an_earlier_lookup_leaves_nothing_behind() -> None:
    nobody = Identification.nobody(NoMatchReason.WITHHELD, 1).identity()

    encoded = dict(variables.encode(nobody))

    assert encoded[variables.CUSTOMER_ID] == encoded[variables.CUSTOMER_NAME] == ""
    assert len(encoded) == 9 and encoded[variables.REASON] == "withheld"
    assert variables.decode(encoded) == CallerIdentity(Match.NONE, reason=NoMatchReason.WITHHELD)


def test_no_lookup_ran_when_there_is_no_match_variable() -> None:
    assert variables.decode({}) is None
    assert variables.decode({variables.MATCH: "", variables.PRIORITY: "5"}) is None


def test_the_routing_variables_alone_are_an_identity() -> None:
    told = {"LL_MATCH": "unique", "LL_CUSTOMER_ID": "9", "LL_PRIORITY": "10",
            "LL_ACCOUNT_STATUS": "active"}  # fmt: skip

    assert variables.decode(told) == CallerIdentity(Match.UNIQUE, 9, 10, "active")


@pytest.mark.parametrize(
    "told",
    [
        {"LL_MATCH": "maybe"},
        {"LL_MATCH": "unique", "LL_CUSTOMER_ID": "²"},  # a digit to str.isdigit() only
        {"LL_MATCH": "unique", "LL_CUSTOMER_ID": "7" * 5000},  # past int()'s digit cap
        {"LL_MATCH": "unique", "LL_CUSTOMER_ID": "-5"},
        {"LL_MATCH": "unique", "LL_PRIORITY": "high"},
        {"LL_MATCH": "unique", "LL_ACCOUNT_STATUS": "Overdue; DROP"},
        {"LL_MATCH": "unique", "LL_BALANCE_MINOR": "12.50"},
        {"LL_MATCH": "unique", "LL_CURRENCY": "shekel"},
        {"LL_MATCH": "none", "LL_REASON": "because"},
    ],
)
def test_a_malformed_variable_is_refused_by_name_without_echoing_it(
    told: dict[str, str],
) -> None:
    with pytest.raises(variables.MalformedIdentity) as refused:
        variables.decode(told)

    named = next(name for name in told if name != "LL_MATCH" or len(told) == 1)
    assert named in str(refused.value)
    assert told[named] not in str(refused.value)
