"""Desk operations that touch the caller's money: recording that the agent verified the
caller by questions, and granting a credit behind the identity gate.

Registered on `pbx.callflow.desk`'s operation table when imported (desk.py imports this
module), so they run where the live calls are, like every desk operation. What is known
about the caller's identity is kept in the call log (`Call.verified`), not in the call
flow's memory: it survives a takeover by another process and is the record afterwards.
"""

from __future__ import annotations

from typing import Any

from billing_bridge.credits import By, CreditError, credit_dict, grant_credit
from billing_bridge.verification_gate import AGENT_QUESTIONS, gate
from pbx.callflow.app import CallFlow
from pbx.callflow.calls import FlowCall
from pbx.callflow.desk import Actor, DeskError, Result, _own_call, operation
from pbx.db.models import Account, AuditEntry, Call, Tenant, User

# A DeskError's status for each `billing_bridge.credits` error code.
CREDIT_STATUS = {"not_found": 404, "invalid": 422, "forbidden": 403, "conflict": 409}


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
        session.add(AuditEntry(
            tenant_id=actor.tenant_id, actor_id=actor.user_id, actor_label=actor.label,
            action="call.verify", target_type="call", target_id=str(row.id),
            details={"call_id": call.call_id, "questions": questions, "before": before},
        ))  # fmt: skip
    return {"call_id": call.call_id, "verified": AGENT_QUESTIONS, "questions": questions}


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
