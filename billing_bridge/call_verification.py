"""The caller's identity in a call, as the call log keeps it: the agent's verification by
questions recorded (audited), and the identity gate checked before money moves.

What is known is kept in the call log (`Call.verified`), not in the call flow's memory: it
survives a takeover by another process and is the record afterwards. The IVR's outcome on
the live call is passed in by whoever holds the call.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.verification_gate import AGENT_QUESTIONS, gate
from pbx.audit import Actor, Target, record
from pbx.db.database import Database
from pbx.db.models import Call, Tenant


class CallNotFound(LookupError):
    """The call's log row (or its business) is gone."""

    def __init__(self) -> None:
        super().__init__("call not found")


class CallerNotVerified(Exception):
    """The business asks for the caller's identity before money; `message` says what the
    agent does next."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def record_agent_verification(
    database: Database, tenant_id: int, call_record_id: int, call_id: str,
    questions: Sequence[str], actor: Actor,
) -> None:  # fmt: skip
    """The agent asked security questions and the caller answered them. Only the questions'
    names are kept ("date_of_birth", "last_payment"): never the answers."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        row = await session.get(Call, call_record_id)
        if row is None:
            raise CallNotFound()
        before, row.verified = row.verified, AGENT_QUESTIONS
        record(
            session, tenant_id=tenant_id, actor=actor, action="call.verify",
            target=Target("call", row.id),
            details={"call_id": call_id, "questions": list(questions), "before": before},
        )  # fmt: skip


async def check_verified(
    database: Database, tenant_id: int, call_record_id: int, ivr_outcome: str | None
) -> None:
    """The identity gate for money actions in a call (tenant setting): the IVR's PIN or date
    of birth, or the agent's recorded questions; `CallerNotVerified` otherwise."""
    async with database.tenant_autocommit(tenant_id) as session:
        await gate_in_session(session, tenant_id, call_record_id, ivr_outcome)


async def gate_in_session(
    session: AsyncSession, tenant_id: int, call_record_id: int, ivr_outcome: str | None
) -> Tenant:
    """The gate read in the caller's session (a credit checks it in its own transaction);
    returns the business."""
    tenant = await session.get(Tenant, tenant_id)
    row = await session.get(Call, call_record_id)
    if tenant is None or row is None:
        raise CallNotFound()
    # The IVR's outcome is on the live call; the agent's, in the call log only.
    ivr = ivr_outcome or (row.verified if row.verified != AGENT_QUESTIONS else None)
    decision = gate(tenant.money_needs_verification, ivr, row.verified == AGENT_QUESTIONS)
    if not decision.allowed:
        raise CallerNotVerified(decision.message)
    return tenant
