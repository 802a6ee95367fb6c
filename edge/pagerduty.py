"""PagerDuty's Events API v2 on the HTTP edge: `POST /v2/enqueue`, answered as PagerDuty answers.

The edge reads nothing of the event: it hands the body as sent to the service, which reads it,
finds the integration by the routing_key inside and takes it (`service.ingest.pagerduty`). So
the shim, which has no database and holds no keys, serves it as `tocsin serve` does. Answers:

- 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}` once taken;
- 400 `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`
  for an event that does not read (each field at fault) or an unknown or disabled key
  (`Invalid routing key`, whichever it is);
- 503 when the service could not take it now: PagerDuty's senders retry 5xx answers.

`POST /v2/change/enqueue` (change events) answers 202 and records nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from service.core.errors import InvalidArgument, NotFound, PermissionDenied, TocsinError

log = logging.getLogger(__name__)

SOURCE = "pagerduty"
EVENTS_PATH = "/v2/enqueue"
CHANGE_EVENTS_PATH = "/v2/change/enqueue"


@dataclass(frozen=True)
class EventTaken:
    """The service's answer: `errors` when the event does not read, else its dedup_key."""

    errors: tuple[str, ...]
    dedup_key: str


class EventsPort(Protocol):
    async def ingest_event(
        self, source: str, body: bytes, integration_id: str = "", api_key: str = ""
    ) -> EventTaken:
        """Raises NotFound for an unknown integration or key and PermissionDenied for a
        disabled integration; other domain errors mean the event could not be taken now.
        `integration_id` and `api_key` are the request's, for the sources whose body does
        not name its integration."""


def invalid(errors: Sequence[str]) -> web.Response:
    return web.json_response(
        {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)},
        status=400,
    )


class PagerDutyEvents:
    def __init__(self, ingest: EventsPort, registry: CollectorRegistry) -> None:
        self._ingest = ingest
        self._answers = Counter(
            "tocsin_pagerduty_events",
            "PagerDuty Events API v2 events answered, by HTTP status.",
            ["status"],
            registry=registry,
        )

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(EVENTS_PATH, self.enqueue)
        router.add_post(CHANGE_EVENTS_PATH, self.change)

    async def enqueue(self, request: web.Request) -> web.Response:
        answer = await self._answer(await request.read())  # read (and limited) by http_guard
        self._answers.labels(str(answer.status)).inc()
        return answer

    async def _answer(self, body: bytes) -> web.Response:
        try:
            taken = await self._ingest.ingest_event(SOURCE, body)
        except (NotFound, PermissionDenied):
            return invalid(["Invalid routing key"])
        except InvalidArgument as exc:
            return invalid([str(exc)])
        except TocsinError as exc:
            log.warning("PagerDuty event not taken, the sender will retry: %s", exc)
            reason = f"the service could not take it now ({type(exc).__name__})"
            return web.json_response({"status": "unavailable", "message": reason}, status=503)
        if taken.errors:
            return invalid(taken.errors)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": taken.dedup_key},
            status=202,
        )

    async def change(self, request: web.Request) -> web.Response:
        """Change events are taken and dropped: nothing in Tocsin shows them yet."""
        return web.json_response(
            {"status": "success", "message": "Change event processed"}, status=202
        )
