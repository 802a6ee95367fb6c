"""Ingest use cases: a verified SNS delivery in, at most one alert out; or a monitoring tool's
event in, one action per alert it carries out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service.alerts.model import Actor
from service.core import validation
from service.core.clock import Clock
from service.core.errors import InvalidArgument
from service.core.ids import new_uuid
from service.ingest import alertmanager, opsgenie, pagerduty, webhook
from service.ingest import sns as sns_alerts
from service.ingest.events import InvalidEventError
from service.ingest.model import (
    SNS_MESSAGE_MAX,
    EventResult,
    IngestAction,
    IngestResult,
    IntegrationType,
    RequestRecord,
    SnsDelivery,
)
from service.ingest.store import IngestStore
from service.tokens.usecases import hash_secret

ACTOR = Actor("Amazon SNS")
# Each source of events: the integration type its events go to, and who is said to act.
SOURCES = {
    "pagerduty": (IntegrationType.PAGERDUTY, Actor("PagerDuty Events API")),
    "alertmanager": (IntegrationType.ALERTMANAGER, Actor("Prometheus Alertmanager")),
    "webhook": (IntegrationType.WEBHOOK, Actor("Webhook")),
    "opsgenie": (IntegrationType.OPSGENIE, Actor("Opsgenie Alert API")),
}
# The sources whose requests name their integration by key alone, not by an id in the URL.
KEYED_ONLY = frozenset({"pagerduty", "opsgenie"})
MESSAGE_ID_MAX = 100


def checked(delivery: SnsDelivery, api_key: str) -> SnsDelivery:
    validation.text("integration_id", delivery.integration_id, 100, required=True)
    validation.text("api_key", api_key, 200, required=True)
    validation.text("message_id", delivery.message_id, MESSAGE_ID_MAX, required=True)
    validation.topic_arn("topic_arn", delivery.topic_arn)
    validation.text("subject", delivery.subject, 1_000)
    validation.text("message", delivery.message, SNS_MESSAGE_MAX)
    if delivery.signature_version not in (1, 2):
        raise InvalidArgument("signature_version", "must be 1 or 2")
    return delivery


class Ingest:
    def __init__(
        self, store: IngestStore, clock: Clock, new_id: Callable[[], str] = new_uuid
    ) -> None:
        self._store = store
        self._clock = clock
        self._new_id = new_id

    async def accept_subscription(self, delivery: SnsDelivery, api_key: str) -> bool:
        """Raises unless the integration takes this topic; True when the message is a
        duplicate, which must not be confirmed again."""
        result = await self._store.ingest_sns(
            checked(delivery, api_key),
            hash_secret(api_key),
            None,
            ACTOR,
            self._clock.now(),
            self._new_id(),
        )
        return result.duplicate

    async def ingest(self, delivery: SnsDelivery, api_key: str) -> IngestResult:
        return await self._store.ingest_sns(
            delivery,
            hash_secret(api_key),
            sns_alerts.reader(checked(delivery, api_key)),
            ACTOR,  # each change is recorded with its own note
            self._clock.now(),
            self._new_id(),
        )

    async def ingest_event(
        self, source: str, body: bytes, integration_id: str = "", api_key: str = ""
    ) -> EventResult:
        """Reads an event in `source`'s API and takes it. PagerDuty's names its integration
        by the key in its body; the others by `integration_id` and `api_key`, which the
        request carried. An event that does not read is answered with its errors; an unknown
        integration or key raises NotFound, a disabled integration PermissionDenied."""
        if source not in SOURCES:
            raise InvalidArgument("source", f"must be one of {', '.join(SOURCES)}")
        kind, actor = SOURCES[source]
        if source not in KEYED_ONLY:
            validation.text("integration_id", integration_id, 100, required=True)
        if source != "pagerduty":
            validation.text("api_key", api_key, 200, required=True)
        try:
            event = self._read(source, body)
        except InvalidEventError as exc:
            return EventResult(errors=exc.errors)
        result = await self._store.ingest_event(
            kind,
            hash_secret(event.routing_key or api_key),
            "" if source in KEYED_ONLY else integration_id,
            event.actions,
            actor,
            self._clock.now(),
            self._new_id,
            event.request,
        )
        return EventResult((), event.dedup_key, result.alert, result.deduplicated)

    async def request_status(self, source: str, request_id: str, api_key: str) -> RequestRecord:
        """A request's status, for the integration whose key made it (Opsgenie's alone keeps
        them); NotFound for any other."""
        if source != "opsgenie":
            raise InvalidArgument("source", "only opsgenie's requests have a status")
        validation.text("request_id", request_id, 100, required=True)
        validation.text("api_key", api_key, 200, required=True)
        kind, _actor = SOURCES[source]
        return await self._store.request_status(kind, hash_secret(api_key), request_id)

    def _read(self, source: str, body: bytes) -> _Event:
        if source == "pagerduty":
            read = pagerduty.read(body, self._new_id().replace("-", ""))
            return _Event(lambda _name: (read.action,), read.routing_key, read.dedup_key)
        if source == "opsgenie":
            request = opsgenie.read(body)
            # Recorded for its status only when the edge gave the request an id.
            recorded = (request.request_id, request.name) if request.request_id else None
            return _Event(lambda _name: (request.action,), "", request.alias, recorded)
        if source == "alertmanager":
            actions = alertmanager.read(body)
            return _Event(lambda _name: actions)
        action = webhook.read(body)
        return _Event(lambda name: (action(name),))


@dataclass(frozen=True)
class _Event:
    """An event read: what it does given its integration's name, and for PagerDuty's, the
    key in its body and its dedup_key."""

    actions: Callable[[str], Sequence[IngestAction]]
    routing_key: str = ""
    dedup_key: str = ""
    request: tuple[str, str] | None = None  # Opsgenie's: its requestId and action
