"""The HTTP edge. Stateless: it holds no database connection. Alone (`tocsin shim`) it hands
deliveries to the service over gRPC; inside `tocsin serve` it calls the same use case in-process,
which more than doubles the deliveries one process can take.

- `POST /v1/sns/{integration_id}?apiKey=KEY`: Amazon SNS deliveries. Each is verified here
  (envelope, headers, freshness, certificate URL, signature) before anything reaches the
  service; answers follow SNS's retry rules: 2xx once stored (or already stored), 5xx when it
  could not be stored now (SNS retries), 4xx only for what will never be valid.
- `POST /v2/enqueue`: PagerDuty Events API v2 events, the body handed to the service as sent
  (see `edge.pagerduty`).
- `POST /v1/alertmanager/{integration_id}` and `POST /v1/webhook/{integration_id}`:
  Prometheus Alertmanager's webhook and any JSON object, with the key as a bearer token (see
  `edge.keyed_events`).
- `POST /v2/alerts` and `POST /v2/alerts/{identifier}/{action}`: Opsgenie's Alert API, with
  the key as `Authorization: GenieKey <key>` (see `edge.opsgenie`).
- `GET|POST /v1/links/{token}`, `POST /v1/twilio/sms`, `POST /v1/twilio/voice`: answers to
  pages (acknowledge links, SMS replies, keys pressed on a call); see `edge.callbacks`.
- `GET /healthz`: the service's gRPC health, for load balancers.
- `GET /metrics`: Prometheus exposition.

The API key travels in the URL, so request URLs are never logged; neither are SNS tokens and
subscription URLs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from urllib.parse import quote

import aiohttp
import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from adapters.twilio.settings import TwilioSettings
from clients.calls import Calls
from edge import guard as http_guard
from edge.alertmanager import alertmanager_events
from edge.answers import AnswersPort
from edge.callbacks import Callbacks
from edge.opsgenie import OpsgenieAlerts, RequestsPort
from edge.pagerduty import EventTaken, PagerDutyEvents
from edge.sns import message as sns_message
from edge.sns import signature as sns_signature
from edge.sns.certificates import CertificateSource, CertificateUnavailableError
from edge.sns.config import SnsConfig
from edge.sns.message import SnsDeliveryError, SnsMessage, TopicArn
from edge.webhook import webhook_events
from protos.tocsin.v1 import ingest_pb2, ingest_pb2_grpc, schedules_pb2, schedules_pb2_grpc
from service.api import integration_codec, time_codec
from service.core.clock import Clock
from service.core.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    TocsinError,
)
from service.ingest.model import RequestRecord, SnsDelivery, SnsType
from service.ingest.usecases import Ingest
from service.oncall.usecases import Schedules

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 2.0
INGEST_TIMEOUT_SECONDS = 10.0
CONFIRM_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Stored:
    duplicate: bool
    tiny_id: str


class IngestPort(RequestsPort, Protocol):
    """How the edge hands a verified delivery, or an event as sent, to the service; refusals
    are domain errors."""

    async def accept_subscription(self, delivery: SnsDelivery, api_key: str) -> bool:
        """True when the confirmation was stored before (it must not be confirmed again)."""

    async def ingest(self, delivery: SnsDelivery, api_key: str) -> Stored: ...


class GrpcIngest(Calls):
    """The service elsewhere, over gRPC: what `tocsin shim` uses."""

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        super().__init__(channel, token, INGEST_TIMEOUT_SECONDS)
        self._stub = ingest_pb2_grpc.IngestServiceStub(channel)

    async def accept_subscription(self, delivery: SnsDelivery, api_key: str) -> bool:
        pb = integration_codec.delivery_to_pb(delivery, api_key)
        return (await self._call(self._stub.AcceptSubscription, pb)).duplicate

    async def ingest(self, delivery: SnsDelivery, api_key: str) -> Stored:
        reply = await self._call(
            self._stub.IngestSns, integration_codec.delivery_to_pb(delivery, api_key)
        )
        return Stored(reply.duplicate, reply.tiny_id)

    async def ingest_event(
        self, source: str, body: bytes, integration_id: str = "", api_key: str = ""
    ) -> EventTaken:
        request = ingest_pb2.IngestEventRequest(
            source=source, body=body, integration_id=integration_id, api_key=api_key
        )
        reply = await self._call(self._stub.IngestEvent, request)
        return EventTaken(tuple(reply.errors), reply.dedup_key)

    async def request_status(self, source: str, request_id: str, api_key: str) -> RequestRecord:
        request = ingest_pb2.GetRequestStatusRequest(
            source=source, request_id=request_id, api_key=api_key
        )
        reply = await self._call(self._stub.GetRequestStatus, request)
        return RequestRecord(
            reply.request_id, reply.integration_id, reply.action, reply.success, reply.status,
            reply.alert_id, reply.alias, time_codec.instant(reply.processed_at),
        )  # fmt: skip


class LocalIngest:
    """The service in this same process, as `tocsin serve` runs it: the same use case without
    a loopback gRPC call on the way."""

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest

    async def accept_subscription(self, delivery: SnsDelivery, api_key: str) -> bool:
        return await self._ingest.accept_subscription(delivery, api_key)

    async def ingest(self, delivery: SnsDelivery, api_key: str) -> Stored:
        result = await self._ingest.ingest(delivery, api_key)
        return Stored(result.duplicate, "" if result.alert is None else str(result.alert.tiny_id))

    async def ingest_event(
        self, source: str, body: bytes, integration_id: str = "", api_key: str = ""
    ) -> EventTaken:
        result = await self._ingest.ingest_event(source, body, integration_id, api_key)
        return EventTaken(result.errors, result.dedup_key)

    async def request_status(self, source: str, request_id: str, api_key: str) -> RequestRecord:
        return await self._ingest.request_status(source, request_id, api_key)


class CalendarPort(Protocol):
    """Where the edge gets the iCalendar file a schedule's secret URL serves."""

    async def feed(self, schedule_id: str, secret: str, user: str) -> str:
        """Raises `NotFound` when the schedule or its secret is wrong, saying neither."""


class GrpcCalendars(Calls):
    """The service elsewhere, over gRPC: what `tocsin shim` uses."""

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        super().__init__(channel, token, INGEST_TIMEOUT_SECONDS)
        self._stub = schedules_pb2_grpc.ScheduleServiceStub(channel)

    async def feed(self, schedule_id: str, secret: str, user: str) -> str:
        request = schedules_pb2.GetICalendarFeedRequest(
            schedule_id=schedule_id, secret=secret, user=user
        )
        return (await self._call(self._stub.GetICalendarFeed, request)).ical


class LocalCalendars:
    """The service in this same process, as `tocsin serve` runs it."""

    def __init__(self, schedules: Schedules) -> None:
        self._schedules = schedules

    async def feed(self, schedule_id: str, secret: str, user: str) -> str:
        return await self._schedules.ical_feed(schedule_id, secret, user)


def _answer_for(exc: TocsinError) -> Exception:
    """A refusal from the service, as SNS should hear it; anything else means "not now"."""
    if isinstance(exc, NotFound):
        return SnsDeliveryError(401, "unknown integration or wrong API key")
    if isinstance(exc, PermissionDenied):
        return SnsDeliveryError(403, str(exc))
    if isinstance(exc, InvalidArgument):
        return SnsDeliveryError(400, str(exc))
    return _RetryLaterError(f"the service could not store it ({type(exc).__name__})")


class _RetryLaterError(Exception):
    """The delivery could not be handled now, though it may be valid: answer 503."""


class Shim:
    def __init__(
        self,
        ingest: IngestPort,
        channel: grpc.aio.Channel,
        registry: CollectorRegistry,
        clock: Clock,
        sns: SnsConfig,
        http: aiohttp.ClientSession,
        calendars: CalendarPort,
        *,
        answers: AnswersPort | None = None,
        twilio: TwilioSettings | None = None,
        public_url: Callable[[], str] = lambda: "",
        idle_seconds: float,
    ) -> None:
        """`channel` reaches the service's gRPC health; `ingest`, its ingest use case;
        `answers`, where answers to pages go (None: no such routes). `twilio` holds the auth
        token Twilio's requests are checked with (None: its routes answer 404), and
        `public_url` the base URL Twilio reaches this edge at. A connection without a
        request for `idle_seconds`, or a body that takes longer to arrive, is closed."""
        self._idle_seconds = idle_seconds
        self._health = health_pb2_grpc.HealthStub(channel)
        self._ingest = ingest
        self._registry = registry
        self._clock = clock
        self._sns = sns
        self._http = http
        self._calendars = calendars
        self._certificates = CertificateSource(http, clock, sns.pinned_certificates)
        self._callbacks = (
            None if answers is None else Callbacks(answers, twilio, public_url, registry)
        )
        self._events = PagerDutyEvents(ingest, registry)
        self._keyed = (alertmanager_events(ingest, registry), webhook_events(ingest, registry))
        self._opsgenie = OpsgenieAlerts(ingest, registry)
        self._deliveries = Counter(
            "tocsin_sns_deliveries",
            "SNS deliveries answered, by HTTP status.",
            ["status"],
            registry=registry,
        )

    def app(self, *, public: bool = True) -> web.Application:
        """The HTTP edge; without `public`, only its health and metrics (`tocsin server`,
        whose public traffic goes to `tocsin shim` replicas)."""
        # A little over SNS's largest message, so the envelope around it fits; 413 past this.
        app = http_guard.application(self._idle_seconds, sns_message.MAX_BODY_BYTES + 16 * 1024)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        if not public:
            return app
        app.router.add_post("/v1/sns/{integration_id}", self.sns)
        app.router.add_get("/v1/ical/{schedule_id}/{secret}.ics", self.ical)
        self._events.add_routes(app.router)
        for source in self._keyed:
            source.add_routes(app.router)
        self._opsgenie.add_routes(app.router)
        if self._callbacks is not None:
            self._callbacks.add_routes(app.router)
        return app

    def runner(self, *, public: bool = True) -> web.AppRunner:
        """The server for `app(public=public)`, closing idle connections."""
        return http_guard.runner(self.app(public=public), self._idle_seconds)

    async def ical(self, request: web.Request) -> web.Response:
        """A schedule's iCalendar feed; the secret in the path is the only credential."""
        try:
            text = await self._calendars.feed(
                request.match_info["schedule_id"],
                request.match_info["secret"],
                request.query.get("user", ""),
            )
        except (NotFound, InvalidArgument):
            return web.json_response({"status": "not found"}, status=404)
        except TocsinError as exc:
            log.warning("calendar feed not served: %s", exc)
            return web.json_response({"status": "unavailable"}, status=503)
        return web.Response(
            text=text,
            content_type="text/calendar",
            charset="utf-8",
            headers={"Cache-Control": "private, max-age=300"},
        )

    async def healthz(self, request: web.Request) -> web.Response:
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=HEALTH_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as exc:
            reason = f"the service did not answer its health check: {exc.code().name}"
            return web.json_response({"status": "unavailable", "reason": reason}, status=503)
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            return web.json_response(
                {"status": "unavailable", "reason": "the service reports it is not serving"},
                status=503,
            )
        return web.json_response({"status": "ok"})

    async def metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def sns(self, request: web.Request) -> web.Response:
        try:
            status, body = 200, await self._deliver(request)
        except SnsDeliveryError as exc:
            status, body = exc.status, {"status": "rejected", "reason": exc.reason}
        except _RetryLaterError as exc:
            log.warning("SNS delivery not stored, SNS will retry: %s", exc)
            status, body = 503, {"status": "unavailable", "reason": str(exc)}
        self._deliveries.labels(str(status)).inc()
        return web.json_response(body, status=status)

    async def _deliver(self, request: web.Request) -> dict[str, object]:
        api_key = request.query.get("apiKey", "")
        if not api_key:
            raise SnsDeliveryError(401, "the integration URL's apiKey is missing")
        message = sns_message.parse(await request.read())  # read (and limited) by http_guard
        sns_message.check_headers(message, request.headers)
        now = self._clock.now()
        sns_message.check_fresh(
            message,
            now,
            max_age=_seconds(self._sns.max_age_seconds),
            max_ahead=_seconds(self._sns.max_ahead_seconds),
        )
        url = sns_signature.signing_cert_url(message)
        sns_signature.check_version(message, 1)
        try:
            certificate = await self._certificates.get(url)
        except CertificateUnavailableError as exc:
            raise _RetryLaterError(str(exc)) from exc
        sns_signature.verify(message, certificate, now)
        delivery = _delivery(request.match_info["integration_id"], message)
        try:
            confirming = delivery.type is SnsType.SUBSCRIPTION_CONFIRMATION
            if confirming and not await self._ingest.accept_subscription(delivery, api_key):
                await self._confirm(message)
            stored = await self._ingest.ingest(delivery, api_key)
        except TocsinError as exc:
            raise _answer_for(exc) from exc
        return {"status": "duplicate" if stored.duplicate else "stored", "alert": stored.tiny_id}

    async def _confirm(self, message: SnsMessage) -> None:
        """Confirms with SNS by the URL built here, never the SubscribeURL as given."""
        url = confirm_url(message.topic, message.fields["Token"], self._sns.endpoint_url)
        timeout = aiohttp.ClientTimeout(total=CONFIRM_TIMEOUT_SECONDS)
        try:
            async with self._http.get(url, allow_redirects=False, timeout=timeout) as reply:
                if reply.status != 200:
                    raise _RetryLaterError(f"SNS answered HTTP {reply.status} to the confirmation")
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Only the kind of failure: the text of some would quote the URL, and its Token.
            reason = f"cannot reach SNS to confirm the subscription ({type(exc).__name__})"
            raise _RetryLaterError(reason) from exc
        log.info("confirmed the SNS subscription to %s", message.topic.text)


def confirm_url(topic: TopicArn, token: str, endpoint_url: str) -> str:
    endpoint = endpoint_url or f"https://{topic.sns_host}"
    return (
        f"{endpoint}/?Action=ConfirmSubscription"
        f"&TopicArn={quote(topic.text, safe='')}&Token={quote(token, safe='')}"
    )


def _delivery(integration_id: str, message: SnsMessage) -> SnsDelivery:
    return SnsDelivery(
        integration_id=integration_id,
        type=message.type,
        message_id=message.message_id,
        topic_arn=message.topic.text,
        subject=message.subject or "",
        message=message.message,
        timestamp=message.timestamp,
        signature_version=int(message.signature_version),
    )


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)
