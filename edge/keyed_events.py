"""Events whose URL names their integration and whose request carries its key, on the HTTP edge:
what Alertmanager's webhook and the generic JSON webhook share (`edge.alertmanager`,
`edge.webhook`).

`POST <path>/{integration_id}` with the key as `Authorization: Bearer <key>` or `?apiKey=<key>`.
As for PagerDuty's events, the edge reads nothing of the body: the service reads it, checks the
id and key and takes it. Answers (Alertmanager looks only at the status code, and retries 5xx):

- 200 `{"status": "success"}` once taken;
- 400 `{"status": "error", "message": ...}` for a body that does not read, naming each field
  (the body is read before the key is checked, so this whatever the key);
- 401 for a missing or wrong key (or an unknown integration: which, it does not say);
- 403 for a disabled integration;
- 503 when the service could not take it now.
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from edge.pagerduty import EventsPort
from service.core.errors import InvalidArgument, NotFound, PermissionDenied, TocsinError

log = logging.getLogger(__name__)

BEARER = "bearer "


def api_key(request: web.Request) -> str:
    """The key the request carries: a bearer token, else the apiKey query parameter."""
    header = request.headers.get("Authorization", "")
    if header[: len(BEARER)].lower() == BEARER:
        return header[len(BEARER) :].strip()
    return request.query.get("apiKey", "")


def error(status: int, message: str) -> web.Response:
    return web.json_response({"status": "error", "message": message}, status=status)


class KeyedEvents:
    """The route of one source: `source` is what the service reads the body as, `path` where
    it is served (the integration id follows it), `title` how logs and metrics name it."""

    def __init__(
        self, ingest: EventsPort, registry: CollectorRegistry, source: str, path: str, title: str
    ) -> None:
        self._ingest = ingest
        self._source = source
        self._path = path
        self._title = title
        self._answers = Counter(
            f"tocsin_{source}_events",
            f"{title} requests answered, by HTTP status.",
            ["status"],
            registry=registry,
        )

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(f"{self._path}/{{integration_id}}", self.post)

    async def post(self, request: web.Request) -> web.Response:
        answer = await self._answer(request)
        self._answers.labels(str(answer.status)).inc()
        return answer

    async def _answer(self, request: web.Request) -> web.Response:
        key = api_key(request)
        if not key:
            return error(401, "the key is missing: send it as 'Authorization: Bearer <key>'")
        body = await request.read()  # read (and limited) by http_guard
        integration_id = request.match_info["integration_id"]
        try:
            taken = await self._ingest.ingest_event(self._source, body, integration_id, key)
        except NotFound:
            return error(401, "unknown integration or wrong key")
        except PermissionDenied as exc:
            return error(403, str(exc))
        except InvalidArgument as exc:
            return error(400, str(exc))
        except TocsinError as exc:
            log.warning("%s request not taken, the sender may retry: %s", self._title, exc)
            return error(503, f"the service could not take it now ({type(exc).__name__})")
        if taken.errors:
            return error(400, "; ".join(taken.errors))
        return web.json_response({"status": "success"})
