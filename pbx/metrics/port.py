"""The port domain code reports through: typed methods, no Prometheus in sight. Labels are
never customer data: a business is its id, a script its registered name."""

from __future__ import annotations

from typing import Literal, Protocol

AgiOutcome = Literal["served", "timed_out", "failed"]
CollectionResult = Literal["completed", "failed"]


class Metrics(Protocol):
    def pop_shown(self, tenant_id: int, seconds: float) -> None:
        """A screen-pop reached the desks `seconds` after the call flow offered the call."""

    def agi_session(self, script: str, outcome: AgiOutcome, seconds: float) -> None:
        """A FastAGI session ended (`script`: a registered name, or "unknown")."""

    def ari_reconnect(self) -> None:
        """The ARI events socket dropped or could not be opened; a retry is scheduled."""

    def collection_run(self, result: CollectionResult) -> None:
        """A recurring-collection run finished, or failed part-way."""


class NoMetrics:
    """Tells nobody: for unit tests and tools that run no /metrics."""

    def pop_shown(self, tenant_id: int, seconds: float) -> None:
        pass

    def agi_session(self, script: str, outcome: AgiOutcome, seconds: float) -> None:
        pass

    def ari_reconnect(self) -> None:
        pass

    def collection_run(self, result: CollectionResult) -> None:
        pass


NO_METRICS: Metrics = NoMetrics()
