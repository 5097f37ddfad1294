"""The call flow's live figures for the metrics' scrape (`pbx.metrics`): calls in progress,
each queue's waiting callers and longest wait, agents by state, per business. Read from the
state the owner of the Asterisk node runs; a standby's copy is not live, so it tells none."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pbx.callflow.app import CallFlow
from pbx.callflow.config import FlowConfig
from pbx.callflow.ownership import Ownership
from pbx.callflow.state import FlowState
from pbx.metrics.figures import LiveFigures, QueueFigure


def live_figures(state: FlowState, config: FlowConfig, now: datetime) -> LiveFigures:
    """Pure: every configured queue (an empty one too, so a dashboard shows its zero), its
    waiting entries as the desk's queue figures count them, and agents by their ACD state."""
    engine = state.engine
    calls = Counter(call.tenant_id for call in state)
    queues = []
    for settings in config.queues.values():
        queue = engine.queues.get(settings.acd.name)
        waiting = queue.waiting if queue is not None else []
        longest = max(((now - entry.arrived_at).total_seconds() for entry in waiting),
                      default=0.0)  # fmt: skip
        queues.append(QueueFigure(settings.tenant_id, settings.name, len(waiting),
                                  max(0.0, longest)))  # fmt: skip
    agents: Counter[tuple[int, str]] = Counter()
    for agent_id, agent in engine.agents.items():
        profile = config.agents.get(agent_id)
        if profile is not None:
            agents[(profile.tenant_id, agent.state.value)] += 1
    return LiveFigures(dict(calls), tuple(queues), dict(agents))


class FlowFigures:
    """`live_figures` of this process's call flow while it owns the node, else None."""

    def __init__(self, flow: CallFlow, ownership: Ownership | None) -> None:
        self._flow, self._ownership = flow, ownership

    def __call__(self) -> LiveFigures | None:
        if self._ownership is not None and not self._ownership.owner:
            return None
        flow = self._flow
        return live_figures(flow.state, flow.config, flow.clock())


class ProcessRole:
    """This process's role for its node, as the metrics label it: the owner of the call
    flow, a standby, or (a bare call flow with no ownership) its own owner."""

    def __init__(self, ownership: Ownership | None) -> None:
        self._ownership = ownership

    def __call__(self) -> str:
        if self._ownership is None or self._ownership.owner:
            return "owner"
        return "standby"
