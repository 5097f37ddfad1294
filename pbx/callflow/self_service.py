"""Self-service in the IVR, the decisions (pure): what the menu offers and says, what a key
chooses, what the caller hears of their balance, and what the call log keeps of it.

The menu's keys are fixed: 1 the balance, 2 pay by card, 3 a direct debit, 4 a promise to pay
(offered to an identified caller with something overdue), 0 or 9 an agent.
What the caller did is kept as steps, in order, on the call (and the call log); a call is
*resolved* by self-service when its last step was a completed action (the balance heard, a
payment taken, a mandate set up, a promise recorded) and the caller never asked for an
agent: hanging up then is a satisfied caller. The effects (prompts, keys, captures) are in
`self_service_run.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from pbx.callflow.self_service_config import SelfServiceMenu

# What the caller hears (the texts are in pbx/voice/texts/<language>.toml).
OPTION_BALANCE = "sound:ledgerline-self-service-balance"
OPTION_CARD = "sound:ledgerline-self-service-card"
OPTION_MANDATE = "sound:ledgerline-self-service-mandate"
OPTION_PROMISE = "sound:ledgerline-self-service-promise"
OPTION_AGENT = "sound:ledgerline-self-service-agent"
BALANCE_IS = "sound:ledgerline-balance-is"
OVERDUE_IS = "sound:ledgerline-overdue-is"
NOTHING_OWED = "sound:ledgerline-nothing-owed"
NOTHING_OVERDUE = "sound:ledgerline-nothing-overdue"
YOU_WILL_PAY = "sound:ledgerline-you-will-pay"
ENTER_ACCOUNT = "sound:ledgerline-enter-account-number"
NOT_IDENTIFIED = "sound:ledgerline-not-identified"
PROMISE_OFFER = "sound:ledgerline-promise-offer"  # "You can promise to pay" <amount>
PROMISE_BY = "sound:ledgerline-promise-by"  # "by" <date>
PROMISE_CONFIRM = "sound:ledgerline-promise-confirm"  # "To confirm this promise, press 1."
PROMISE_RECORDED = "sound:ledgerline-promise-recorded"
PROMISE_REFUSED = "sound:ledgerline-promise-refused"
CONFIRM_KEY = "1"

MAX_ACTIONS = 6  # a caller going round the menu this often is put through to an agent

# A money read-out: `pbx.voice.saying.money(amount_minor, currency, language)`.
SayMoney = Callable[[int, str, str], tuple[str, ...]]
# A date read-out: `pbx.voice.saying.day(date, language)`.
SayDay = Callable[[date, str], tuple[str, ...]]


class Choice(StrEnum):
    BALANCE = "1"
    CARD = "2"
    MANDATE = "3"
    PROMISE = "4"
    AGENT = "0"


class Step(StrEnum):
    """What the caller did, as the call log and the agent's pop show it."""

    IDENTIFIED = "identified"  # by account number and PIN or date of birth
    NOT_IDENTIFIED = "not_identified"
    BALANCE = "balance"  # heard the balance and the overdue amount
    PAID = "paid"
    PAYMENT_PENDING = "payment_pending"
    PAYMENT_FAILED = "payment_failed"  # declined, or the provider refused
    PAYMENT_ABANDONED = "payment_abandoned"  # the card was not keyed right (or not heard)
    NOTHING_OWED = "nothing_owed"  # chose to pay with nothing to pay
    MANDATE = "mandate"  # a direct debit set up
    MANDATE_FAILED = "mandate_failed"
    MANDATE_ABANDONED = "mandate_abandoned"  # not keyed, not agreed, or consent not heard
    PROMISED = "promised"  # a promise to pay recorded
    PROMISE_DECLINED = "promise_declined"  # heard the promise offered, did not confirm it
    PROMISE_REFUSED = "promise_refused"  # the business's rules allow none now (said why in log)
    AGENT = "agent"  # asked for an agent
    NO_CHOICE = "no_choice"  # made no valid choice: the queue serves them


# The steps that leave the caller with what they called for.
_COMPLETED = frozenset({Step.BALANCE, Step.PAID, Step.PAYMENT_PENDING, Step.MANDATE,
                        Step.PROMISED})  # fmt: skip
_OPTION_MEDIA = {
    Choice.BALANCE: OPTION_BALANCE, Choice.CARD: OPTION_CARD, Choice.MANDATE: OPTION_MANDATE,
    Choice.PROMISE: OPTION_PROMISE, Choice.AGENT: OPTION_AGENT,
}  # fmt: skip


def offered(
    menu: SelfServiceMenu, *, takes_cards: bool, takes_mandates: bool, promise: bool = False
) -> tuple[Choice, ...]:
    """The choices the menu offers on this line now (cards and mandates need a provider;
    a promise, `promise_due` for this caller)."""
    choices = [Choice.BALANCE] if menu.balance else []
    if menu.card and takes_cards:
        choices.append(Choice.CARD)
    if menu.mandate and takes_mandates:
        choices.append(Choice.MANDATE)
    if menu.promise and promise:
        choices.append(Choice.PROMISE)
    return (*choices, Choice.AGENT) if choices else ()


def promise_due(owed: Sequence[Owed], steps: Sequence[str]) -> bool:
    """Whether to offer this caller a promise: something overdue, and none offered on this
    call yet (recorded, declined or refused: once is enough)."""
    asked = {Step.PROMISED, Step.PROMISE_DECLINED, Step.PROMISE_REFUSED}
    return any(each.overdue_minor > 0 for each in owed) and not asked.intersection(steps)


def promise_media(amount_minor: int, currency: str, due_on: date, language: str,
                  say_money: SayMoney, say_day: SayDay) -> tuple[str, ...]:  # fmt: skip
    """The offer read out: "You can promise to pay <amount> by <date>. To confirm this
    promise, press 1." """
    return (PROMISE_OFFER, *say_money(amount_minor, currency, language), PROMISE_BY,
            *say_day(due_on, language), PROMISE_CONFIRM)  # fmt: skip


def menu_media(choices: Sequence[Choice]) -> tuple[str, ...]:
    return tuple(_OPTION_MEDIA[choice] for choice in choices)


def choice_of(pressed: str, choices: Sequence[Choice]) -> Choice | None:
    """The caller's key as a choice; None for a key the menu does not offer (or none)."""
    if pressed == "9":
        pressed = Choice.AGENT.value
    for choice in choices:
        if choice.value == pressed:
            return choice
    return None


@dataclass(frozen=True, slots=True)
class Owed:
    """What a customer owes in one currency: in all, and of it overdue (minor units)."""

    currency: str
    balance_minor: int
    overdue_minor: int


def owed_by_currency(accounts: Iterable[tuple[str, int]],
                     overdue: Iterable[tuple[str, int]]) -> tuple[Owed, ...]:  # fmt: skip
    """(currency, balance) per account and (currency, outstanding) per overdue invoice,
    summed per currency in the order the accounts came."""
    balances: dict[str, int] = {}
    for currency, amount in accounts:
        balances[currency] = balances.get(currency, 0) + amount
    late: dict[str, int] = {}
    for currency, amount in overdue:
        late[currency] = late.get(currency, 0) + amount
    return tuple(Owed(c, b, late.get(c, 0)) for c, b in balances.items())


def balance_media(owed: Sequence[Owed], language: str, say_money: SayMoney) -> tuple[str, ...]:
    """"Your balance is ..., the overdue amount is ..." for each currency the caller owes
    in; a credit or nothing owed is "you owe nothing"."""
    media: list[str] = []
    for each in owed:
        if each.balance_minor <= 0:
            continue
        media += [BALANCE_IS, *say_money(each.balance_minor, each.currency, language)]
        if each.overdue_minor > 0:
            media += [OVERDUE_IS, *say_money(each.overdue_minor, each.currency, language)]
        else:
            media.append(NOTHING_OVERDUE)
    return tuple(media) or (NOTHING_OWED,)


def payment_step(status: str) -> Step:
    """A capture's outcome (`CaptureOutcome.status`) as the call log keeps it."""
    return {"succeeded": Step.PAID, "pending": Step.PAYMENT_PENDING,
            "abandoned": Step.PAYMENT_ABANDONED}.get(status, Step.PAYMENT_FAILED)  # fmt: skip


def mandate_step(status: str) -> Step:
    """A phone mandate's outcome (`MandateCapture.set_up`'s status) as the call log keeps it."""
    if status in ("abandoned", "declined", "refused"):
        return Step.MANDATE_ABANDONED
    return Step.MANDATE_FAILED if status == "failed" else Step.MANDATE


def resolved(steps: Sequence[str]) -> bool:
    """Whether a caller who hangs up now leaves satisfied, without an agent."""
    return bool(steps) and Step.AGENT not in steps and steps[-1] in _COMPLETED
