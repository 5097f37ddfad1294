"""/metrics of running Ledgerline processes: a simulated call shows in the scrape (calls,
queue waits, agents, pop latency, FastAGI sessions), an owner and a standby are labelled by
role, no label carries a caller's number or name, and the sample Grafana dashboard names
only metrics the registry has."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pbx.acd.agents import AgentState
from pbx.bootstrap import bootstrap, build_services
from pbx.db.database import Database
from pbx.service import Ledgerline
from pbx.settings import load_settings
from pbx.simulator.ari import AsteriskSimulator
from pbx.simulator.fastagi_peer import run_fastagi_call
from tests.callflow.world import DID_AS_DIALLED, World, make_world
from tests.conftest import REDIS_TEST_URL
from tests.factories import make_customer

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"
CALLER, CALLER_NAME = "0502345678", "שרה כהן"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _ledgerline(database_url: str, sim: AsteriskSimulator, tmp_path: Path) -> Ledgerline:
    settings = load_settings(environ={
        "LEDGERLINE_DATABASE_URL": database_url, "LEDGERLINE_REDIS_URL": REDIS_TEST_URL,
        "LEDGERLINE_AGI_PORT": "0", "LEDGERLINE_SERVICE_HTTP_PORT": "0",
        "LEDGERLINE_ARI_URL": sim.url, "LEDGERLINE_ARI_PASSWORD": "secret",
        "LEDGERLINE_ARI_NODE": "east",
        "LEDGERLINE_RECORDINGS_LOCAL_PATH": str(tmp_path / "recordings"),
        "LEDGERLINE_RECORDINGS_SPOOL_PATH": str(tmp_path / "spool"),
    })  # fmt: skip
    return Ledgerline(bootstrap(build_services(settings)))


async def scrape(service: Ledgerline) -> tuple[str, str]:
    """The exposition's text and Content-Type, asked from loopback with no token."""
    url = f"http://127.0.0.1:{service.http_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.text(), response.headers["Content-Type"]


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


@pytest.fixture
async def world(database: Database) -> AsyncIterator[World]:
    """The call-flow tests' contact centre: a business with a DID and the simulator."""
    centre = await make_world(database)
    yield centre
    await centre.sim.stop()


async def test_a_simulated_call_shows_in_the_scrape_of_the_owner_and_not_the_standby(
    database_url: str, database, redis, world: World, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sim, tenant = world.sim, world.tenant_id
    await world.add_queue("sales", strategy="ringall")
    await world.add_agent("avi", "1001", "sales")
    await world.add_route("sales")
    await make_customer(database, tenant, "C-1", CALLER_NAME, ["+972502345678"])
    business = str(tenant)
    owner = _ledgerline(database_url, sim, tmp_path)
    standby = _ledgerline(database_url, sim, tmp_path)
    try:
        await owner.start()
        assert owner.flow is not None
        await owner.flow.wait_ready(20)
        await standby.start()
        world.flows.append(owner.flow)

        await run_fastagi_call("127.0.0.1", owner.agi.port, "caller_lookup",
                               callerid=CALLER, dnid=DID_AS_DIALLED)  # fmt: skip
        call = await world.call(CALLER)  # no agent logged in: the caller waits
        await world.until(lambda: bool(owner.flow and owner.flow.state.engine.queues[
            f"{tenant}:sales"].waiting), "the caller waiting in sales")  # fmt: skip
        waiting, content_type = await scrape(owner)
        assert content_type.startswith("text/plain; version=0.0.4")
        found = samples(waiting)
        owned = {"business": business, "role": "owner"}
        assert value(found, "ledgerline_calls_in_progress", **owned) == 1
        assert value(found, "ledgerline_queue_callers_waiting", queue="sales", **owned) == 1
        longest = value(found, "ledgerline_queue_longest_wait_seconds", queue="sales", **owned)
        assert longest is not None and longest >= 0  # its value: test_metrics_figures.py
        assert value(found, "ledgerline_agents", state="logged_out", **owned) == 1
        assert value(found, "ledgerline_fastagi_session_seconds_count", script="caller-lookup",
                     outcome="served", role="owner") == 1  # fmt: skip

        sim.agent("PJSIP/1001", answer_after=0.05)
        await world.login("avi")
        await world.until(lambda: world.state_of("avi") is AgentState.ON_CALL, "avi answers")
        answered: Samples = {}

        async def popped() -> bool:  # the pop is published after the offer, on its own
            answered.update(samples((await scrape(owner))[0]))
            return value(answered, "ledgerline_pop_latency_seconds_count", **owned) == 1

        await world.until_async(popped, "the pop's latency observed")
        assert value(answered, "ledgerline_queue_callers_waiting", queue="sales", **owned) == 0
        assert value(answered, "ledgerline_agents", state="on_call", **owned) == 1
        assert value(answered, "ledgerline_pop_latency_seconds_count", **owned) == 1
        await call.hangup()

        standing_by = samples((await scrape(standby))[0])
        assert value(standing_by, "ledgerline_process", role="standby") == 1
        assert value(answered, "ledgerline_process", role="owner") == 1
        # A standby's copy of the ACD is not live: it tells no queue figures at all.
        assert not [key for key in standing_by if key[0] == "ledgerline_queue_callers_waiting"]

        last = (await scrape(owner))[0]
        _no_customer_data_in_labels(waiting + last)
        _dashboard_names_only_known_metrics(last)
    finally:
        world.flows.clear()
        await standby.stop()
        await owner.stop()


def _no_customer_data_in_labels(text: str) -> None:
    labels = {value for family in text_string_to_metric_families(text)
              for sample in family.samples for value in sample.labels.values()}  # fmt: skip
    for secret in ("972502345678", "0502345678", CALLER_NAME, "C-1", "Avi"):
        assert not [label for label in labels if secret in label], secret


def _dashboard_names_only_known_metrics(text: str) -> None:
    """Every name the dashboard's PromQL uses is one the registry exposes, with or without
    samples yet (a counter nothing has counted, a backlog that is empty)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                "gauge": ("",)}  # fmt: skip
    known = {family.name + suffix for family in text_string_to_metric_families(text)
             for suffix in suffixes.get(family.type, ("",))}  # fmt: skip
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    expressions = [target["expr"] for panel in dashboard["panels"]
                   for target in panel.get("targets", [])]  # fmt: skip
    assert expressions, "the dashboard has no queries"
    names = {name for expr in expressions for name in re.findall(r"\bledgerline_\w+", expr)}
    assert names and names <= known, sorted(names - known)
    assert {"ledgerline_queue_callers_waiting", "ledgerline_pop_latency_seconds_bucket",
            "ledgerline_agents", "ledgerline_webhook_delivery_lag_seconds",
            "ledgerline_recording_jobs_waiting", "ledgerline_collection_runs_total"} <= names
