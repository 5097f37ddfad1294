"""The scrape-time figures and the registry, without a process: the ACD's queues, agents
and calls per business; a standby tells none; each process its own registry."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from pbx.acd.agents import Agent, AgentState, Membership
from pbx.acd.calls import InboundCall
from pbx.acd.engine import Engine
from pbx.acd.queues import QueueConfig
from pbx.callflow.calls import FlowCall
from pbx.callflow.config import AgentProfile, FlowConfig, QueueSettings
from pbx.callflow.live_figures import ProcessRole, live_figures
from pbx.callflow.state import FlowState
from pbx.metrics.figures import LiveFigures, QueueFigure
from pbx.metrics.prometheus import ProcessMetrics

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _centre() -> tuple[FlowState, FlowConfig]:
    """Business 1 with queues sales (two callers) and billing (none), business 2 with an
    agent on a call; agents known only to the engine are not counted."""
    engine = Engine(random.Random(1))
    for key in ("1:sales", "1:billing", "2:support"):
        engine.configure_queue(QueueConfig(key))
    engine.add_agent(Agent("11", "PJSIP/1001", memberships={"1:sales": Membership()}))
    engine.add_agent(Agent("21", "PJSIP/2001", memberships={"2:support": Membership()}))
    engine.add_agent(Agent("99", "PJSIP/9999"))  # not in the configuration
    engine.agents["11"].state = AgentState.PAUSED
    engine.agents["21"].state = AgentState.ON_CALL
    engine.enqueue(InboundCall("c1", arrived_at=NOW - timedelta(seconds=75)), "1:sales", NOW)
    engine.enqueue(InboundCall("c2", arrived_at=NOW - timedelta(seconds=5)), "1:sales", NOW)
    state = FlowState(engine, {
        call_id: FlowCall(call_id, tenant, n, call_id)
        for n, (call_id, tenant) in enumerate((("c1", 1), ("c2", 1), ("c3", 2)))
    })  # fmt: skip
    config = FlowConfig(
        queues={key: QueueSettings(int(key[0]), n, key[2:], QueueConfig(key))
                for n, key in enumerate(("1:sales", "1:billing", "2:support"))},
        agents={"11": AgentProfile(1, 11, "Avi Cohen", "PJSIP/1001"),
                "21": AgentProfile(2, 21, "Saulė Jonaitė", "PJSIP/2001")},
    )  # fmt: skip
    return state, config


def test_live_figures_count_calls_waiting_callers_and_agents_per_business() -> None:
    state, config = _centre()

    figures = live_figures(state, config, NOW)

    assert figures.calls == {1: 2, 2: 1}
    assert sorted(figures.queues, key=lambda q: (q.tenant_id, q.queue)) == [
        QueueFigure(1, "billing", 0, 0.0), QueueFigure(1, "sales", 2, 75.0),
        QueueFigure(2, "support", 0, 0.0),
    ]  # fmt: skip
    assert figures.agents == {(1, "paused"): 1, (2, "on_call"): 1}


class _Ownership:
    def __init__(self, owner: bool) -> None:
        self.owner = owner


def test_the_role_is_owner_or_standby_as_the_lease_says_and_owner_without_one() -> None:
    ownership = _Ownership(owner=False)
    role = ProcessRole(ownership)  # type: ignore[arg-type]
    assert role() == "standby"
    ownership.owner = True
    assert role() == "owner"
    assert ProcessRole(None)() == "owner"


async def test_each_process_has_its_own_registry_and_scrape_time_gauges() -> None:
    first, second = ProcessMetrics(lambda: NOW), ProcessMetrics(lambda: NOW)
    first.role = lambda: "owner"
    first.live = lambda: LiveFigures({7: 3}, (QueueFigure(7, "sales", 2, 40.0),), {})
    first.pop_shown(7, 0.2)

    one = {s.name: s for f in text_string_to_metric_families((await first.render()).decode())
           for s in f.samples}  # fmt: skip
    two = {s.name for f in text_string_to_metric_families((await second.render()).decode())
           for s in f.samples}  # fmt: skip

    assert one["ledgerline_calls_in_progress"].value == 3
    assert one["ledgerline_queue_longest_wait_seconds"].labels == {
        "business": "7", "queue": "sales", "role": "owner"}
    assert one["ledgerline_pop_latency_seconds_count"].value == 1
    assert "ledgerline_pop_latency_seconds_count" not in two  # nothing observed there
    assert "ledgerline_calls_in_progress" not in two  # nothing live: no samples at all
