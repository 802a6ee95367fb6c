"""The generic JSON webhook on the HTTP edge: `POST /v1/webhook/{integration_id}`, answered as
`edge.keyed_events` says; the body is read by `service.ingest.webhook`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from edge.keyed_events import KeyedEvents
from edge.pagerduty import EventsPort

SOURCE = "webhook"
PATH = "/v1/webhook"


def webhook_events(ingest: EventsPort, registry: CollectorRegistry) -> KeyedEvents:
    return KeyedEvents(ingest, registry, SOURCE, PATH, "JSON webhook")
