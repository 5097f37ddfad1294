"""Secure card capture in a call: the caller keys the card on the phone, the agent hears and
sees none of it.

For the capture window the caller is taken out of the agent's bridge (the agent hears music;
no DTMF can reach the agent's leg, as it could through a bridge even with audio muted) and
the recording is paused. The caller is prompted for the number, the expiry and the security
code, each checked (length, Luhn, brand, expiry) with a re-prompt; the agent sees only
progress ("card number: 16 digits, valid (Visa)"). The card is charged with an idempotency
key, the caller hears the result, the caller is put back with the agent and the recording
resumes. The digits live in local variables and a `CardDetails` for the charge only: no
log line, event, state snapshot, database row or exception message holds them.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

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
from pbx.ari import AriError
from pbx.callflow import keypad, prompts
from pbx.callflow.calls import FlowCall, Phase

if TYPE_CHECKING:
    from pbx.callflow.app import CallFlow

log = logging.getLogger(__name__)

ATTEMPTS = 3  # per field, then the capture is abandoned
CHARGE_TRIES = 3  # the same idempotency key each time: a retry never charges twice


class CaptureError(Exception):
    """The capture cannot start (the call is not connected, a capture is running...)."""


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
    actor_id: int
    actor_label: str


class CardCapture:
    def __init__(
        self,
        flow: CallFlow,
        provider: PaymentProvider,
        today: Callable[[], date],
        *,
        first_digit_s: float = 10.0,
        between_digits_s: float = 5.0,
    ) -> None:
        self.flow, self.provider, self.today = flow, provider, today
        self.first_digit_s, self.between_digits_s = first_digit_s, between_digits_s
        self._running: set[str] = set()

    async def take_payment(self, call: FlowCall, request: CaptureRequest) -> CaptureOutcome:
        caller = self._start(call)
        try:
            await self._isolate(call, caller)
            try:
                outcome = await self._capture_and_charge(call, caller, request)
            finally:
                await self._restore(call, caller)
        finally:
            self._running.discard(call.call_id)
            self.flow.keypads.stop(caller)
        self._notify(call, "payment.result", outcome.to_dict() | {
            "amount_minor": request.amount_minor, "currency": request.currency,
            "account_id": request.account_id,
        })  # fmt: skip
        return outcome

    async def _capture_and_charge(
        self, call: FlowCall, caller: str, request: CaptureRequest
    ) -> CaptureOutcome:
        card = await self._collect(call, caller)
        if card is None:
            await self._play(caller, prompts.PAYMENT_ABANDONED)
            return CaptureOutcome("abandoned")
        try:
            key = f"call{call.record_id}-card-{secrets.token_hex(8)}"
            self._progress(call, "charging", "charging the card…")
            result = await self._charge(card, request, key, call)
        finally:
            card.wipe()
        outcome = await self._record(call, request, key, result)
        await self._play(caller, _result_prompt(result))
        return outcome

    def check(self, call: FlowCall) -> None:
        """Raises `CaptureError` if a capture cannot start on this call now."""
        self._caller(call)

    def _start(self, call: FlowCall) -> str:
        caller = self._caller(call)
        self._running.add(call.call_id)
        return caller

    def _caller(self, call: FlowCall) -> str:
        if call.phase is not Phase.CONNECTED or call.bridge is None or call.on_hold:
            raise CaptureError("the call is not connected to an agent")
        if call.transfer is not None:
            raise CaptureError("a transfer is in progress")
        if call.call_id in self._running:
            raise CaptureError("a card is being taken on this call already")
        caller = call.caller_channel or call.customer_channel
        if caller is None:
            raise CaptureError("nobody on the line")
        return caller

    async def _isolate(self, call: FlowCall, caller: str) -> None:
        """The caller alone with Ledgerline; the agent hears music; the recording paused."""
        if call.recording is not None:
            await self.flow.recorder.pause(call, "card capture", None)
        assert call.bridge is not None
        await self.flow.client.remove_channel(call.bridge, caller)
        with contextlib.suppress(AriError):
            await self.flow.client.bridge_start_moh(call.bridge)
        self._progress(call, "started", "the caller is keying the card; you cannot hear it")

    async def _restore(self, call: FlowCall, caller: str) -> None:
        if call.phase is Phase.ENDED or call.bridge is None:
            return
        with contextlib.suppress(AriError):
            await self.flow.client.bridge_stop_moh(call.bridge)
        try:
            await self.flow.client.add_channel(call.bridge, caller)
        except AriError as exc:
            log.warning("call %s: caller not put back after card capture: %s", call.call_id, exc)
        if call.recording is not None:
            try:
                await self.flow.recorder.resume(call, None)
            except Exception as exc:  # the capture is over either way
                log.warning("call %s: recording not resumed after capture: %s", call.call_id,
                            type(exc).__name__)  # fmt: skip
        self._progress(call, "finished", "the caller is back with you")

    async def _collect(self, call: FlowCall, caller: str) -> CardDetails | None:
        number = await self._field(call, caller, prompts.CARD_NUMBER, 19, cards.check_number)
        if number is None:
            return None
        brand = cards.check_number(number).brand
        today = self.today()
        expiry = await self._field(call, caller, prompts.CARD_EXPIRY, 4,
                                   lambda keyed: cards.check_expiry(keyed, today))  # fmt: skip
        if expiry is None:
            return None
        cvc = await self._field(call, caller, prompts.CARD_CVC, 4,
                                lambda keyed: cards.check_cvc(keyed, brand))  # fmt: skip
        if cvc is None:
            return None
        checked = cards.check_expiry(expiry, today)
        assert checked.month is not None and checked.year is not None
        return CardDetails(number, checked.month, checked.year, cvc)

    async def _field(
        self, call: FlowCall, caller: str, prompt: tuple[str, ...], longest: int,
        check: Callable[[str], Any],
    ) -> str | None:  # fmt: skip
        """The digits of one field once they pass `check`; None after ATTEMPTS or a hangup.
        Only `check(...).progress` (digit-free by construction) leaves this function."""
        digits = self.flow.keypads.listen(caller)
        for _ in range(ATTEMPTS):
            while not digits.empty():  # nothing keyed before the prompt counts
                digits.get_nowait()
            await self._play(caller, prompt)
            keyed = await keypad.collect(
                digits, max_digits=longest, first_timeout=self.first_digit_s,
                between_timeout=self.between_digits_s,
            )  # fmt: skip
            if call.phase is Phase.ENDED:
                return None
            verdict = check(keyed)
            self._progress(call, "field", verdict.progress)
            if verdict.ok:
                return keyed
            del keyed
            await self._play(caller, prompts.CARD_INVALID)
        return None

    async def _charge(
        self, card: CardDetails, request: CaptureRequest, key: str, call: FlowCall
    ) -> ChargeResult:
        for attempt in range(1, CHARGE_TRIES + 1):
            try:
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
        self, call: FlowCall, request: CaptureRequest, key: str, result: ChargeResult
    ) -> CaptureOutcome:
        taken = await record_card_payment(
            self.flow.database, call.tenant_id, account_id=request.account_id,
            call_id=call.record_id, amount_minor=request.amount_minor,
            currency=request.currency, provider=self.provider.name, idempotency_key=key,
            result=result, actor_id=request.actor_id, actor_label=request.actor_label,
        )  # fmt: skip
        return CaptureOutcome(taken.status, taken.payment_id, result.failure_code,
                              result.card_last4, taken.balance_minor)  # fmt: skip

    async def _play(self, channel: str, media: tuple[str, ...]) -> None:
        with contextlib.suppress(AriError):  # a caller who hung up hears nothing
            await self.flow.client.play(channel, media)

    def _progress(self, call: FlowCall, step: str, text: str) -> None:
        self._notify(call, "payment.progress", {"step": step, "progress": text})

    def _notify(self, call: FlowCall, kind: str, data: dict[str, Any]) -> None:
        agent = call.agent_id
        self.flow.executor.notify(kind, {
            "tenant_id": call.tenant_id, "queue": call.queue,
            "agents": [int(agent)] if agent and agent.isdigit() else [],
            "call": {"call_id": call.call_id, "record_id": call.record_id, **data},
        })  # fmt: skip


def _result_prompt(result: ChargeResult) -> tuple[str, ...]:
    if result.status is PaymentStatus.SUCCEEDED:
        return prompts.PAYMENT_ACCEPTED
    if result.status is PaymentStatus.PENDING:
        return prompts.PAYMENT_PENDING
    return prompts.PAYMENT_DECLINED
