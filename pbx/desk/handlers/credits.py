"""The caller's identity and credits in a call: the agent records a verification by
questions; a credit waits for the identity gate and goes on the caller's own account."""

from __future__ import annotations

from billing_bridge.call_credits import CallCredit, CreditView
from billing_bridge.verification_gate import AGENT_QUESTIONS
from pbx.desk.commands import Actor, CallWithAccount, GrantCreditInCall, VerifyCaller
from pbx.desk.handlers.common import Ports, own_call
from pbx.desk.results import CallerVerified, CallOfAccount


async def verify_caller(ports: Ports, actor: Actor, command: VerifyCaller) -> CallerVerified:
    """The agent asked security questions and the caller answered them (names only)."""
    call = own_call(ports, actor, command.call_id)
    await ports.money.record_verification(call, command.questions, actor)
    return CallerVerified(call.call_id, AGENT_QUESTIONS, command.questions)


async def call_with_account(ports: Ports, actor: Actor, command: CallWithAccount) -> CallOfAccount:
    """The call this agent is talking on with the owner of the account, if any: a credit
    asked for without naming its call still meets the identity gate."""
    owner = await ports.money.owner_of_account(actor.tenant_id, command.account_id)
    if owner is None:
        return CallOfAccount(None)
    talking = (
        call for call in ports.calls.calls(actor.tenant_id)
        if call.agent_user_id == actor.user_id and call.connected and call.customer_id == owner
    )  # fmt: skip
    return CallOfAccount(next((call.call_id for call in talking), None))


async def grant_credit_in_call(
    ports: Ports, actor: Actor, command: GrantCreditInCall
) -> CreditView:
    """A credit on the caller's account, once the identity gate lets it through."""
    call = own_call(ports, actor, command.call_id)
    return await ports.money.grant_credit_in_call(CallCredit(
        actor.tenant_id, call.record_id, call.customer_id, call.ivr_verified,
        command.account_id, command.amount_minor, command.currency, command.reason_code,
        command.note, actor.user_id, actor.label,
    ))  # fmt: skip
