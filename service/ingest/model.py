"""Integrations and what they deliver, as values: plain, immutable, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from service.alerts.model import Alert, AlertRef, NewAlert

# Amazon SNS's limit on a message (256 KiB): the edge refuses a larger body, and the service a
# larger message, however it arrives.
SNS_MESSAGE_MAX = 256 * 1024


class IntegrationType(enum.Enum):
    CLOUDTRAIL = "cloudtrail"
    CLOUDWATCH = "cloudwatch"
    EVENTBRIDGE = "eventbridge"
    SNS = "sns"
    PAGERDUTY = "pagerduty"  # PagerDuty Events API v2, not SNS: see `service.ingest.pagerduty`
    ALERTMANAGER = "alertmanager"  # Prometheus Alertmanager: `service.ingest.alertmanager`
    WEBHOOK = "webhook"  # any JSON object: `service.ingest.webhook`
    OPSGENIE = "opsgenie"  # Opsgenie's Alert API: `service.ingest.opsgenie`


# The types whose integrations take events in a tool's own API rather than SNS deliveries.
EVENT_TYPES = frozenset(
    {
        IntegrationType.PAGERDUTY,
        IntegrationType.ALERTMANAGER,
        IntegrationType.WEBHOOK,
        IntegrationType.OPSGENIE,
    }
)


@dataclass(frozen=True)
class NewIntegration:
    name: str
    type: IntegrationType
    team: str = ""
    assignee_team: str = ""
    topic_arns: tuple[str, ...] = ()
    min_signature_version: int = 1


@dataclass(frozen=True)
class Integration:
    """Where SNS delivers, or a PagerDuty-speaking tool sends events: who owns it, who gets
    its alerts, and what it accepts (topics and SignatureVersion are SNS's alone)."""

    id: str
    name: str
    type: IntegrationType
    owner_team_id: str
    owner_team: str
    assignee_team_id: str
    assignee_team: str
    enabled: bool
    topic_arns: tuple[str, ...]
    pinned_topic_arn: str
    min_signature_version: int
    created_at: datetime


class SnsType(enum.Enum):
    NOTIFICATION = "Notification"
    SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
    UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"


@dataclass(frozen=True)
class SnsDelivery:
    """An SNS message whose signature the HTTP edge has verified."""

    integration_id: str
    type: SnsType
    message_id: str
    topic_arn: str
    subject: str
    message: str
    timestamp: datetime
    signature_version: int


@dataclass(frozen=True)
class IngestResult:
    duplicate: bool
    alert: Alert | None
    deduplicated: bool


@dataclass(frozen=True)
class EventResult:
    """What became of a monitoring tool's event: refused (`errors`, one per field at fault),
    or taken, with its dedup_key and the alert it created or acted on (None: none was open,
    or a rule ignored it)."""

    errors: tuple[str, ...] = ()
    dedup_key: str = ""
    alert: Alert | None = None
    deduplicated: bool = False


class ActionKind(enum.StrEnum):
    """What a delivery does. Its values are the action names integration rules use, and
    a `str` each, so they compare equal to those names and go out through the API as is."""

    CREATE = "create"
    CLOSE = "close"
    ACKNOWLEDGE = "acknowledge"
    ADD_NOTE = "add-note"
    UNACKNOWLEDGE = "unacknowledge"  # Opsgenie's; not a rule's action


@dataclass(frozen=True)
class IngestAction:
    """What a delivery does: `create` (or count into an open alert with the same alias), or
    `close`, `acknowledge`, `unacknowledge` or `add-note` on the open alert with `alert.alias`,
    or the one `ref` names by id or tiny id when the sender named it so (Opsgenie's requests
    may). `note` goes into the activity log with the change."""

    alert: NewAlert
    kind: ActionKind = ActionKind.CREATE
    note: str = ""
    ref: AlertRef | None = None


@dataclass(frozen=True)
class RequestRecord:
    """An Opsgenie request as it was taken, for its status (kept a day): what it did, to
    which alert, and whether it found one."""

    request_id: str
    integration_id: str
    action: str
    success: bool
    status: str
    alert_id: str
    alias: str
    processed_at: datetime
