"""Payments and direct debits the caller makes alone in the IVR's self-service: the same
secure capture as in an agent's call (`card_capture`, `mandate_capture`), in a keypad
session of the caller's own (`KeypadSessions.open_in_ivr`: no bridge, no agent).

A card payment: the caller hears the amount, keys the card with the recording paused for
exactly the capture window, is charged once under an idempotency key and hears the result;
nothing of the card is kept. A mandate: bank details and the business's consent script, the
recording on (the consent is evidence), the confirmation sent to the caller's number. What
happened comes back as a `self_service.Step` for the call log.
"""

from __future__ import annotations

import logging

from billing_bridge.mandate_links import SCHEME_BY_COUNTRY, AccountNotFound, mandate_party
from billing_bridge.verification_gate import may_touch_money
from pbx.callflow import prompts
from pbx.callflow.calls import FlowCall
from pbx.callflow.card_capture import CaptureRequest, CardCapture
from pbx.callflow.keypad_session import KeypadSessions, SessionError
from pbx.callflow.mandate_capture import MandateCapture, MandateRequest
from pbx.callflow.self_service import YOU_WILL_PAY, SayMoney, Step, mandate_step, payment_step
from pbx.db.database import Database
from pbx.db.models import Tenant

log = logging.getLogger(__name__)

ACTOR = "caller:ivr"  # who the audit log says acted: the caller, on the keypad


class IvrMoneyDesk:
    """`self_service_run.IvrMoney` over the call flow's captures."""

    def __init__(
        self, sessions: KeypadSessions, cards: CardCapture | None,
        mandates: MandateCapture | None, database: Database, say_money: SayMoney,
    ) -> None:  # fmt: skip
        self.sessions, self.cards, self.mandates = sessions, cards, mandates
        self.database, self.say_money = database, say_money

    @property
    def takes_cards(self) -> bool:
        return self.cards is not None

    @property
    def takes_mandates(self) -> bool:
        return self.mandates is not None

    async def pay(
        self, call: FlowCall, account_id: int, amount_minor: int, currency: str, language: str
    ) -> str:
        assert self.cards is not None
        request = CaptureRequest(account_id, amount_minor, currency, None, ACTOR)
        try:
            session = self.sessions.open_in_ivr(call, "payment", "card capture")
        except SessionError as exc:
            log.warning("call %s: no payment in the IVR: %s", call.call_id, exc)
            return Step.PAYMENT_FAILED.value
        async with session:
            amount = (YOU_WILL_PAY, *self.say_money(amount_minor, currency, language))
            if not await session.must_play(amount):
                return Step.PAYMENT_ABANDONED.value  # not told what they would pay
            outcome = await self.cards.take_in_ivr(session, request)
        return payment_step(outcome.status).value

    async def mandate(self, call: FlowCall, account_id: int, language: str) -> str:
        assert self.mandates is not None
        if not await self._verified_for_mandates(call):
            log.info("call %s: no direct debit in the IVR: the business asks for the caller's "
                     "identity first (PIN or date of birth)", call.call_id)  # fmt: skip
            await self.sessions.player.play(call.caller_channel or "", prompts.MANDATE_FAILED)
            return Step.MANDATE_FAILED.value
        try:
            party = await mandate_party(self.database, call.tenant_id, account_id,
                                        call.customer_id)  # fmt: skip
        except AccountNotFound:
            return Step.MANDATE_FAILED.value
        country = party.region.upper()
        to, channel = (call.caller_number, "sms") if call.caller_number else (party.email, "email")
        if country not in SCHEME_BY_COUNTRY or not to:
            log.info("call %s: no direct debit by phone for %s (or nowhere to confirm it)",
                     call.call_id, country)  # fmt: skip
            return Step.MANDATE_FAILED.value
        request = MandateRequest(party.account_id, country, party.name, party.customer_ref,
                                 channel, to, party.email, None, ACTOR)  # fmt: skip
        try:
            session = self.sessions.open_in_ivr(call, "mandate", None)
        except SessionError as exc:
            log.warning("call %s: no mandate in the IVR: %s", call.call_id, exc)
            return Step.MANDATE_FAILED.value
        async with session:
            outcome = await self.mandates.set_up_in_ivr(session, request)
        return mandate_step(str(outcome.get("status", "failed"))).value

    async def _verified_for_mandates(self, call: FlowCall) -> bool:
        """The identity gate an agent's mandate passes (`verification_gate`): a business
        that asks for it wants the caller's PIN or date of birth keyed on this call."""
        async with self.database.tenant_autocommit(call.tenant_id) as session:
            tenant = await session.get(Tenant, call.tenant_id)
        required = bool(tenant and tenant.money_needs_verification)
        return may_touch_money(required, call.verified, agent_verified=False)
