"""Opsgenie's Alert API on the HTTP edge, answered as Opsgenie answers.

A tool whose "Opsgenie API URL" is the public URL posts, with `Authorization: GenieKey <key>`:

- `POST /v2/alerts`: create (or count into the open alert with the same alias);
- `GET /v2/alerts/requests/{requestId}`: what became of a request this key made (404 for
  another's, or one past a day);
- `POST /v2/alerts/{identifier}/close`, `/acknowledge`, `/unacknowledge` and `/notes`, with
  `?identifierType=id` (the default: a Tocsin alert id), `tiny` or `alias`: act on that open
  alert of the integration's team (none such: nothing changes).

The edge reads nothing of the body: it wraps it, with the action and identifier its path names,
into the envelope `service.ingest.opsgenie` reads, so the shim serves it as `tocsin serve` does.
Answers carry `took` (seconds) and the request's `requestId`, which the service records with
what became of the request in the transaction that took it:

- 202 `{"result": "Request will be processed", ...}` once the write is committed;
- 422 `{"message": ..., "errors": {field: message}}` naming each field at fault;
- 400 for a body that does not parse;
- 401 for a missing or wrong key, and for a disabled integration (Opsgenie says no more);
- 503 when the service could not take it now.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from edge.pagerduty import EventsPort
from service.core.errors import InvalidArgument, NotFound, PermissionDenied, TocsinError
from service.ingest import opsgenie
from service.ingest.model import RequestRecord

log = logging.getLogger(__name__)

SOURCE = "opsgenie"
PATH = "/v2/alerts"
GENIE_KEY = "geniekey "
ACTIONS = ("close", "acknowledge", "unacknowledge", "notes")
# How the reader names a field at fault: `<field>: <message>`.
_FIELD_ERROR = re.compile(r"(\w+): (.*)", re.DOTALL)


class RequestsPort(EventsPort, Protocol):
    async def request_status(self, source: str, request_id: str, api_key: str) -> RequestRecord:
        """NotFound for an unknown key or request, or another integration's."""


def genie_key(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header[: len(GENIE_KEY)].lower() == GENIE_KEY:
        return header[len(GENIE_KEY) :].strip()
    return ""


class OpsgenieAlerts:
    def __init__(self, ingest: RequestsPort, registry: CollectorRegistry) -> None:
        self._ingest = ingest
        self._answers = Counter(
            "tocsin_opsgenie_requests",
            "Opsgenie Alert API requests answered, by HTTP status.",
            ["status"],
            registry=registry,
        )

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(PATH, self.create)
        router.add_get(f"{PATH}/requests/{{request_id}}", self.status)
        router.add_post(f"{PATH}/{{identifier}}/{{action}}", self.act)

    async def create(self, request: web.Request) -> web.Response:
        return await self._answered(request, "create")

    async def act(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise web.HTTPNotFound()
        return await self._answered(request, action)

    async def status(self, request: web.Request) -> web.Response:
        started, key = time.monotonic(), genie_key(request)
        asked = request.match_info["request_id"]
        data: Mapping[str, object] = {"message": "Could not authenticate"}
        status = 401
        if key:
            status, data = await self._status(asked, key)
        return self._sent(started, status, {**data, "requestId": asked})

    async def _status(self, asked: str, key: str) -> tuple[int, Mapping[str, object]]:
        try:
            record = await self._ingest.request_status(SOURCE, asked, key)
        except NotFound:
            return 404, {"message": "Request not found"}
        except InvalidArgument as exc:
            return 422, {"message": str(exc), "errors": {}}
        except TocsinError as exc:
            return 503, {"message": f"The service could not answer now ({type(exc).__name__})"}
        found = {"alertId": record.alert_id, "alias": record.alias} if record.alert_id else {}
        data = {
            "success": record.success, "action": record.action,
            "processedAt": record.processed_at.isoformat().replace("+00:00", "Z"),
            "integrationId": record.integration_id, "isSuccess": record.success,
            "status": record.status, "alias": record.alias, **found,
        }  # fmt: skip
        return 200, {"data": data}

    async def _answered(self, request: web.Request, action: str) -> web.Response:
        started, request_id = time.monotonic(), str(uuid.uuid4())
        status, data = await self._answer(request, action, request_id)
        return self._sent(started, status, {**data, "requestId": request_id})

    def _sent(self, started: float, status: int, data: dict[str, object]) -> web.Response:
        self._answers.labels(str(status)).inc()
        data = {**data, "took": round(time.monotonic() - started, 3)}
        return web.json_response(data, status=status)

    async def _answer(
        self, request: web.Request, action: str, request_id: str
    ) -> tuple[int, dict[str, object]]:
        key = genie_key(request)
        if not key:
            return 401, {"message": "Could not authenticate: send 'Authorization: GenieKey <key>'"}
        raw = await request.read()  # read (and limited) by http_guard
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return 400, {"message": "Could not parse request body (not UTF-8 text)"}
        sent = opsgenie.envelope(
            action,
            text,
            request.match_info.get("identifier", ""),
            request.query.get("identifierType", "id"),
            request_id,
        )
        try:
            taken = await self._ingest.ingest_event(SOURCE, sent, "", key)
        except (NotFound, PermissionDenied):
            return 401, {"message": "Could not authenticate"}
        except InvalidArgument as exc:
            return 422, {"message": str(exc), "errors": {}}
        except TocsinError as exc:
            log.warning("Opsgenie request not taken, the sender may retry: %s", exc)
            return 503, {"message": f"The service could not take it now ({type(exc).__name__})"}
        if taken.errors:
            return _refused(taken.errors)
        return 202, {"result": "Request will be processed"}


def _refused(errors: tuple[str, ...]) -> tuple[int, dict[str, object]]:
    fields = [match for error in errors if (match := _FIELD_ERROR.fullmatch(error))]
    if len(fields) < len(errors):
        return 400, {"message": "; ".join(errors)}
    named = {match[1]: match[2] for match in fields}
    return 422, {"message": "Request body is not processable", "errors": named}
