"""The payment-provider port: what Ledgerline asks of Stripe, GoCardless or the sandbox.

Adapters (`billing_bridge/payments/sandbox.py`, `stripe_provider.py`, `gocardless_provider.py`)
translate; they decide nothing about money (amounts, retries and who may do what are
Ledgerline's). Every call that can move money carries an idempotency key: the same key sent
twice gives the same result and moves money once.

Card data: `CardDetails` lives in memory only, for the length of one charge. It is never
logged, never put in an exception message, never serialised; `wipe()` overwrites it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pbx.free_text import cap, clean_text

MAX_FAILURE_CODE = 64  # collection_attempts.failure_code


class PaymentStatus(StrEnum):
    """A charge's result is one of the first three; the rest come later, by webhook (which
    moves are allowed, and what each does to the balance: `payments.transitions`)."""

    SUCCEEDED = "succeeded"
    PENDING = "pending"  # e.g. a direct debit submitted, settled in days
    FAILED = "failed"
    CANCELLED = "cancelled"  # withdrawn before it was paid (Stripe canceled, GoCardless cancelled)
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CHARGED_BACK = "charged_back"  # the payer's bank took the money back (a dispute lost)


class MandateStatus(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    ACTIVE = "active"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ProviderError(Exception):
    """The provider refused or failed for a reason a retry will not fix (bad request,
    authentication). The message names what, never card data or secrets."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or answered 5xx/429: retry with the same key."""


class CardDetails:
    """A card as keyed by the caller, for one charge. Never printed, compared or pickled."""

    __slots__ = ("_cvc", "_exp_month", "_exp_year", "_number")

    def __init__(self, number: str, exp_month: int, exp_year: int, cvc: str) -> None:
        self._number, self._exp_month, self._exp_year, self._cvc = number, exp_month, exp_year, cvc

    @property
    def number(self) -> str:
        return self._number

    @property
    def exp_month(self) -> int:
        return self._exp_month

    @property
    def exp_year(self) -> int:
        return self._exp_year

    @property
    def cvc(self) -> str:
        return self._cvc

    @property
    def last4(self) -> str:
        return self._number[-4:]

    def wipe(self) -> None:
        """Drop the references (Python strings cannot be overwritten in place; keeping them
        short-lived and unreferenced is what we can do)."""
        self._number, self._cvc, self._exp_month, self._exp_year = "", "", 0, 0

    def __repr__(self) -> str:
        return "CardDetails(****)"

    __str__ = __repr__

    def __reduce__(self) -> object:
        raise TypeError("card details are never serialised")


@dataclass(frozen=True)
class BankAccount:
    """Bank details for a direct-debit mandate, as validated by `bank_accounts` (not secret
    like a card, but kept out of logs all the same)."""

    country: str  # ISO 3166-1 alpha-2
    account_holder: str
    iban: str | None = None  # SEPA countries (e.g. LT)
    bank_code: str | None = None  # IL bank number, GB sort code, US routing number
    branch_code: str | None = None  # IL branch
    account_number: str | None = None
    # Where the provider sends the payer's mandate notices (Stripe's SEPA and Bacs and
    # GoCardless require one for a mandate set up by phone).
    email: str | None = None

    def __repr__(self) -> str:
        tail = (self.iban or self.account_number or "")[-4:]
        return f"BankAccount({self.country}, ****{tail})"


@dataclass(frozen=True)
class Payer:
    """Who a mandate is for, as the provider's customer record needs them, and the provider's
    customer made for them before (reused: one provider customer per Ledgerline customer)."""

    name: str
    email: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    address_city: str | None = None
    address_postal_code: str | None = None
    address_country: str | None = None  # ISO 3166-1 alpha-2
    provider_customer_id: str | None = None

    def missing_address(self) -> list[str]:
        """The postal address fields a scheme that needs one (Bacs by phone) lacks."""
        required = ("address_line1", "address_city", "address_postal_code", "address_country")
        return [name for name in required if not getattr(self, name)]


@dataclass(frozen=True)
class ChargeResult:
    status: PaymentStatus
    provider_ref: str  # the provider's id of the payment (PaymentIntent, payment, ...)
    failure_code: str | None = None  # e.g. card_declined, insufficient_funds
    failure_message: str | None = None  # safe to show the agent and the caller
    card_last4: str | None = None
    card_brand: str | None = None

    def __post_init__(self) -> None:
        # The provider's words are kept and shown: cleaned, card numbers masked, capped.
        for name, limit in (("failure_code", MAX_FAILURE_CODE), ("failure_message", 200)):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, cap(clean_text(str(value)[: limit * 2]), limit))


@dataclass(frozen=True)
class PayLink:
    url: str
    provider_ref: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class MandateResult:
    status: MandateStatus
    provider_ref: str  # the mandate's id at the provider (or the billing request's, by link)
    scheme: str  # bacs, sepa_core, ach, masav (IL), ...
    setup_url: str | None = None  # for a mandate set up by link
    # The provider's customer the mandate belongs to (made now, or the payer's, reused).
    provider_customer_id: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    """A provider's event, normalised. `resource` is "payment", "mandate" or "pay_link"."""

    event_id: str
    type: str  # the provider's own type, e.g. payment_intent.succeeded, mandates.active
    resource: str
    provider_ref: str
    status: str | None  # a PaymentStatus or MandateStatus value, when the event sets one
    occurred_at: datetime
    raw_type_known: bool = True  # False: an event type we do not act on (logged, acked)
    details: Mapping[str, str] = field(default_factory=dict)


class WebhookRejected(Exception):
    """The signature did not verify (or the payload is not the provider's)."""


class WebhookMalformed(WebhookRejected):
    """Signed, but a field is not what the provider's API describes (wrong type, missing,
    too long, out of range). The message names the field, never its value."""

    def __init__(self, field: str) -> None:
        super().__init__(f"malformed field {field}")
        self.field = field


class PaymentProvider(Protocol):
    name: str  # "sandbox", "stripe", "gocardless"

    async def charge_card(
        self,
        card: CardDetails,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        customer_ref: str,
    ) -> ChargeResult:
        """A telephone (MOTO) card payment, taken now."""

    async def charge_mandate(
        self,
        mandate_ref: str,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        """Collect against an active mandate (direct debit) or a card on file."""

    async def create_pay_link(
        self,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
        customer_ref: str,
    ) -> PayLink: ...

    async def create_mandate_link(
        self, *, scheme: str, idempotency_key: str, customer_ref: str, customer_name: str,
        payer: Payer | None = None,
    ) -> MandateResult:  # fmt: skip
        """A mandate set up by the payer through the provider's hosted flow."""

    async def create_mandate(
        self, account: BankAccount, *, scheme: str, idempotency_key: str, customer_ref: str,
        payer: Payer | None = None,
    ) -> MandateResult:  # fmt: skip
        """A mandate from bank details taken by phone (the consent script was read). With
        `payer`, the provider's customer is theirs (reused when it has one already)."""

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        """Verify the signature by the provider's scheme and normalise the events;
        `WebhookRejected` when it does not verify."""
