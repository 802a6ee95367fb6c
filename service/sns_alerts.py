"""What an SNS delivery becomes: pure functions from the delivery to the alert to create.

Payload-specific parsing (CloudTrail, CloudWatch, EventBridge) and integration rules build on
this; here every type has defaults that work with no rule configured. Text longer than an
alert field allows is shortened, never refused: the delivery is valid, the alert is a view.
"""

from __future__ import annotations

from service import validation
from service.model import NewAlert, Priority, SnsDelivery, SnsType

SOURCE = "Amazon SNS"
ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def topic_name(topic_arn: str) -> str:
    return topic_arn.rsplit(":", 1)[-1]


def _details(delivery: SnsDelivery) -> dict[str, str]:
    details = {
        "TopicArn": delivery.topic_arn,
        "MessageId": delivery.message_id,
        "Timestamp": delivery.timestamp.isoformat(),
    }
    if delivery.subject:
        details["Subject"] = delivery.subject
    return details


def alert_for(delivery: SnsDelivery) -> NewAlert:
    """The alert a delivery creates; its owner team is the integration's assignee team."""
    topic = topic_name(delivery.topic_arn)
    if delivery.type is SnsType.SUBSCRIPTION_CONFIRMATION:
        return NewAlert(
            message=shorten(f"Subscription to {topic} confirmed", validation.MESSAGE_MAX),
            alias=f"sns-subscription:{delivery.topic_arn}",
            description=f"Tocsin confirmed the SNS subscription to {delivery.topic_arn}.",
            details=_details(delivery),
            entity=topic,
            source=SOURCE,
            priority=Priority.P5,
        )
    if delivery.type is SnsType.UNSUBSCRIBE_CONFIRMATION:
        return NewAlert(
            message=shorten(f"Subscription to {topic} removed", validation.MESSAGE_MAX),
            alias=f"sns-unsubscribed:{delivery.topic_arn}",
            description=(
                f"The SNS subscription to {delivery.topic_arn} was removed: this integration "
                "receives nothing from the topic until it is subscribed again."
            ),
            details=_details(delivery),
            entity=topic,
            source=SOURCE,
            priority=Priority.P3,
        )
    headline = delivery.subject or delivery.message.strip().split("\n", 1)[0] or topic
    return NewAlert(
        message=shorten(headline, validation.MESSAGE_MAX),
        alias=f"sns:{delivery.message_id}",
        description=shorten(delivery.message, validation.DESCRIPTION_MAX),
        details=_details(delivery),
        entity=topic,
        source=SOURCE,
    )
