"""Self-service in the IVR, the effects: identify the caller if the line could not, offer the
menu, read the balance out, take a payment or a mandate, record a promise to pay, and say on
the call (and the call log) what the caller did, until they hang up or ask for an agent.

Runs inside admission's task for the call, before the queue; the caller may hang up at any
await (the requests then raise `AriNotFound`, which admission settles). The decisions are
in `self_service.py`; the caller's steps are written to the call log as they happen, so a
hangup leaves the record true without anything to do at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy import select

from billing_bridge.ivr_identity import Identified, IvrIdentity, Method
from billing_bridge.screen_pop import customer_panel
from pbx.callflow import keypad, prompts
from pbx.callflow.call_work import AdmissionWork
from pbx.callflow.calls import FlowCall, Phase
from pbx.callflow.self_service import (
    CONFIRM_KEY,
    ENTER_ACCOUNT,
    MAX_ACTIONS,
    NOT_IDENTIFIED,
    NOTHING_OWED,
    PROMISE_RECORDED,
    PROMISE_REFUSED,
    Choice,
    SayMoney,
    Step,
    balance_media,
    choice_of,
    menu_media,
    offered,
    owed_by_currency,
    promise_due,
    promise_media,
    resolved,
)
from pbx.callflow.self_service_config import Identify, SelfServiceMenu
from pbx.callflow.self_service_money import IvrMoneyDesk
from pbx.callflow.self_service_promise import IvrPromises
from pbx.db.models import Customer
from pbx.voice.saying import day as say_day
from pbx.voice.saying import money as say_money

log = logging.getLogger(__name__)

LANGUAGES = ("he", "lt", "en")  # the languages the prompts ship in
Unrecorded = Callable[[Awaitable[None]], Awaitable[None]]


class IvrMoney(Protocol):
    """A payment or a mandate taken in the IVR, with nobody but the caller on the line."""

    @property
    def takes_cards(self) -> bool: ...

    @property
    def takes_mandates(self) -> bool: ...

    async def pay(self, call: FlowCall, account_id: int, amount_minor: int,
                  currency: str, language: str) -> str: ...  # fmt: skip

    async def mandate(self, call: FlowCall, account_id: int, language: str) -> str: ...


def money_of(flow: AdmissionWork) -> IvrMoney | None:
    """The call flow's payments and mandates in the IVR, when it takes any."""
    if flow.card_capture is None and flow.mandate_capture is None:
        return None
    return IvrMoneyDesk(flow.keypad_sessions, flow.card_capture, flow.mandate_capture,
                        flow.database, say_money)  # fmt: skip


async def serve(
    flow: AdmissionWork, call: FlowCall, menu: SelfServiceMenu, *, money: IvrMoney | None,
    unrecorded: Unrecorded, language: str | None = None, say: SayMoney | None = None,
) -> None:  # fmt: skip
    """Returns when the caller is to go on to the queue (or has hung up)."""
    run = _Run(flow, call, menu, say or say_money, money, language)
    if call.customer_id is None:
        if menu.identify is Identify.NONE:
            return
        await unrecorded(run.identify())
        if call.customer_id is None or call.phase is Phase.ENDED:
            return
    if call.verified == "failed":
        return  # the line's own check failed: an agent verifies them
    await run.menu()


class _Run:
    def __init__(
        self, flow: AdmissionWork, call: FlowCall, menu: SelfServiceMenu, say_money: SayMoney,
        money: IvrMoney | None, language: str | None,
    ) -> None:  # fmt: skip
        self.flow, self.call, self.settings = flow, call, menu
        self.say_money, self.money, self.language = say_money, money, language
        self.identified_account: int | None = None
        self.promises = IvrPromises(flow.database, flow.clock)
        assert call.caller_channel is not None
        self.channel: str = call.caller_channel

    # --- identification --------------------------------------------------------------------

    async def identify(self) -> None:
        """Account number, then the PIN or date of birth, `identify_attempts` times."""
        flow, call, menu = self.flow, self.call, self.settings
        method = Method(menu.identify.value)
        secret_prompt = prompts.ENTER_PIN if method is Method.PIN else prompts.ENTER_DATE_OF_BIRTH
        service = IvrIdentity(flow.database)
        digits = flow.keypads.listen(self.channel)
        try:
            for _ in range(menu.identify_attempts):
                number = await self._keyed(digits, (ENTER_ACCOUNT,), 16)
                if call.phase is Phase.ENDED:
                    return
                secret = await self._keyed(digits, secret_prompt, 8)
                if call.phase is Phase.ENDED:
                    return
                now = flow.clock()
                found = await service.identify(
                    call.tenant_id, account_number=number, method=method, keyed=secret,
                    call_record_id=call.record_id, now=now, today=now.date(),
                )  # fmt: skip
                del secret
                if isinstance(found, Identified):
                    await self._identified(found, method)
                    return
                await flow.client.play(self.channel, prompts.NOT_VERIFIED)
        finally:
            flow.keypads.stop(self.channel)
        await self._step(Step.NOT_IDENTIFIED)
        await flow.client.play(self.channel, (NOT_IDENTIFIED,))

    async def _keyed(self, digits: Any, prompt: tuple[str, ...], longest: int) -> str:
        while not digits.empty():
            digits.get_nowait()
        await self.flow.client.play(self.channel, prompt)
        return await keypad.collect(
            digits, max_digits=longest, first_timeout=self.flow.timing.first_digit,
            between_timeout=self.flow.timing.between_digits,
        )  # fmt: skip

    async def _identified(self, found: Identified, method: Method) -> None:
        flow, call = self.flow, self.call
        call.customer_id, call.priority = found.customer_id, found.priority
        call.in_arrears, call.verified, call.match = found.in_arrears, method.value, "unique"
        self.identified_account = found.account_id
        await flow.call_log.update(call.tenant_id, call.record_id, customer_id=found.customer_id,
                                   priority=found.priority, verified=method.value)  # fmt: skip
        if flow.prefetch is not None:
            flow.prefetch(call.tenant_id, found.customer_id)  # the screen-pop, meanwhile
        await flow.client.play(self.channel, prompts.VERIFIED)
        await self._step(Step.IDENTIFIED)

    # --- the menu ----------------------------------------------------------------------------

    async def menu(self) -> None:
        for _ in range(MAX_ACTIONS):
            choices = await self._offered()
            if not choices:
                return
            choice = await self._choose(choices)
            if self.call.phase is Phase.ENDED:
                return
            if choice is None:
                await self._step(Step.NO_CHOICE)
                return
            if choice is Choice.AGENT:
                await self._step(Step.AGENT)
                return
            await self._act(choice)
            if self.call.phase is Phase.ENDED:
                return
        await self._step(Step.NO_CHOICE)

    async def _offered(self) -> tuple[Choice, ...]:
        """The menu now: a promise only to a caller with something overdue who has not been
        offered one on this call."""
        money, promise = self.money, False
        if self.settings.promise:
            owed, _ = await self._owed()
            promise = promise_due(owed, self.call.self_service)
        return offered(self.settings, takes_cards=bool(money and money.takes_cards),
                       takes_mandates=bool(money and money.takes_mandates),
                       promise=promise)  # fmt: skip

    async def _choose(self, choices: tuple[Choice, ...]) -> Choice | None:
        for _ in range(self.settings.attempts):
            pressed = await self._key(menu_media(choices))
            if self.call.phase is Phase.ENDED:
                return None
            choice = choice_of(pressed, choices)
            if choice is not None:
                return choice
            await self.flow.client.play(self.channel, prompts.INVALID_CHOICE)
        return None

    async def _key(self, media: tuple[str, ...]) -> str:
        """One key pressed during or after `media` ("" for none in time)."""
        flow = self.flow
        digits = flow.keypads.listen(self.channel)
        try:
            await flow.client.play(self.channel, media)
            return await keypad.collect(
                digits, max_digits=1, first_timeout=flow.timing.first_digit,
                between_timeout=flow.timing.between_digits, terminator="",
            )  # fmt: skip
        finally:
            flow.keypads.stop(self.channel)

    async def _act(self, choice: Choice) -> None:
        owed, language = await self._owed()
        if choice is Choice.BALANCE:
            await self.flow.client.play(self.channel,
                                        balance_media(owed, language, self.say_money))  # fmt: skip
            await self._step(Step.BALANCE)
            return
        if choice is Choice.PROMISE:
            await self._step(await self._promise(owed, language))
            return
        assert self.money is not None
        account = self._account_to_pay(owed)
        if choice is Choice.MANDATE:
            account = account or self._any_account
            if account is None:  # no account to collect for
                await self._step(Step.MANDATE_FAILED)
                return
            await self._step(Step(await self.money.mandate(self.call, account[0], language)))
            return
        if account is None or account[1] <= 0:
            await self.flow.client.play(self.channel, (NOTHING_OWED,))
            await self._step(Step.NOTHING_OWED)
            return
        account_id, amount, currency = account
        step = await self.money.pay(self.call, account_id, amount, currency, language)
        await self._step(Step(step))

    async def _promise(self, owed: Any, language: str) -> Step:
        """The business's promise read out; made on "1", refused by the rules as said."""
        account = self._account_to_pay(owed)
        offer = await self.promises.offer(self.call, account[0]) if account else "nothing_owed"
        if isinstance(offer, str):
            await self.flow.client.play(self.channel, (PROMISE_REFUSED,))
            return Step.PROMISE_REFUSED
        assert account is not None
        media = promise_media(offer.amount_minor, account[2], offer.due_on, language,
                              self.say_money, say_day)  # fmt: skip
        if await self._key(media) != CONFIRM_KEY or self.call.phase is Phase.ENDED:
            return Step.PROMISE_DECLINED
        if isinstance(await self.promises.make(self.call, offer), str):
            await self.flow.client.play(self.channel, (PROMISE_REFUSED,))
            return Step.PROMISE_REFUSED
        await self.flow.client.play(self.channel, (PROMISE_RECORDED,))
        if self.flow.prefetch is not None and self.call.customer_id is not None:
            self.flow.prefetch(self.call.tenant_id, self.call.customer_id)  # the pop shows it
        return Step.PROMISED

    # --- what the caller owes ----------------------------------------------------------------

    async def _owed(self) -> tuple[Any, str]:
        """What the caller owes per currency, and the language to say it in."""
        call = self.call
        assert call.customer_id is not None
        panel = await customer_panel(self.flow.database, call.tenant_id, call.customer_id,
                                     self.flow.clock().date())  # fmt: skip
        accounts = panel["accounts"] if panel else []
        overdue = panel["overdue_invoices"] if panel else []
        self._accounts = [(a["id"], int(a["balance_minor"]), a["currency"]) for a in accounts
                          if a["status"] != "closed"]  # fmt: skip
        owed = owed_by_currency(((a["currency"], int(a["balance_minor"])) for a in accounts),
                                ((i["currency"], int(i["outstanding_minor"])) for i in overdue))
        return owed, await self._language()

    async def _language(self) -> str:
        """The caller channel's language (the route's or the business's, as Asterisk plays
        the prompts in it); without one, the customer's, else English."""
        if self.language in LANGUAGES:
            return str(self.language)
        async with self.flow.database.tenant_autocommit(self.call.tenant_id) as session:
            spoken = await session.scalar(
                select(Customer.language).where(Customer.id == self.call.customer_id)
            )
        return spoken if spoken in LANGUAGES else "en"

    def _account_to_pay(self, owed: Any) -> tuple[int, int, str] | None:
        """The account the caller named when identifying, else the one owing the most."""
        accounts = self._accounts
        named = [a for a in accounts if a[0] == self.identified_account]
        if named:
            return named[0]
        owing = sorted((a for a in accounts if a[1] > 0), key=lambda a: (-a[1], a[0]))
        return owing[0] if owing else None

    @property
    def _any_account(self) -> tuple[int, int, str] | None:
        return self._accounts[0] if self._accounts else None

    # --- the record --------------------------------------------------------------------------

    async def _step(self, step: Step) -> None:
        call = self.call
        call.self_service.append(step.value)
        await self.flow.call_log.update(
            call.tenant_id, call.record_id, self_service=list(call.self_service),
            self_service_resolved=resolved(call.self_service),
        )  # fmt: skip
        await self.flow.save()
