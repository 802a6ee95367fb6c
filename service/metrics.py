"""Prometheus metrics, registered on a registry the composition root hands in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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

    def observe(self, method: str, code: str, seconds: float) -> None:
        self.requests.labels(method, code).inc()
        self.latency.labels(method).observe(seconds)


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
