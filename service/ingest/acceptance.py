"""Which SNS deliveries an integration takes: by its key, its state, its minimum
SignatureVersion and its topics. A policy only: the store reads an integration's terms and
records the topic it pins."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from service.core.errors import NotFound, PermissionDenied
from service.ingest.model import SnsDelivery, SnsType


@dataclass(frozen=True)
class Terms:
    """What an integration accepts, as the store keeps it."""

    name: str
    key_hash: str
    enabled: bool
    min_signature_version: int
    topic_arns: tuple[str, ...]  # the allow-list; empty takes the first confirmed topic
    pinned_topic_arn: str  # that first topic, once confirmed; "" before


def accept(terms: Terms | None, key_hash: str, delivery: SnsDelivery) -> bool:
    """Raises unless the integration (None: there is none with the delivery's id) takes this
    delivery with this key; True when taking it pins the delivery's topic. An integration
    without an allow-list takes the first topic whose subscription is confirmed, and once SNS
    has confirmed it, that topic is the only one it takes."""
    if terms is None or not hmac.compare_digest(terms.key_hash, key_hash):
        raise NotFound("no integration with this id and API key")
    if not terms.enabled:
        raise PermissionDenied(f"integration {terms.name!r} is disabled")
    if delivery.signature_version < terms.min_signature_version:
        raise PermissionDenied(
            f"SignatureVersion {delivery.signature_version} is below the minimum "
            f"{terms.min_signature_version} of integration {terms.name!r}"
        )
    allowed = list(terms.topic_arns) or [terms.pinned_topic_arn]
    if delivery.topic_arn in allowed:
        return False
    pinning = (
        not terms.pinned_topic_arn
        and allowed == [""]
        and delivery.type is SnsType.SUBSCRIPTION_CONFIRMATION
    )
    if not pinning:
        raise PermissionDenied(
            f"topic {delivery.topic_arn} is not accepted by integration {terms.name!r}"
        )
    return True
