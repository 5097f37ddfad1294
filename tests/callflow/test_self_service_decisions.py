"""The self-service menu's decisions (pure): what it offers, what a key chooses, what the
caller hears of their balance and of the promise offered, and when a call counts as
resolved."""

from __future__ import annotations

from datetime import date

import pytest

from pbx.callflow import self_service as ss
from pbx.callflow.self_service import Choice, Owed, Step
from pbx.callflow.self_service_config import Identify, SelfServiceMenu, menu_from_json


def say(amount_minor: int, currency: str, language: str) -> tuple[str, ...]:
    return (f"{language}:{amount_minor}:{currency}",)


def test_cards_and_mandates_are_offered_only_with_a_provider_and_an_agent_always() -> None:
    menu = SelfServiceMenu(balance=True, card=True, mandate=True)
    assert ss.offered(menu, takes_cards=True, takes_mandates=True) == (
        Choice.BALANCE, Choice.CARD, Choice.MANDATE, Choice.AGENT)  # fmt: skip
    assert ss.offered(menu, takes_cards=False, takes_mandates=False) == (
        Choice.BALANCE, Choice.AGENT)  # fmt: skip
    card_only = SelfServiceMenu(balance=False, card=True)
    assert ss.offered(card_only, takes_cards=False, takes_mandates=True) == ()  # no menu


def test_the_menu_says_each_offered_choice_in_order() -> None:
    assert ss.menu_media((Choice.BALANCE, Choice.AGENT)) == (ss.OPTION_BALANCE, ss.OPTION_AGENT)


@pytest.mark.parametrize(("pressed", "chosen"), [
    ("1", Choice.BALANCE), ("0", Choice.AGENT), ("9", Choice.AGENT), ("2", None),
    ("3", None), ("", None), ("*", None), ("#", None), ("11", None),
])  # fmt: skip
def test_a_key_chooses_only_what_the_menu_offers(pressed: str, chosen: Choice | None) -> None:
    assert ss.choice_of(pressed, (Choice.BALANCE, Choice.AGENT)) is chosen


def test_the_balance_and_the_overdue_amount_are_said_per_currency_owed() -> None:
    owed = ss.owed_by_currency([("ILS", 30_000), ("ILS", 15_050), ("EUR", 0)],
                               [("ILS", 20_000)])  # fmt: skip
    assert owed == (Owed("ILS", 45_050, 20_000), Owed("EUR", 0, 0))
    assert ss.balance_media(owed, "he", say) == (
        ss.BALANCE_IS, "he:45050:ILS", ss.OVERDUE_IS, "he:20000:ILS")  # fmt: skip


def test_nothing_overdue_and_nothing_owed_are_said_so() -> None:
    assert ss.balance_media((Owed("EUR", 1_200, 0),), "lt", say) == (
        ss.BALANCE_IS, "lt:1200:EUR", ss.NOTHING_OVERDUE)  # fmt: skip
    assert ss.balance_media((Owed("ILS", -500, 0),), "en", say) == (ss.NOTHING_OWED,)
    assert ss.balance_media((), "en", say) == (ss.NOTHING_OWED,)


@pytest.mark.parametrize(("steps", "resolved"), [
    ([], False), (["balance"], True), (["identified", "paid"], True), (["mandate"], True),
    (["payment_pending"], True), (["balance", "agent"], False), (["agent"], False),
    (["paid", "payment_abandoned"], False), (["payment_failed"], False),
    (["identified"], False), (["balance", "no_choice"], False), (["not_identified"], False),
])  # fmt: skip
def test_a_call_is_resolved_when_its_last_step_completed_and_no_agent_was_asked(
    steps: list[str], resolved: bool
) -> None:
    assert ss.resolved(steps) is resolved


@pytest.mark.parametrize(("status", "step"), [
    ("succeeded", Step.PAID), ("pending", Step.PAYMENT_PENDING), ("failed", Step.PAYMENT_FAILED),
    ("abandoned", Step.PAYMENT_ABANDONED),
])  # fmt: skip
def test_a_capture_outcome_is_its_step(status: str, step: Step) -> None:
    assert ss.payment_step(status) is step


@pytest.mark.parametrize(("status", "step"), [
    ("active", Step.MANDATE), ("pending", Step.MANDATE), ("failed", Step.MANDATE_FAILED),
    ("declined", Step.MANDATE_ABANDONED), ("abandoned", Step.MANDATE_ABANDONED),
])  # fmt: skip
def test_a_mandate_outcome_is_its_step(status: str, step: Step) -> None:
    assert ss.mandate_step(status) is step


def test_a_stored_menu_that_offers_nothing_is_no_menu() -> None:
    assert menu_from_json(None) is None and menu_from_json({}) is None
    assert menu_from_json({"balance": False}) is None
    menu = menu_from_json({"card": True, "identify": "date_of_birth", "identify_attempts": 2})
    assert menu == SelfServiceMenu(True, True, False, Identify.DATE_OF_BIRTH, 2, 2)
    assert menu_from_json(menu.to_json()) == menu


def day(due_on: date, language: str) -> tuple[str, ...]:
    return (f"{language}:{due_on.isoformat()}",)


def test_a_promise_is_offered_only_where_the_route_enables_it_and_the_caller_may_make_one(
) -> None:  # fmt: skip
    menu = SelfServiceMenu(balance=True, promise=True)
    assert ss.offered(menu, takes_cards=False, takes_mandates=False, promise=True) == (
        Choice.BALANCE, Choice.PROMISE, Choice.AGENT)  # fmt: skip
    assert ss.offered(menu, takes_cards=False, takes_mandates=False, promise=False) == (
        Choice.BALANCE, Choice.AGENT)  # fmt: skip
    off = SelfServiceMenu(balance=True)  # the route's default: no promises
    assert Choice.PROMISE not in ss.offered(off, takes_cards=True, takes_mandates=True,
                                            promise=True)  # fmt: skip
    assert ss.choice_of("4", (Choice.BALANCE, Choice.PROMISE, Choice.AGENT)) is Choice.PROMISE
    assert ss.choice_of("4", (Choice.BALANCE, Choice.AGENT)) is None


def test_a_promise_is_due_with_something_overdue_once_a_call() -> None:
    late = (Owed("EUR", 0, 0), Owed("ILS", 45_050, 20_000))
    assert ss.promise_due(late, ["identified", "balance"]) is True
    assert ss.promise_due((Owed("ILS", 45_050, 0),), []) is False  # owes, nothing overdue
    assert ss.promise_due((), []) is False
    for asked in ("promised", "promise_declined", "promise_refused"):
        assert ss.promise_due(late, ["balance", asked]) is False, asked


def test_the_promise_offered_is_said_as_amount_and_date_then_how_to_confirm() -> None:
    assert ss.promise_media(20_000, "ILS", date(2026, 2, 9), "he", say, day) == (
        ss.PROMISE_OFFER, "he:20000:ILS", ss.PROMISE_BY, "he:2026-02-09", ss.PROMISE_CONFIRM)
    assert ss.CONFIRM_KEY == "1"


@pytest.mark.parametrize(("steps", "resolved"), [
    (["promised"], True), (["identified", "balance", "promised"], True),
    (["promise_refused"], False), (["balance", "promise_declined"], False),
    (["promised", "agent"], False),
])  # fmt: skip
def test_a_promise_recorded_resolves_the_call_and_a_refused_one_does_not(
    steps: list[str], resolved: bool
) -> None:
    assert ss.resolved(steps) is resolved


def test_a_stored_menu_offering_only_promises_is_a_menu_and_promises_are_off_by_default() -> None:
    assert menu_from_json({"balance": True}) == SelfServiceMenu(promise=False)
    only = menu_from_json({"balance": False, "promise": True})
    assert only is not None and only.promise and not only.balance
    assert menu_from_json(only.to_json()) == only
