"""Which SNS deliveries an integration takes: the policy alone, no database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from service.core.errors import NotFound, PermissionDenied
from service.ingest.acceptance import Terms, accept
from service.ingest.model import SnsDelivery, SnsType

TOPIC = "arn:aws:sns:eu-west-1:123456789012:alarms"
OTHER = "arn:aws:sns:eu-west-1:123456789012:other"
KEY = "key-hash"
OPEN = Terms(
    name="cw",
    key_hash=KEY,
    enabled=True,
    min_signature_version=1,
    topic_arns=(),
    pinned_topic_arn="",
)


def delivery(
    topic: str = TOPIC, kind: SnsType = SnsType.NOTIFICATION, version: int = 2
) -> SnsDelivery:
    return SnsDelivery(
        integration_id="i-1",
        type=kind,
        message_id="m-1",
        topic_arn=topic,
        subject="",
        message="{}",
        timestamp=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        signature_version=version,
    )


def test_a_missing_integration_and_a_wrong_key_are_refused_alike() -> None:
    with pytest.raises(NotFound, match="no integration with this id and API key"):
        accept(None, KEY, delivery())
    with pytest.raises(NotFound, match="no integration with this id and API key"):
        accept(OPEN, "another-hash", delivery())


def test_a_disabled_integration_takes_nothing() -> None:
    with pytest.raises(PermissionDenied, match="integration 'cw' is disabled"):
        accept(dataclasses.replace(OPEN, enabled=False), KEY, delivery())


def test_a_signature_version_below_the_minimum_is_refused() -> None:
    strict = dataclasses.replace(OPEN, min_signature_version=2, topic_arns=(TOPIC,))
    with pytest.raises(PermissionDenied, match="SignatureVersion 1 is below the minimum 2"):
        accept(strict, KEY, delivery(version=1))
    assert accept(strict, KEY, delivery(version=2)) is False


def test_an_allow_list_takes_its_topics_only_and_pins_nothing() -> None:
    listed = dataclasses.replace(OPEN, topic_arns=(TOPIC,))
    assert accept(listed, KEY, delivery()) is False
    with pytest.raises(PermissionDenied, match=f"topic {OTHER} is not accepted"):
        accept(listed, KEY, delivery(OTHER, SnsType.SUBSCRIPTION_CONFIRMATION))


def test_without_an_allow_list_the_first_confirmed_topic_is_pinned() -> None:
    confirmation = delivery(kind=SnsType.SUBSCRIPTION_CONFIRMATION)
    assert accept(OPEN, KEY, confirmation) is True
    with pytest.raises(PermissionDenied, match="is not accepted"):
        accept(OPEN, KEY, delivery())  # a notification before any confirmation


def test_a_pinned_topic_is_the_only_one_taken() -> None:
    pinned = dataclasses.replace(OPEN, pinned_topic_arn=TOPIC)
    assert accept(pinned, KEY, delivery()) is False
    with pytest.raises(PermissionDenied, match=f"topic {OTHER} is not accepted"):
        accept(pinned, KEY, delivery(OTHER, SnsType.SUBSCRIPTION_CONFIRMATION))
