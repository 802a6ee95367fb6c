"""Prometheus metrics, registered on a registry the composition root hands in."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class RpcMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tocsin_grpc_requests",
            "gRPC calls handled, by method and status code.",
            ["method", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "tocsin_grpc_request_seconds",
            "Time to handle a gRPC call (to the last message, for streams).",
            ["method"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

        # Label look-ups take a lock and hash the labels; every call needs them, so keep them.
        self._children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, code: str, seconds: float) -> None:
        children = self._children.get((method, code))
        if children is None:
            children = (self.requests.labels(method, code), self.latency.labels(method))
            self._children[(method, code)] = children
        children[0].inc()
        children[1].observe(seconds)


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.created = Counter(
            "tocsin_alerts_created", "Alerts created (not deduplicated).", registry=registry
        )
        self.deduplicated = Counter(
            "tocsin_alerts_deduplicated",
            "Create calls that matched an open alert's alias.",
            registry=registry,
        )
        self.snoozes_ended = Counter(
            "tocsin_alert_snoozes_ended", "Snoozes that ran out.", registry=registry
        )


class ConflictMetrics(Collector):
    """How often a shared database ran a job again because another replica's transaction
    changed the same rows first: a few are normal; a steady climb means hot rows."""

    def __init__(self, registry: CollectorRegistry, conflicts: Callable[[], int]) -> None:
        self._conflicts = conflicts
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "tocsin_database_conflicts",
            "Jobs run again because a concurrent transaction changed the same rows.",
            value=self._conflicts(),
        )
