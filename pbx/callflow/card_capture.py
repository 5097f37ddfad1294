"""Secure card capture in a call: the caller keys the card on the phone, the agent hears and
sees none of it.

For the capture window the caller is taken out of the agent's bridge (the agent hears music;
no DTMF can reach the agent's leg, as it could through a bridge even with audio muted) and
the recording is paused. The caller is prompted for the number, the expiry and the security
code, each checked (length, Luhn, brand, expiry) with a re-prompt; the agent sees only
progress ("card number: 16 digits, valid (Visa)"). The card is charged with an idempotency
key, the caller hears the result, the caller is put back with the agent and the recording
resumes. A prompt for the number, the expiry or the code that could not be played (the
caller would key into silence) ends the capture before anything is charged: abandoned with
the failure `prompt_not_played`, the caller put back and the recording resumed. The digits
live in local variables and a `CardDetails` for the charge only: no
log line, event, state snapshot, database row or exception message holds them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from billing_bridge.payments import cards
from billing_bridge.payments.ledger import record_card_payment
from billing_bridge.payments.port import (
    CardDetails,
    ChargeResult,
    PaymentProvider,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
)
from billing_bridge.stripe_billing.invoice_payments import (
    InvoicePayer,
    InvoiceToPay,
    named_stripe_invoice,
    stripe_invoice_for,
)
from pbx.callflow import prompts
from pbx.callflow.calls import FlowCall
from pbx.callflow.keypad_session import KeypadSession, KeypadSessions
from pbx.db.database import Database
from pbx.events.payloads import PaymentResult

log = logging.getLogger(__name__)

CHARGE_TRIES = 3  # the same idempotency key each time: a retry never charges twice


@dataclass(frozen=True)
class CaptureOutcome:
    status: str  # succeeded, failed, pending, abandoned
    payment_id: int | None = None
    failure: str | None = None
    card_last4: str | None = None
    balance_minor: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "payment_id": self.payment_id, "failure": self.failure,
                "card_last4": self.card_last4, "balance_minor": self.balance_minor}  # fmt: skip


@dataclass(frozen=True)
class CaptureRequest:
    account_id: int
    amount_minor: int
    currency: str
    actor_id: int | None  # None: the caller in the IVR's self-service
    actor_label: str
    invoice_id: int | None = None  # the invoice the agent named (checked open, owing this)


class CardCapture:
    def __init__(
        self,
        sessions: KeypadSessions,  # one keypad session at a time per call, card or bank
        provider: PaymentProvider,
        database: Database,
        today: Callable[[], date],
    ) -> None:
        self.sessions, self.provider, self.database, self.today = (
            sessions, provider, database, today
        )

    def check(self, call: FlowCall) -> None:
        """Raises `SessionError` if a capture cannot start on this call now."""
        self.sessions.caller_of(call)

    async def take_payment(self, call: FlowCall, request: CaptureRequest) -> CaptureOutcome:
        self.check(call)
        async with self.sessions.open(call, "payment", "card capture") as session:
            outcome = await self._capture_and_charge(session, request)
        session.tell(PaymentResult(
            call_id=call.call_id, record_id=call.record_id, status=outcome.status,
            payment_id=outcome.payment_id, failure=outcome.failure,
            card_last4=outcome.card_last4, balance_minor=outcome.balance_minor,
            amount_minor=request.amount_minor, currency=request.currency,
            account_id=request.account_id,
        ))  # fmt: skip
        return outcome

    async def take_in_ivr(self, session: KeypadSession, request: CaptureRequest) -> CaptureOutcome:
        """A payment the caller makes alone in the IVR's self-service, in their own session
        (`KeypadSessions.open_in_ivr`): the same capture and charge, no agent told."""
        return await self._capture_and_charge(session, request)

    async def _capture_and_charge(
        self, session: KeypadSession, request: CaptureRequest
    ) -> CaptureOutcome:
        card = await self._collect(session)
        if card is None:
            await session.play(prompts.PAYMENT_ABANDONED)
            if session.prompt_failed:
                log.warning("card capture on call %s abandoned: a prompt was not played (%s)",
                            session.call.call_id, session.unheard)  # fmt: skip
                return CaptureOutcome("abandoned", failure="prompt_not_played")
            return CaptureOutcome("abandoned")
        call = session.call
        try:
            key = f"call{call.record_id}-card-{secrets.token_hex(8)}"
            session.progress("charging", "charging the card…")
            invoice = await self._provider_invoice(call, request)
            result = await self._charge(card, request, key, call, invoice)
        finally:
            card.wipe()
        outcome = await self._record(call, request, key, result, invoice)
        await session.play(_result_prompt(result))
        return outcome

    async def _collect(self, session: KeypadSession) -> CardDetails | None:
        number = await session.field(prompts.CARD_NUMBER, 19, cards.check_number)
        if number is None:
            return None
        brand = cards.check_number(number).brand
        today = self.today()
        expiry = await session.field(prompts.CARD_EXPIRY, 4,
                                     lambda keyed: cards.check_expiry(keyed, today))  # fmt: skip
        if expiry is None:
            return None
        cvc = await session.field(prompts.CARD_CVC, 4,
                                  lambda keyed: cards.check_cvc(keyed, brand))  # fmt: skip
        if cvc is None:
            return None
        checked = cards.check_expiry(expiry, today)
        assert checked.month is not None and checked.year is not None
        return CardDetails(number, checked.month, checked.year, cvc)

    async def _provider_invoice(
        self, call: FlowCall, request: CaptureRequest
    ) -> InvoiceToPay | None:
        """The provider's own invoice this payment pays there (a Stripe Billing invoice): the
        one the agent named, or with none named the one the amount matches."""
        if not isinstance(self.provider, InvoicePayer):
            return None
        if request.invoice_id is not None:
            return await named_stripe_invoice(self.database, call.tenant_id,
                                              request.account_id, request.invoice_id)  # fmt: skip
        return await stripe_invoice_for(self.database, call.tenant_id, request.account_id,
                                        request.amount_minor, request.currency)  # fmt: skip

    async def _charge(
        self, card: CardDetails, request: CaptureRequest, key: str, call: FlowCall,
        invoice: InvoiceToPay | None,
    ) -> ChargeResult:  # fmt: skip
        for attempt in range(1, CHARGE_TRIES + 1):
            try:
                if invoice is not None and isinstance(self.provider, InvoicePayer):
                    return await self.provider.pay_invoice_by_card(
                        card, invoice_ref=invoice.provider_ref, amount_minor=request.amount_minor,
                        currency=request.currency, idempotency_key=key,
                    )  # fmt: skip
                return await self.provider.charge_card(
                    card, amount_minor=request.amount_minor, currency=request.currency,
                    idempotency_key=key, description=f"Payment by phone, call {call.record_id}",
                    customer_ref=str(call.customer_id or ""),
                )  # fmt: skip
            except ProviderUnavailable as exc:
                log.warning("card charge for call %s: provider unavailable (try %d): %s",
                            call.call_id, attempt, type(exc).__name__)  # fmt: skip
            except ProviderError as exc:
                log.error("card charge for call %s refused by the provider: %s", call.call_id,
                          type(exc).__name__)  # fmt: skip
                break
        return ChargeResult(PaymentStatus.FAILED, provider_ref="", failure_code="provider_error",
                            failure_message="the payment could not be processed; nothing was "
                            "charged", card_last4=card.last4 or None)  # fmt: skip

    async def _record(
        self, call: FlowCall, request: CaptureRequest, key: str, result: ChargeResult,
        invoice: InvoiceToPay | None,
    ) -> CaptureOutcome:  # fmt: skip
        taken = await record_card_payment(
            self.database, call.tenant_id, account_id=request.account_id,
            call_id=call.record_id, amount_minor=request.amount_minor,
            currency=request.currency, provider=self.provider.name, idempotency_key=key,
            result=result, actor_id=request.actor_id, actor_label=request.actor_label,
            invoice_id=request.invoice_id or (invoice.invoice_id if invoice else None),
        )  # fmt: skip
        return CaptureOutcome(taken.status, taken.payment_id, result.failure_code,
                              result.card_last4, taken.balance_minor)  # fmt: skip


def _result_prompt(result: ChargeResult) -> tuple[str, ...]:
    if result.status is PaymentStatus.SUCCEEDED:
        return prompts.PAYMENT_ACCEPTED
    if result.status is PaymentStatus.PENDING:
        return prompts.PAYMENT_PENDING
    return prompts.PAYMENT_DECLINED
