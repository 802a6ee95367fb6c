"""Integrations and the SNS deliveries they receive between protobuf messages and domain
values, both ways: the servicers, the SNS edge and the Python client share it."""

from __future__ import annotations

from protos.tocsin.v1 import ingest_pb2, integrations_pb2
from service.api.time_codec import instant, timestamp
from service.core.errors import InvalidArgument
from service.ingest.model import Integration, IntegrationType, NewIntegration, SnsDelivery, SnsType

_INTEGRATION_TYPE_TO_PB = {
    IntegrationType.CLOUDTRAIL: integrations_pb2.INTEGRATION_TYPE_CLOUDTRAIL,
    IntegrationType.CLOUDWATCH: integrations_pb2.INTEGRATION_TYPE_CLOUDWATCH,
    IntegrationType.EVENTBRIDGE: integrations_pb2.INTEGRATION_TYPE_EVENTBRIDGE,
    IntegrationType.SNS: integrations_pb2.INTEGRATION_TYPE_SNS,
    IntegrationType.PAGERDUTY: integrations_pb2.INTEGRATION_TYPE_PAGERDUTY,
    IntegrationType.ALERTMANAGER: integrations_pb2.INTEGRATION_TYPE_ALERTMANAGER,
    IntegrationType.WEBHOOK: integrations_pb2.INTEGRATION_TYPE_WEBHOOK,
    IntegrationType.OPSGENIE: integrations_pb2.INTEGRATION_TYPE_OPSGENIE,
}
_INTEGRATION_TYPE_FROM_PB = {value: key for key, value in _INTEGRATION_TYPE_TO_PB.items()}


def integration_type(value: int) -> IntegrationType:
    try:
        return _INTEGRATION_TYPE_FROM_PB[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument(
            "type",
            "must be cloudtrail, cloudwatch, eventbridge, sns, pagerduty, alertmanager, webhook "
            "or opsgenie",
        ) from None


def integration_to_pb(integration: Integration, url: str) -> integrations_pb2.Integration:
    return integrations_pb2.Integration(
        id=integration.id,
        name=integration.name,
        type=_INTEGRATION_TYPE_TO_PB[integration.type],
        owner_team=integration.owner_team,
        assignee_team=integration.assignee_team,
        enabled=integration.enabled,
        topic_arns=integration.topic_arns,
        pinned_topic_arn=integration.pinned_topic_arn,
        min_signature_version=integration.min_signature_version,
        url=url,
        created_at=timestamp(integration.created_at),
    )


def integration_from_pb(message: integrations_pb2.Integration) -> tuple[Integration, str]:
    """The integration and its URL (without the key)."""
    integration = Integration(
        id=message.id,
        name=message.name,
        type=integration_type(message.type),
        owner_team_id="",
        owner_team=message.owner_team,
        assignee_team_id="",
        assignee_team=message.assignee_team,
        enabled=message.enabled,
        topic_arns=tuple(message.topic_arns),
        pinned_topic_arn=message.pinned_topic_arn,
        min_signature_version=message.min_signature_version,
        created_at=instant(message.created_at),
    )
    return integration, message.url


def new_integration_from_pb(request: integrations_pb2.CreateIntegrationRequest) -> NewIntegration:
    return NewIntegration(
        name=request.name,
        type=integration_type(request.type),
        team=request.team,
        assignee_team=request.assignee_team,
        topic_arns=tuple(request.topic_arns),
        min_signature_version=request.min_signature_version or 1,
    )


def create_integration_request(
    integration: NewIntegration,
) -> integrations_pb2.CreateIntegrationRequest:
    return integrations_pb2.CreateIntegrationRequest(
        name=integration.name,
        type=_INTEGRATION_TYPE_TO_PB[integration.type],
        team=integration.team,
        assignee_team=integration.assignee_team,
        topic_arns=integration.topic_arns,
        min_signature_version=integration.min_signature_version,
    )


# SNS deliveries


def delivery_from_pb(message: ingest_pb2.SnsDelivery) -> tuple[SnsDelivery, str]:
    """The delivery and the API key it came with."""
    try:
        kind = SnsType(message.type)
    except ValueError:
        raise InvalidArgument("type", "must be an SNS message type") from None
    if not message.HasField("timestamp"):
        raise InvalidArgument("timestamp", "is required")
    delivery = SnsDelivery(
        integration_id=message.integration_id,
        type=kind,
        message_id=message.message_id,
        topic_arn=message.topic_arn,
        subject=message.subject,
        message=message.message,
        timestamp=instant(message.timestamp, "timestamp"),
        signature_version=message.signature_version,
    )
    return delivery, message.api_key


def delivery_to_pb(delivery: SnsDelivery, api_key: str) -> ingest_pb2.SnsDelivery:
    return ingest_pb2.SnsDelivery(
        integration_id=delivery.integration_id,
        api_key=api_key,
        type=delivery.type.value,
        message_id=delivery.message_id,
        topic_arn=delivery.topic_arn,
        subject=delivery.subject,
        message=delivery.message,
        timestamp=timestamp(delivery.timestamp),
        signature_version=delivery.signature_version,
    )
