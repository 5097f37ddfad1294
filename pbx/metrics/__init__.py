"""What a Ledgerline process tells Prometheus (`docs/metrics.md`): the `Metrics` port that
the call flow, the desk publisher, FastAGI and the ARI connection report through, and its
Prometheus adapter with one registry per process, built by the composition root."""

from pbx.metrics.port import NO_METRICS, Metrics, NoMetrics

__all__ = ["NO_METRICS", "Metrics", "NoMetrics"]
