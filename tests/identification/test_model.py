from datetime import UTC, datetime

from billing_bridge.identification.model import (
    PRIORITY_COLLECTIONS,
    PRIORITY_NORMAL,
    PRIORITY_VIP,
    AccountSummary,
    Candidate,
    CustomerProfile,
    Identification,
    Match,
    NoMatchReason,
)


def account(status: str = "active", vip: bool = False, **fields: object) -> AccountSummary:
    values = {"account_id": 1, "account_ref": "A1", "currency": "ILS", "balance_minor": 0}
    values.update(fields)
    return AccountSummary(status=status, vip=vip, **values)  # type: ignore[arg-type]


def profile(*accounts: AccountSummary, headline: str = "ILS") -> CustomerProfile:
    return CustomerProfile(1, "C1", "Dana", None, accounts, headline)


def test_the_most_pressing_status_leads_across_accounts() -> None:
    assert profile(account("active"), account("suspended"), account("overdue")).account_status == (
        "suspended"
    )
    assert profile(account("closed"), account("active")).account_status == "active"
    assert profile().account_status == ""


def test_a_vip_is_served_first_even_when_overdue() -> None:
    assert profile(account("overdue", vip=True)).priority == PRIORITY_VIP


def test_a_closed_vip_account_does_not_make_a_vip() -> None:
    assert profile(account("closed", vip=True)).priority == PRIORITY_NORMAL


def test_overdue_invoices_send_the_caller_to_collections() -> None:
    assert (
        profile(account(overdue_minor=5_000, overdue_invoices=1)).priority == PRIORITY_COLLECTIONS
    )
    assert profile(account("overdue")).priority == PRIORITY_COLLECTIONS
    assert profile(account()).priority == PRIORITY_NORMAL


def test_balances_are_summed_per_currency_never_across_them() -> None:
    customer = profile(
        account(balance_minor=100, currency="ILS"),
        account(balance_minor=250, currency="ILS"),
        account(balance_minor=999, currency="EUR"),
    )
    assert customer.balances == {"ILS": 350, "EUR": 999}
    assert customer.balance_minor == 350


def test_an_unknown_status_ties_with_closed_and_the_first_listed_leads() -> None:
    assert profile(account("closed"), account("dormant")).account_status == "closed"
    assert profile(account("dormant"), account("closed")).account_status == "dormant"


def test_the_identity_carries_the_headline_figures_of_the_profile() -> None:
    customer = profile(
        account("active", balance_minor=100, currency="EUR", overdue_minor=300),
        account("closed", vip=True, balance_minor=250),
        account("active", balance_minor=-40),
    )
    identity = Identification(Match.UNIQUE, "+972502345678", 1, customer=customer).identity()

    assert customer.headline() == ("active", PRIORITY_COLLECTIONS, 210)
    assert (identity.account_status, identity.priority, identity.balance_minor) == (
        customer.account_status, customer.priority, customer.balance_minor,
    )  # fmt: skip


def test_an_identification_survives_the_cache_round_trip() -> None:
    unique = Identification(
        Match.UNIQUE,
        "+97235551234",
        7,
        customer=CustomerProfile(
            3, "C3", "שרה כהן", datetime(2026, 11, 1, 9, 30, tzinfo=UTC), (account(),), "ILS"
        ),
    )
    ambiguous = Identification(
        Match.AMBIGUOUS,
        "+97235551234",
        7,
        candidates=(Candidate(1, "a", "A"), Candidate(2, "b", "B")),
    )
    nobody = Identification.nobody(NoMatchReason.NOT_FOUND, 7, "+97235551234")
    for result in (unique, ambiguous, nobody):
        assert Identification.from_json(result.to_json()) == result
