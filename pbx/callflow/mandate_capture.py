"""A direct-debit mandate set up by phone: the caller keys their bank details, hears the
consent script and agrees on the keypad; the recording stays on (the consent is evidence).

Bank details by country, as the schemes take them: Israel (MASAV) bank, branch and account;
the UK (Bacs) sort code and account; Lithuania (SEPA) the IBAN's digits after "LT"; the US
(ACH) routing and account numbers. Each is checked (`bank_accounts`) before anything is
sent; the agent sees only progress. The mandate is kept pending until the provider's
webhooks move it on, and the confirmation the payer must receive is queued in the outbox.

A consent the caller never heard is not a consent: the business's consent script for the
scheme (`prompts.mandate_consent`) and the "press 1 to agree" prompt are each played to
their end (`KeypadSession.must_play`) before a key counts, and keys pressed before the
script ended are dropped. If any of it was not played, nothing is created (no provider
call, no row): the mandate is abandoned with the reason for the agent
(`consent_not_played`), and the audit log and the log say so.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from billing_bridge.events import changes
from billing_bridge.mandate_links import SCHEME_BY_COUNTRY
from billing_bridge.payments import bank_accounts, provider_customers
from billing_bridge.payments.bank_accounts import BankAccountError
from billing_bridge.payments.pay_links import MessageSender, deliver, mask
from billing_bridge.payments.port import BankAccount, MandateResult, PaymentProvider, ProviderError
from pbx.audit import By, Target, record
from pbx.callflow import prompts
from pbx.callflow.calls import FlowCall
from pbx.callflow.keypad_session import KeypadSession, KeypadSessions
from pbx.db.database import Database
from pbx.db.models import Mandate, OutboxMessage, Tenant
from pbx.events import payloads as desk

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MandateRequest:
    account_id: int
    country: str
    holder: str
    customer_ref: str
    confirm_channel: str  # where the payer's confirmation goes: sms or email
    confirm_to: str
    email: str | None  # the customer's, for the provider's own notices to the payer
    actor_id: int | None  # None: the caller in the IVR's self-service
    actor_label: str


@dataclass(frozen=True)
class _Check:
    ok: bool
    progress: str


def _digits(name: str, shortest: int, longest: int) -> Callable[[str], _Check]:
    def check(keyed: str) -> _Check:
        if keyed.isdigit() and shortest <= len(keyed) <= longest:
            return _Check(True, f"{name}: {len(keyed)} digits")
        return _Check(False, f"{name}: {len(keyed)} digits, not what it takes — asked again")

    return check


class MandateCapture:
    def __init__(
        self, sessions: KeypadSessions, provider: PaymentProvider, database: Database,
        sender: MessageSender, clock: Callable[[], datetime],
    ) -> None:  # fmt: skip
        self.sessions, self.provider, self.database = sessions, provider, database
        self.sender, self.clock = sender, clock

    async def set_up(self, call: FlowCall, request: MandateRequest) -> dict[str, Any]:
        async with self.sessions.open(call, "mandate", pause_reason=None) as session:
            outcome = await self._by_phone(session, request)
        session.tell(desk.MandateResult(call_id=call.call_id, record_id=call.record_id,
                                        account_id=request.account_id, **outcome))
        return outcome

    async def set_up_in_ivr(
        self, session: KeypadSession, request: MandateRequest
    ) -> dict[str, Any]:
        """A mandate the caller sets up alone in the IVR's self-service, in their own session
        (`KeypadSessions.open_in_ivr`): the same details, consent and audit, no agent told."""
        return await self._by_phone(session, request)

    async def _by_phone(self, session: KeypadSession, request: MandateRequest) -> dict[str, Any]:
        account = await self._bank_details(session, request)
        if account is None:
            await session.play(prompts.MANDATE_ABANDONED)
            if session.prompt_failed:
                return {"status": "abandoned", "failure": "prompt_not_played"}
            return {"status": "abandoned"}
        scheme = SCHEME_BY_COUNTRY[request.country]
        call = session.call
        # read to the caller, and recorded; the agreement counts only once it was all heard
        consent = prompts.mandate_consent(scheme, call.tenant_slug or await self._slug(call))
        heard = await session.must_play(consent)
        agreed = (await session.field(prompts.MANDATE_AGREE, 1, _agreement, terminator="")
                  if heard else None)  # fmt: skip
        if not heard or (agreed is None and session.unheard is not None):
            return await self._consent_not_played(session, request, scheme)
        if agreed is None:
            await session.play(prompts.MANDATE_ABANDONED)
            return {"status": "declined"}
        key = f"call{session.call.record_id}-mandate-{secrets.token_hex(8)}"
        session.progress("creating", "setting up the mandate with the provider…")
        payer = await provider_customers.payer_of(
            self.database, session.call.tenant_id, session.call.customer_id, self.provider.name,
            name=account.account_holder, email=account.email,
        )  # fmt: skip
        try:
            result = await self.provider.create_mandate(
                account, scheme=scheme, idempotency_key=key, customer_ref=request.customer_ref,
                payer=payer,
            )  # fmt: skip
        except ProviderError as exc:
            log.warning("mandate for call %s not created: %s", session.call.call_id,
                        type(exc).__name__)  # fmt: skip
            await session.play(prompts.MANDATE_FAILED)
            return {"status": "failed", "failure": "provider_error"}
        mandate_id, confirmation = await self._keep(session.call, request, scheme, result)
        await session.play(prompts.MANDATE_FAILED if result.status == "failed"
                           else prompts.MANDATE_CREATED)  # fmt: skip
        return {"status": result.status.value, "mandate_id": mandate_id, "scheme": scheme,
                "confirmation": confirmation}  # fmt: skip

    async def _slug(self, call: FlowCall) -> str:
        """The business's slug for a call that did not come in through admission (a
        click-to-call): its consent scripts are named after it."""
        async with self.database.system_session() as session:
            slug = await session.scalar(select(Tenant.slug).where(Tenant.id == call.tenant_id))
        call.tenant_slug = slug or ""
        return call.tenant_slug

    async def _consent_not_played(
        self, session: KeypadSession, request: MandateRequest, scheme: str
    ) -> dict[str, Any]:
        """The caller did not hear the whole consent script: nothing is created, and the
        audit log keeps that it was abandoned and why."""
        call, how = session.call, session.unheard_outcome
        log.warning("mandate for call %s abandoned: consent script not played to the end "
                    "(%s, %s)", call.call_id, session.unheard, how)  # fmt: skip
        session.progress("consent", "the consent script could not be played to the caller "
                         "to its end: no mandate was set up")  # fmt: skip
        async with self.database.tenant_session(call.tenant_id) as db, db.begin():
            record(
                db, tenant_id=call.tenant_id, actor=By(request.actor_label, request.actor_id),
                action="mandate.abandoned", target=Target("account", request.account_id),
                details={"account_id": request.account_id, "scheme": scheme, "by": "phone",
                         "call_id": call.record_id, "reason": "consent_not_played",
                         "prompt": session.unheard, "playback": str(how)},
            )  # fmt: skip
        await session.play(prompts.MANDATE_ABANDONED)
        return {"status": "abandoned", "failure": "consent_not_played", "scheme": scheme}

    async def _bank_details(
        self, session: KeypadSession, request: MandateRequest
    ) -> BankAccount | None:
        """The fields the country's scheme takes, checked together; asked again once."""
        ask = _FIELDS[request.country]
        for _ in range(2):
            keyed = await ask(session)
            if keyed is None:
                return None
            try:
                account = _VALIDATE[request.country](keyed, request.holder)
            except BankAccountError as exc:
                session.progress("field", f"bank details: {exc.field} did not check out")
                await session.play(prompts.ENTRY_INVALID)
                continue
            session.progress("field", "bank details: valid")
            return replace(account, email=request.email)
        return None

    async def _keep(
        self, call: FlowCall, request: MandateRequest, scheme: str, result: MandateResult
    ) -> tuple[int, str]:
        """The mandate, its audit entry and the payer's confirmation, in one transaction."""
        database, tenant = self.database, call.tenant_id
        async with database.tenant_session(tenant) as session, session.begin():
            mandate = Mandate(customer_id=call.customer_id, account_id=request.account_id,
                              provider=self.provider.name, provider_ref=result.provider_ref,
                              scheme=scheme, status=result.status.value)  # fmt: skip
            session.add(mandate)
            await provider_customers.remember(
                session, tenant, call.customer_id, self.provider.name, result.provider_customer_id
            )
            await session.flush()
            await changes.mandate_created(session, mandate)
            text = (f"Your direct debit ({scheme}) for account {request.account_id} was set up "
                    f"by phone with your agreement; reference {result.provider_ref}. To cancel, "
                    "call us or your bank.")  # fmt: skip
            message = OutboxMessage(channel=request.confirm_channel, recipient=request.confirm_to,
                                    subject="Your direct debit", body=text,
                                    call_id=call.record_id, mandate_id=mandate.id)  # fmt: skip
            session.add(message)
            await session.flush()
            record(
                session, tenant_id=tenant, actor=By(request.actor_label, request.actor_id),
                action="mandate.create", target=Target("mandate", mandate.id),
                details={"account_id": request.account_id, "scheme": scheme, "by": "phone",
                         "status": result.status.value, "consent": "keypad",
                         "confirmation_to": mask(request.confirm_to)},
            )  # fmt: skip
            mandate_id, message_id = mandate.id, message.id
        sent = await deliver(database, self.sender, tenant, message_id, now=self.clock())
        return mandate_id, sent


def _agreement(keyed: str) -> _Check:
    if keyed == "1":
        return _Check(True, "consent: agreed on the keypad")
    return _Check(False, "consent: not given — asked again")


async def _israel(session: KeypadSession) -> list[str] | None:
    return await _fields(
        session,
        [
            (prompts.BANK_CODE, 2, _digits("bank", 2, 2)),
            (prompts.BANK_BRANCH, 3, _digits("branch", 3, 3)),
            (prompts.BANK_ACCOUNT, 9, _digits("account", 2, 9)),
        ],
    )


async def _uk(session: KeypadSession) -> list[str] | None:
    return await _fields(
        session,
        [
            (prompts.SORT_CODE, 6, _digits("sort code", 6, 6)),
            (prompts.BANK_ACCOUNT, 8, _digits("account", 8, 8)),
        ],
    )


async def _lithuania(session: KeypadSession) -> list[str] | None:
    return await _fields(session, [(prompts.IBAN_DIGITS, 18, _digits("IBAN", 18, 18))])


async def _us(session: KeypadSession) -> list[str] | None:
    return await _fields(
        session,
        [
            (prompts.ROUTING_NUMBER, 9, _digits("routing", 9, 9)),
            (prompts.BANK_ACCOUNT, 17, _digits("account", 4, 17)),
        ],
    )


async def _fields(
    session: KeypadSession, asked: list[tuple[tuple[str, ...], int, Callable[[str], _Check]]]
) -> list[str] | None:
    keyed: list[str] = []
    for prompt, longest, check in asked:
        value = await session.field(prompt, longest, check)
        if value is None:
            return None
        keyed.append(value)
    return keyed


_FIELDS: dict[str, Callable[[KeypadSession], Awaitable[list[str] | None]]] = {
    "IL": _israel, "GB": _uk, "LT": _lithuania, "US": _us,
}  # fmt: skip
_VALIDATE: dict[str, Callable[[list[str], str], BankAccount]] = {
    "IL": lambda f, who: bank_accounts.validate_israeli_account(f[0], f[1], f[2],
                                                                account_holder=who),
    "GB": lambda f, who: bank_accounts.validate_uk_account(f[0], f[1], account_holder=who),
    "LT": lambda f, who: bank_accounts.validate_iban("LT" + f[0], account_holder=who),
    "US": lambda f, who: bank_accounts.validate_us_account(f[0], f[1], account_holder=who),
}  # fmt: skip
