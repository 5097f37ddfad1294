"""Desk operations that touch the caller's money: recording that the agent verified the
caller by questions; granting a credit and setting up a mandate (by phone or by link),
both behind the identity gate.

Registered on `pbx.callflow.desk`'s operation table when imported (desk.py imports this
module), so they run where the live calls are, like every desk operation. What is known
about the caller's identity is kept in the call log (`Call.verified`), not in the call
flow's memory: it survives a takeover by another process and is the record afterwards.
"""

from __future__ import annotations

import secrets
from typing import Any

from billing_bridge.credits import By, CreditError, credit_dict, grant_credit
from billing_bridge.payments.pay_links import deliver, mask
from billing_bridge.payments.port import ProviderError
from billing_bridge.verification_gate import AGENT_QUESTIONS, gate
from pbx.audit import Target, record
from pbx.callflow.app import CallFlow
from pbx.callflow.calls import FlowCall, Phase
from pbx.callflow.desk import Actor, DeskError, Result, _own_call, operation
from pbx.callflow.keypad_session import SessionError
from pbx.callflow.mandate_capture import SCHEME_BY_COUNTRY, MandateRequest
from pbx.db.models import Account, Call, Customer, Mandate, OutboxMessage, Tenant, User

# A DeskError's status for each `billing_bridge.credits` error code.
CREDIT_STATUS = {"not_found": 404, "invalid": 422, "forbidden": 403, "conflict": 409,
                 "balance_below_zero": 409}


def _live_call(flow: CallFlow, actor: Actor, call_id: str) -> FlowCall:
    _own_call(flow, actor, call_id)
    return flow.state.calls[call_id]


@operation
async def verify_caller(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    """The agent asked security questions and the caller answered them. Only the questions'
    names are kept ("date_of_birth", "last_payment"): never the answers."""
    call = _live_call(flow, actor, args["call_id"])
    questions = list(args["questions"])
    async with flow.database.tenant_session(actor.tenant_id) as session, session.begin():
        row = await session.get(Call, call.record_id)
        if row is None:
            raise DeskError(404, "not_found", "call not found")
        before, row.verified = row.verified, AGENT_QUESTIONS
        record(
            session, tenant_id=actor.tenant_id, actor=actor, action="call.verify",
            target=Target("call", row.id),
            details={"call_id": call.call_id, "questions": questions, "before": before},
        )  # fmt: skip
    return {"call_id": call.call_id, "verified": AGENT_QUESTIONS, "questions": questions}


async def require_verified(flow: CallFlow, actor: Actor, call: FlowCall) -> None:
    """The identity gate for money actions in a call (tenant setting): the IVR's PIN or date
    of birth, or the agent's recorded questions; 403 otherwise."""
    async with flow.database.tenant_autocommit(actor.tenant_id) as session:
        tenant = await session.get(Tenant, actor.tenant_id)
        row = await session.get(Call, call.record_id)
    if tenant is None or row is None:
        raise DeskError(404, "not_found", "call not found")
    ivr = call.verified or (row.verified if row.verified != AGENT_QUESTIONS else None)
    decision = gate(tenant.money_needs_verification, ivr, row.verified == AGENT_QUESTIONS)
    if not decision.allowed:
        raise DeskError(403, "caller_not_verified", decision.message)


@operation
async def call_with_account(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    """The call this agent is talking on with the owner of `account_id`, or None: a credit
    asked for without naming its call still meets the identity gate."""
    async with flow.database.tenant_autocommit(actor.tenant_id) as session:
        account = await session.get(Account, args["account_id"])
    if account is None:
        return None
    me = str(actor.user_id)
    talking = (
        call for call in flow.state
        if call.tenant_id == actor.tenant_id and call.agent_id == me
        and call.phase is Phase.CONNECTED and call.customer_id == account.customer_id
    )  # fmt: skip
    return next((call.call_id for call in talking), None)


@operation
async def grant_credit_in_call(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    """A credit on the caller's account, once the identity gate lets it through."""
    call = _live_call(flow, actor, args["call_id"])
    async with flow.database.tenant_session(actor.tenant_id) as session, session.begin():
        tenant = await session.get(Tenant, actor.tenant_id)
        row = await session.get(Call, call.record_id)
        user = await session.get(User, actor.user_id)
        if tenant is None or row is None or user is None:
            raise DeskError(404, "not_found", "call not found")
        # The IVR's outcome is on the live call; the agent's, in the call log only.
        ivr = call.verified or (row.verified if row.verified != AGENT_QUESTIONS else None)
        decision = gate(tenant.money_needs_verification, ivr, row.verified == AGENT_QUESTIONS)
        if not decision.allowed:
            raise DeskError(403, "caller_not_verified", decision.message)
        account = await session.get(Account, args["account_id"])
        # In a call, only the caller's own accounts: the gate vouches for this caller only.
        if account is None or account.customer_id != call.customer_id:
            raise DeskError(404, "not_found", f"no account {args['account_id']} for this caller")
        try:
            credit = await grant_credit(
                session, tenant, account_id=account.id, amount_minor=args["amount_minor"],
                currency=args.get("currency") or account.currency,
                reason_code=args["reason_code"], note=args.get("note"), call_id=row.id,
                by=By(actor.user_id, user.role, actor.label), now=flow.clock(),
            )  # fmt: skip
        except CreditError as exc:
            raise DeskError(CREDIT_STATUS[exc.code], exc.code, exc.message) from None
        return credit_dict(credit)


# --- mandates ---------------------------------------------------------------------------


async def _mandate_context(
    flow: CallFlow, actor: Actor, args: dict[str, Any]
) -> tuple[FlowCall, Account, Tenant, Customer]:
    """The live call, behind the identity gate, and the caller's own account."""
    call = _live_call(flow, actor, args["call_id"])
    await require_verified(flow, actor, call)
    if flow.payments is None:
        raise DeskError(503, "payments_unavailable", "no payment provider is configured")
    async with flow.database.tenant_autocommit(actor.tenant_id) as session:
        account = await session.get(Account, args["account_id"])
        tenant = await session.get(Tenant, actor.tenant_id)
        customer = await session.get(Customer, call.customer_id) if call.customer_id else None
    if account is None or customer is None or account.customer_id != customer.id:
        raise DeskError(404, "not_found", f"no account {args['account_id']} for this caller")
    assert tenant is not None
    return call, account, tenant, customer


def _recipient(args: dict[str, Any], call: FlowCall, customer: Customer) -> tuple[str, str]:
    channel = args.get("channel") or "sms"
    to = args.get("recipient") or (customer.email if channel == "email" else call.caller_number)
    if not to:
        raise DeskError(409, "conflict", f"no {channel} address on file: give a recipient")
    return channel, to


@operation
async def set_up_mandate_by_phone(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    """The caller keys their bank details and agrees to the consent script; the outcome
    reaches the desk as `mandate.progress` and `mandate.result` events."""
    call, account, tenant, customer = await _mandate_context(flow, actor, args)
    country = (args.get("country") or tenant.default_region).upper()
    if country not in SCHEME_BY_COUNTRY or flow.mandate_capture is None:
        raise DeskError(422, "invalid", f"no direct-debit scheme by phone for {country}")
    channel, to = _recipient(args, call, customer)
    request = MandateRequest(account.id, country, customer.name, customer.customer_ref,
                             channel, to, customer.email, actor.user_id, actor.label)  # fmt: skip
    try:
        flow.start_mandate_capture(call, request)
    except SessionError as exc:
        raise DeskError(409, "conflict", str(exc)) from None
    return {"status": "started", "scheme": SCHEME_BY_COUNTRY[country]}


@operation
async def send_mandate_link(flow: CallFlow, actor: Actor, args: dict[str, Any]) -> Result:
    """The provider's hosted mandate set-up, sent by SMS or email; webhooks keep it current."""
    call, account, tenant, customer = await _mandate_context(flow, actor, args)
    assert flow.payments is not None
    scheme = args.get("scheme") or SCHEME_BY_COUNTRY.get(tenant.default_region, "sepa_core")
    channel, to = _recipient(args, call, customer)
    key = f"call{call.record_id}-mandate-link-{secrets.token_hex(8)}"
    try:
        result = await flow.payments.create_mandate_link(
            scheme=scheme, idempotency_key=key, customer_ref=customer.customer_ref,
            customer_name=customer.name,
        )  # fmt: skip
    except ProviderError as exc:
        raise DeskError(503, "provider_unavailable", f"the provider refused: {exc}") from None
    async with flow.database.tenant_session(actor.tenant_id) as session, session.begin():
        mandate = Mandate(customer_id=customer.id, account_id=account.id,
                          provider=flow.payments.name, provider_ref=result.provider_ref,
                          scheme=scheme, status=result.status.value)  # fmt: skip
        session.add(mandate)
        await session.flush()
        message = OutboxMessage(channel=channel, recipient=to, subject="Set up your direct debit",
                                body=f"Set up your direct debit ({scheme}): {result.setup_url}",
                                call_id=call.record_id, mandate_id=mandate.id)  # fmt: skip
        session.add(message)
        await session.flush()
        record(session, tenant_id=actor.tenant_id, actor=actor, action="mandate.link",
               target=Target("mandate", mandate.id),
               details={"account_id": account.id, "scheme": scheme, "to": mask(to)})  # fmt: skip
        mandate_id, message_id = mandate.id, message.id
    sent = await deliver(flow.database, flow.sender, actor.tenant_id, message_id,
                         now=flow.clock())  # fmt: skip
    return {"mandate_id": mandate_id, "scheme": scheme, "status": result.status.value,
            "url": result.setup_url, "sent": sent, "to": mask(to)}  # fmt: skip
