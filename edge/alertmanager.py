"""Prometheus Alertmanager's webhook on the HTTP edge: `POST /v1/alertmanager/{integration_id}`,
answered as `edge.keyed_events` says; the body is read by `service.ingest.alertmanager`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from edge.keyed_events import KeyedEvents
from edge.pagerduty import EventsPort

SOURCE = "alertmanager"
PATH = "/v1/alertmanager"


def alertmanager_events(ingest: EventsPort, registry: CollectorRegistry) -> KeyedEvents:
    return KeyedEvents(ingest, registry, SOURCE, PATH, "Alertmanager webhook")
