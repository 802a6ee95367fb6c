"""Ingest use cases: a verified SNS delivery in, at most one alert out."""

from __future__ import annotations

from collections.abc import Callable

from service.alerts.model import Actor
from service.core import validation
from service.core.clock import Clock
from service.core.errors import InvalidArgument
from service.core.ids import new_uuid
from service.ingest import sns as sns_alerts
from service.ingest.model import SNS_MESSAGE_MAX, IngestResult, SnsDelivery
from service.ingest.store import IngestStore
from service.tokens.usecases import hash_secret

ACTOR = Actor("Amazon SNS")
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
