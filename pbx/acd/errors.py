"""The ACD's own exception tree, so adapters can tell a stale event from a bug."""

from __future__ import annotations


class AcdError(Exception):
    """Base of every error the ACD raises on purpose."""


class InvalidTransition(AcdError):
    """An agent was asked to do something its current state does not allow."""

    def __init__(self, agent_id: str, state: str, action: str, detail: str = "") -> None:
        self.agent_id = agent_id
        self.state = state
        self.action = action
        suffix = f": {detail}" if detail else ""
        super().__init__(f"agent {agent_id} cannot {action} while {state}{suffix}")


class UnknownAgent(AcdError):
    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        super().__init__(f"unknown agent {agent_id}")


class UnknownQueue(AcdError):
    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(f"unknown queue {queue}")


class UnknownCall(AcdError):
    """The call is not waiting or ringing here (often: an event that lost a race)."""

    def __init__(self, call_id: str, detail: str = "") -> None:
        self.call_id = call_id
        suffix = f": {detail}" if detail else ""
        super().__init__(f"unknown call {call_id}{suffix}")
