"""Ingest use cases: a verified SNS delivery, or a monitoring tool's event, in; at most one
alert out."""

from __future__ import annotations

from collections.abc import Callable

from service.alerts.model import Actor
from service.core import validation
from service.core.clock import Clock
from service.core.errors import InvalidArgument
from service.core.ids import new_uuid
from service.ingest import pagerduty
from service.ingest import sns as sns_alerts
from service.ingest.model import (
    SNS_MESSAGE_MAX,
    EventResult,
    IngestResult,
    IntegrationType,
    SnsDelivery,
)
from service.ingest.store import IngestStore
from service.tokens.usecases import hash_secret

ACTOR = Actor("Amazon SNS")
# Each source of events: the integration type its events go to, and who is said to act.
SOURCES = {"pagerduty": (IntegrationType.PAGERDUTY, Actor("PagerDuty Events API"))}
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

    async def ingest_event(self, source: str, body: bytes) -> EventResult:
        """Reads an event in `source`'s API and takes it. An event that does not read is
        answered with its errors; an unknown key raises NotFound, a disabled integration
        PermissionDenied."""
        if source not in SOURCES:
            raise InvalidArgument("source", f"must be one of {', '.join(SOURCES)}")
        kind, actor = SOURCES[source]
        try:
            event = pagerduty.read(body, self._new_id().replace("-", ""))
        except pagerduty.InvalidEventError as exc:
            return EventResult(errors=exc.errors)
        result = await self._store.ingest_event(
            kind,
            hash_secret(event.routing_key),
            event.action,
            actor,
            self._clock.now(),
            self._new_id(),
        )
        return EventResult((), event.dedup_key, result.alert, result.deduplicated)
