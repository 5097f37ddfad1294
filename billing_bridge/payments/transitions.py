"""Which way a payment's status may move, and what each move does to what the customer owes
(pure: no I/O).

A provider's event names the status it says a payment has now. `decide` compares it with the
status Ledgerline keeps and answers with one of:

- `Apply`: the move is in the table; the payment takes the new status, and when the move
  changes what the customer owes it carries the balancing entry (`kind`, `amount_minor`,
  signed as the balance is: negative lowers what is owed). The caller writes the status,
  the entry and the balance in one transaction.
- `Hold`: a move that real providers make only in unusual cases, and that a forged, buggy or
  misrouted event could also make (a succeeded payment "failed" by a different event; a
  cancelled one succeeding): nothing changes; it is held for a supervisor, who applies or
  dismisses it (`payment_reviews`).
- `Unchanged`: the payment is already there (a second event of the same status, e.g.
  GoCardless's confirmed then paid_out, or a refund total already counted).

The table (from -> to: effect on the balance):

    pending            -> succeeded: - amount          (paid)
    pending            -> failed, cancelled: none
    failed             -> succeeded: - amount          (a late success: Stripe's PaymentIntent
                                                        paid by another method after a
                                                        decline; GoCardless's payment
                                                        resubmitted. Money that arrived is
                                                        applied, not held)
    failed             -> pending: none                (resubmitted)
    failed             -> cancelled: none
    succeeded          -> partially_refunded: + the refund
    succeeded          -> refunded: + what was not yet refunded
    partially_refunded -> partially_refunded: + the further refund
    partially_refunded -> refunded: + the rest
    succeeded, partially_refunded -> charged_back: + what was not refunded
    charged_back       -> succeeded: - what the chargeback had added back (the dispute won)
    anything else (succeeded -> failed / pending / cancelled, cancelled -> succeeded,
    refunded -> succeeded, ...): held for review.

Every entry follows one rule, so a move a supervisor approves is balanced the same way: the
balance changes by what the payment took off it before (`paid`: the amount less refunds while
succeeded or partially refunded, else nothing) less what it takes off after.

Refund amounts: an event carries the total refunded so far (`refunded_minor`, as Stripe's
`amount_refunded` is), so a repeated or reordered refund event never counts a refund twice;
without an amount a refund is taken as whole. A refund total above the amount is the amount.
"""

from __future__ import annotations

from dataclasses import dataclass

PENDING, SUCCEEDED, FAILED, CANCELLED = "pending", "succeeded", "failed", "cancelled"
PARTIALLY_REFUNDED, REFUNDED, CHARGED_BACK = "partially_refunded", "refunded", "charged_back"
REFUNDS = frozenset({PARTIALLY_REFUNDED, REFUNDED})
PAID = frozenset({SUCCEEDED, PARTIALLY_REFUNDED})  # money the customer has paid and keeps paid


@dataclass(frozen=True)
class Payment:
    """What the decision needs of a payment as kept."""

    status: str
    amount_minor: int
    refunded_minor: int = 0


@dataclass(frozen=True)
class Apply:
    status: str
    refunded_minor: int  # the payment's refunded total after the move
    kind: str | None = None  # the balancing entry's kind; None: the balance does not move
    amount_minor: int = 0  # signed as the balance: negative lowers what is owed


@dataclass(frozen=True)
class Hold:
    reason: str


@dataclass(frozen=True)
class Unchanged:
    pass


Decision = Apply | Hold | Unchanged


def decide(payment: Payment, to: str, refunded_total: int | None = None) -> Decision:
    """The move of `payment` to the status `to` an event names; `refunded_total`: the total
    refunded the event reports (refund events only; None: all of it)."""
    was = payment.status
    if to in REFUNDS:
        if was not in PAID and was != REFUNDED:
            return Hold(f"a {was} payment cannot be refunded: it was never paid")
        total = _refund_total(payment, to, refunded_total)
        if total <= payment.refunded_minor:
            return Unchanged()  # counted already (a repeated or reordered refund event)
        return move(payment, REFUNDED if total == payment.amount_minor else PARTIALLY_REFUNDED,
                    total)  # fmt: skip
    if to == was:
        return Unchanged()
    if (was, to) in _ALLOWED:
        return move(payment, to, payment.refunded_minor)
    return Hold(f"a {was} payment cannot become {to} on a provider's event alone")


_ALLOWED = frozenset({
    (PENDING, SUCCEEDED), (PENDING, FAILED), (PENDING, CANCELLED),
    (FAILED, SUCCEEDED), (FAILED, PENDING), (FAILED, CANCELLED),
    (SUCCEEDED, CHARGED_BACK), (PARTIALLY_REFUNDED, CHARGED_BACK),
    (CHARGED_BACK, SUCCEEDED),
})  # fmt: skip


def move(payment: Payment, to: str, refunded_total: int) -> Apply:
    """The move, allowed or approved by a supervisor, with its balancing entry: the balance
    changes by what the payment took off it before, less what it takes off after."""
    change = paid(payment.status, payment.amount_minor, payment.refunded_minor) - paid(
        to, payment.amount_minor, refunded_total
    )
    if change == 0:
        return Apply(to, refunded_total)
    return Apply(to, refunded_total, _kind(payment.status, to), change)


def paid(status: str, amount_minor: int, refunded_minor: int) -> int:
    """What a payment in `status` takes off its account's balance."""
    return amount_minor - refunded_minor if status in PAID else 0


def _kind(was: str, to: str) -> str:
    if to in REFUNDS:
        return "refund"
    if to == CHARGED_BACK:
        return "chargeback"
    if was == CHARGED_BACK:
        return "chargeback_reversed"
    return "payment" if to in PAID else "payment_reversed"


def _refund_total(payment: Payment, to: str, refunded_total: int | None) -> int:
    amount = payment.amount_minor
    total = amount if refunded_total is None or to == REFUNDED else refunded_total
    return min(max(total, 0), amount)
