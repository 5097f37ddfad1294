"""Payments in a call from the desk: a card on the keypad, or a payment link."""

from __future__ import annotations

import pytest

from pbx.desk.commands import SendPayLink, TakeCardPayment
from pbx.desk.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from pbx.desk.ports import CardOrder
from pbx.desk.results import CardPaymentStarted
from tests.desk.fakes import DANA, a_call, avi, dana, desk_with


async def test_a_card_payment_defaults_to_what_is_due_on_the_callers_account() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    started = await desk.run(TakeCardPayment("c-1", 70), dana)

    assert started == CardPaymentStarted(45_050, "ILS")
    assert live.done == [("card_capture", CardOrder(70, 45_050, "ILS", DANA, "agent:dana"))]


async def test_a_card_payment_for_a_named_invoice_defaults_to_what_it_still_owes() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    started = await desk.run(TakeCardPayment("c-1", 70, invoice_id=701), dana)

    assert started == CardPaymentStarted(30_000, "ILS")
    assert live.done == [("card_capture", CardOrder(70, 30_000, "ILS", DANA, "agent:dana", 701))]


async def test_part_of_a_named_invoice_may_be_paid_but_never_more_than_it_owes() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    with pytest.raises(Invalid) as refused:
        await desk.run(TakeCardPayment("c-1", 70, 30_001, invoice_id=701), dana)
    started = await desk.run(TakeCardPayment("c-1", 70, 10_000, invoice_id=701), dana)

    assert refused.value.code == "amount_minor" and "30000" in refused.value.message
    assert started == CardPaymentStarted(10_000, "ILS")
    assert live.done == [("card_capture", CardOrder(70, 10_000, "ILS", DANA, "agent:dana", 701))]


async def test_a_named_stripe_invoice_is_paid_whole_only() -> None:
    desk, _, _ = desk_with(a_call("c-1"))

    with pytest.raises(Invalid) as refused:
        await desk.run(TakeCardPayment("c-1", 70, 15_000, invoice_id=702), dana)
    started = await desk.run(TakeCardPayment("c-1", 70, invoice_id=702), dana)

    assert refused.value.code == "amount_minor" and "paid whole" in refused.value.message
    assert started == CardPaymentStarted(15_050, "ILS")


async def test_an_invoice_of_another_account_is_refused_before_the_capture_starts() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    for invoice in (801, 999):
        with pytest.raises(Invalid) as refused:
            await desk.run(TakeCardPayment("c-1", 70, invoice_id=invoice), dana)
        assert refused.value.code == "invoice"
    assert live.done == []


async def test_a_card_payment_without_a_provider_is_unavailable() -> None:
    desk, live, _ = desk_with(a_call("c-1"))
    live.takes_cards = False

    with pytest.raises(Unavailable) as refused:
        await desk.run(TakeCardPayment("c-1", 70), dana)

    assert refused.value.code == "payments_unavailable" and live.done == []


async def test_a_card_payment_on_someone_elses_account_is_not_found() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    with pytest.raises(NotFound):
        await desk.run(TakeCardPayment("c-1", 80), dana)
    assert live.done == []


async def test_a_card_payment_on_another_agents_call_is_forbidden() -> None:
    desk, live, _ = desk_with(a_call("c-1"))

    with pytest.raises(Forbidden):
        await desk.run(TakeCardPayment("c-1", 70), avi)
    assert live.done == []


async def test_with_nothing_due_the_agent_must_give_an_amount() -> None:
    desk, _, _ = desk_with(a_call("c-1"), due={70: 0})

    with pytest.raises(Conflict) as refused:
        await desk.run(TakeCardPayment("c-1", 70), dana)
    started = await desk.run(TakeCardPayment("c-1", 70, 1_000), dana)

    assert "give an amount" in refused.value.message
    assert started == CardPaymentStarted(1_000, "ILS")


async def test_a_pay_link_by_sms_goes_to_the_number_calling_and_is_shown_masked() -> None:
    desk, _, money = desk_with(a_call("c-1"))

    sent = await desk.run(SendPayLink("c-1", 70), dana)

    assert [link.recipient for link in money.links] == ["+972502345678"]
    assert sent.to == "+9725•••5678" and sent.amount_minor == 45_050  # type: ignore[union-attr]


async def test_a_pay_link_by_email_with_no_address_on_file_is_a_conflict() -> None:
    desk, _, money = desk_with(a_call("c-1"))

    with pytest.raises(Conflict) as refused:
        await desk.run(SendPayLink("c-1", 70, channel="email"), dana)

    assert "no email recipient" in refused.value.message and money.links == []


async def test_a_pay_link_without_a_provider_is_unavailable() -> None:
    desk, _, money = desk_with(a_call("c-1"), takes_payments=False)

    with pytest.raises(Unavailable) as refused:
        await desk.run(SendPayLink("c-1", 70), dana)

    assert refused.value.code == "payments_unavailable" and money.links == []
