"""The `Metrics` port over prometheus-client, one `CollectorRegistry` per process (never the
client's global one: tests run several processes' apps in one interpreter).

Instruments observed as things happen (pop latency, FastAGI sessions, ARI reconnects,
collection runs) are labelled with the process's role at that moment; the gauges are
computed when Prometheus scrapes, from the call flow's state and the database's backlog, so
they are never stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from pbx.metrics.backlog import BacklogCache
from pbx.metrics.figures import LiveFigures
from pbx.metrics.port import AgiOutcome, CollectionResult

# The text format every Prometheus reads (the client's own default for a plain request;
# every name here is a classic one, so nothing needs the 1.0.0 format's escaping).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
Role = Callable[[], str]  # "owner", "standby", or "none" (no Asterisk configured)
LiveSource = Callable[[], LiveFigures | None]  # None: not the owner, nothing live to tell
POP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
AGI_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ProcessMetrics:
    """This process's registry and instruments; the composition root points `role`, the
    live figures and the backlog at what it built."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry()
        self.role: Role = lambda: "none"
        self.live: LiveSource = lambda: None
        self.backlog: BacklogCache | None = None
        self._clock = clock
        registry = self.registry
        self._pop = Histogram(
            "ledgerline_pop_latency_seconds",
            "From the call offered to an agent to its screen-pop published to the desks.",
            ["business", "role"], buckets=POP_BUCKETS, registry=registry,
        )  # fmt: skip
        self._agi = Histogram(
            "ledgerline_fastagi_session_seconds",
            "FastAGI sessions from their environment read to their end.",
            ["script", "outcome", "role"], buckets=AGI_BUCKETS, registry=registry,
        )  # fmt: skip
        # One child per (script, outcome, role), a handful: labels() validates the values
        # and takes a lock on every call, observing a child found here does neither.
        self._agi_series: dict[tuple[str, str, str], Histogram] = {}
        self._reconnects = Counter(
            "ledgerline_ari_reconnects", "ARI events socket drops and failed connections.",
            ["role"], registry=registry,
        )  # fmt: skip
        self._runs = Counter(
            "ledgerline_collection_runs", "Recurring-collection runs by how they ended.",
            ["result", "role"], registry=registry,
        )  # fmt: skip
        registry.register(_ScrapeTime(self))

    # -- the port ---------------------------------------------------------------------

    def pop_shown(self, tenant_id: int, seconds: float) -> None:
        self._pop.labels(str(tenant_id), self.role()).observe(seconds)

    def agi_session(self, script: str, outcome: AgiOutcome, seconds: float) -> None:
        key = (script, outcome, self.role())
        series = self._agi_series.get(key)
        if series is None:
            series = self._agi_series[key] = self._agi.labels(*key)
        series.observe(seconds)

    def ari_reconnect(self) -> None:
        self._reconnects.labels(self.role()).inc()

    def collection_run(self, result: CollectionResult) -> None:
        self._runs.labels(result, self.role()).inc()

    # -- the scrape -------------------------------------------------------------------

    async def render(self) -> bytes:
        """The text exposition of everything, the backlog read first if it is due."""
        if self.backlog is not None:
            await self.backlog.refresh()
        return generate_latest(self.registry)

    def now(self) -> datetime:
        return self._clock()


class _ScrapeTime(Collector):
    """The gauges computed as Prometheus asks: process role, live ACD figures, backlog."""

    def __init__(self, metrics: ProcessMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        role = metrics.role()
        process = GaugeMetricFamily("ledgerline_process", "1, labelled with this process's "
                                    "role for its Asterisk node.", labels=["role"])  # fmt: skip
        process.add_metric([role], 1)
        yield process
        yield from _live(metrics.live(), role)
        if metrics.backlog is not None:
            yield from _backlog(metrics, role)


def _gauge(name: str, documentation: str, *labels: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=[*labels, "role"])


def _live(figures: LiveFigures | None, role: str) -> Iterator[Metric]:
    calls = _gauge("ledgerline_calls_in_progress", "Calls the call flow carries now.",
                   "business")  # fmt: skip
    waiting = _gauge("ledgerline_queue_callers_waiting", "Callers waiting in the queue now.",
                     "business", "queue")  # fmt: skip
    longest = _gauge("ledgerline_queue_longest_wait_seconds",
                     "How long the queue's longest-waiting caller has waited.",
                     "business", "queue")  # fmt: skip
    agents = _gauge("ledgerline_agents", "Agents in the call flow's roster by ACD state.",
                    "business", "state")  # fmt: skip
    if figures is not None:
        for tenant_id, count in figures.calls.items():
            calls.add_metric([str(tenant_id), role], count)
        for queue in figures.queues:
            labels = [str(queue.tenant_id), queue.queue, role]
            waiting.add_metric(labels, queue.waiting)
            longest.add_metric(labels, queue.longest_wait_s)
        for (tenant_id, state), count in figures.agents.items():
            agents.add_metric([str(tenant_id), state, role], count)
    yield from (calls, waiting, longest, agents)


def _backlog(metrics: ProcessMetrics, role: str) -> Iterator[Metric]:
    jobs_waiting = _gauge("ledgerline_recording_jobs_waiting",
                          "Recording jobs with steps still ahead of them.", "business")  # fmt: skip
    jobs_failed = _gauge("ledgerline_recording_jobs_failed",
                         "Recording jobs that gave up (kept for a person to look at).",
                         "business")  # fmt: skip
    pending = _gauge("ledgerline_webhook_deliveries_pending",
                     "Webhook deliveries not yet delivered nor given up.", "business")
    retrying = _gauge("ledgerline_webhook_deliveries_retrying",
                      "Pending webhook deliveries whose last attempt failed.", "business")
    lag = _gauge("ledgerline_webhook_delivery_lag_seconds",
                 "Age of the oldest webhook delivery not yet delivered.", "business")
    failed = _gauge("ledgerline_webhook_deliveries_failed",
                    "Webhook deliveries given up after their retries.", "business")
    assert metrics.backlog is not None
    figures, now = metrics.backlog.figures, metrics.now()
    for tenant_id, backlog in (figures or {}).items():
        labels = [str(tenant_id), role]
        jobs_waiting.add_metric(labels, backlog.recordings_waiting)
        jobs_failed.add_metric(labels, backlog.recordings_failed)
        pending.add_metric(labels, backlog.webhooks_pending)
        retrying.add_metric(labels, backlog.webhooks_retrying)
        oldest = backlog.webhooks_oldest_pending
        lag.add_metric(labels, max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        failed.add_metric(labels, backlog.webhooks_failed)
    yield from (jobs_waiting, jobs_failed, pending, retrying, lag, failed)
