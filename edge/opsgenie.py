"""Opsgenie's Alert API on the HTTP edge, answered as Opsgenie answers.

A tool whose "Opsgenie API URL" is the public URL posts, with `Authorization: GenieKey <key>`:

- `POST /v2/alerts`: create (or count into the open alert with the same alias);
- `POST /v2/alerts/{identifier}/close`, `/acknowledge`, `/unacknowledge` and `/notes`, with
  `?identifierType=id` (the default: a Tocsin alert id), `tiny` or `alias`: act on that open
  alert of the integration's team (none such: nothing changes).

The edge reads nothing of the body: it wraps it, with the action and identifier its path names,
into the envelope `service.ingest.opsgenie` reads, so the shim serves it as `tocsin serve` does.
Answers carry `took` (seconds) and a fresh `requestId`:

- 202 `{"result": "Request will be processed", ...}` once the write is committed;
- 422 `{"message": ..., "errors": {field: message}}` naming each field at fault;
- 400 for a body that does not parse;
- 401 for a missing or wrong key, and for a disabled integration (Opsgenie says no more);
- 503 when the service could not take it now.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from edge.pagerduty import EventsPort
from service.core.errors import InvalidArgument, NotFound, PermissionDenied, TocsinError

log = logging.getLogger(__name__)

SOURCE = "opsgenie"
PATH = "/v2/alerts"
GENIE_KEY = "geniekey "
ACTIONS = ("close", "acknowledge", "unacknowledge", "notes")
# How the reader names a field at fault: `<field>: <message>`.
_FIELD_ERROR = re.compile(r"(\w+): (.*)", re.DOTALL)


def genie_key(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header[: len(GENIE_KEY)].lower() == GENIE_KEY:
        return header[len(GENIE_KEY) :].strip()
    return ""


class OpsgenieAlerts:
    def __init__(self, ingest: EventsPort, registry: CollectorRegistry) -> None:
        self._ingest = ingest
        self._answers = Counter(
            "tocsin_opsgenie_requests",
            "Opsgenie Alert API requests answered, by HTTP status.",
            ["status"],
            registry=registry,
        )

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(PATH, self.create)
        router.add_post(f"{PATH}/{{identifier}}/{{action}}", self.act)

    async def create(self, request: web.Request) -> web.Response:
        return await self._answered(request, "create")

    async def act(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise web.HTTPNotFound()
        return await self._answered(request, action)

    async def _answered(self, request: web.Request, action: str) -> web.Response:
        started = time.monotonic()
        status, data = await self._answer(request, action)
        self._answers.labels(str(status)).inc()
        data = {**data, "took": round(time.monotonic() - started, 3), "requestId": _request_id()}
        return web.json_response(data, status=status)

    async def _answer(self, request: web.Request, action: str) -> tuple[int, dict[str, object]]:
        key = genie_key(request)
        if not key:
            return 401, {"message": "Could not authenticate: send 'Authorization: GenieKey <key>'"}
        raw = await request.read()  # read (and limited) by http_guard
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return 400, {"message": "Could not parse request body (not UTF-8 text)"}
        envelope = {
            "action": action,
            "identifier": request.match_info.get("identifier", ""),
            "identifierType": request.query.get("identifierType", "id"),
            "body": text or "{}",
        }
        try:
            taken = await self._ingest.ingest_event(SOURCE, json.dumps(envelope).encode(), "", key)
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


def _request_id() -> str:
    return str(uuid.uuid4())
