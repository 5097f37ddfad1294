"""Identity before money: whether an account action in a call may go ahead.

Pure: the caller of `gate` brings what is known about the call. A business that turns on
`Tenant.money_needs_verification` wants a payment to a stored method, a mandate change or a
credit in a call only once the caller is known to be the account holder: the IVR checked a
PIN or a date of birth, or the agent asked security questions and recorded it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# What `Call.verified` holds once the agent recorded a verification by questions; the IVR
# writes "pin", "date_of_birth" or "failed" there (see `pbx.callflow.admission`).
AGENT_QUESTIONS = "agent_questions"
IVR_VERIFIED = frozenset({"pin", "date_of_birth"})


class GateReason(StrEnum):
    NOT_REQUIRED = "not_required"  # the business does not ask for it
    IVR = "verified_by_ivr"
    AGENT = "verified_by_agent"
    IVR_FAILED = "ivr_failed"  # the caller failed the IVR and the agent has not verified them
    NOT_VERIFIED = "not_verified"  # nobody checked yet


# What the agent reads when the gate is shut: what to do next, never why the IVR failed.
MESSAGES = {
    GateReason.IVR_FAILED: "the caller failed verification on the phone: verify them by "
    "questions and record it before touching the account",
    GateReason.NOT_VERIFIED: "verify the caller first (PIN on the phone, or your security "
    "questions recorded on the call) before touching the account",
}


@dataclass(frozen=True, slots=True)
class GateDecision:
    allowed: bool
    reason: GateReason

    @property
    def message(self) -> str:
        return MESSAGES.get(self.reason, "")


def gate(tenant_requires: bool, call_verified: str | None, agent_verified: bool) -> GateDecision:
    """`call_verified`: the IVR's outcome ("pin", "date_of_birth", "failed" or None);
    `agent_verified`: the agent recorded a verification by questions for this call."""
    if not tenant_requires:
        return GateDecision(True, GateReason.NOT_REQUIRED)
    if call_verified in IVR_VERIFIED:
        return GateDecision(True, GateReason.IVR)
    if agent_verified:
        # Questions answered after a failed PIN still count: the agent is the fallback the
        # IVR hands failed callers to (they reach the queue either way).
        return GateDecision(True, GateReason.AGENT)
    if call_verified == "failed":
        return GateDecision(False, GateReason.IVR_FAILED)
    return GateDecision(False, GateReason.NOT_VERIFIED)


def may_touch_money(tenant_requires: bool, call_verified: str | None, agent_verified: bool) -> bool:
    return gate(tenant_requires, call_verified, agent_verified).allowed
