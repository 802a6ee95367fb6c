"""Between protobuf messages and domain values, both ways.

The servicers decode requests and encode replies here; the Python client does the reverse
with the same functions, so the wire format is described once.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from protos.tocsin.v1 import alerts_pb2, ingest_pb2, integrations_pb2, teams_pb2, tokens_pb2
from service.alerts.model import (
    ActivityEntry,
    Alert,
    AlertEvent,
    AlertFilter,
    AlertQuery,
    AlertRef,
    NewAlert,
    PagingPlan,
    PlannedStep,
    Priority,
    RefKind,
    Responder,
    SortField,
    Status,
)
from service.core.clock import from_micros, to_micros
from service.core.errors import InvalidArgument
from service.ingest.model import Integration, IntegrationType, NewIntegration, SnsDelivery, SnsType
from service.teams.model import Team
from service.tokens.model import TokenInfo

_STATUS_TO_PB = {
    Status.OPEN: alerts_pb2.ALERT_STATUS_OPEN,
    Status.CLOSED: alerts_pb2.ALERT_STATUS_CLOSED,
}
_STATUS_FROM_PB = {value: key for key, value in _STATUS_TO_PB.items()}
_SORT_TO_PB = {
    SortField.CREATED_AT: alerts_pb2.ALERT_SORT_FIELD_CREATED_AT,
    SortField.UPDATED_AT: alerts_pb2.ALERT_SORT_FIELD_UPDATED_AT,
    SortField.LAST_OCCURRED_AT: alerts_pb2.ALERT_SORT_FIELD_LAST_OCCURRED_AT,
    SortField.TINY_ID: alerts_pb2.ALERT_SORT_FIELD_TINY_ID,
    SortField.PRIORITY: alerts_pb2.ALERT_SORT_FIELD_PRIORITY,
    SortField.COUNT: alerts_pb2.ALERT_SORT_FIELD_COUNT,
}
_SORT_FROM_PB = {value: key for key, value in _SORT_TO_PB.items()}
_SORT_FROM_PB[alerts_pb2.ALERT_SORT_FIELD_UNSPECIFIED] = SortField.CREATED_AT


# Scalars


def parse_ref(text: str) -> AlertRef:
    """An alert id, or a tiny id (all digits, optionally with a leading '#')."""
    cleaned = text.strip().removeprefix("#")
    if cleaned.isascii() and cleaned.isdigit():
        return AlertRef(RefKind.TINY_ID, cleaned)
    return AlertRef(RefKind.ID, text.strip())


def timestamp(instant: datetime) -> Timestamp:
    # Straight from microseconds: Timestamp.FromDatetime is several times slower, and every
    # reply carries a few of these.
    seconds, micros = divmod(to_micros(instant), 1_000_000)
    return Timestamp(seconds=seconds, nanos=micros * 1_000)


DURATION_MAX = timedelta(days=3650)


def instant(stamp: Timestamp, field: str = "timestamp") -> datetime:
    try:
        return from_micros(stamp.seconds * 1_000_000 + stamp.nanos // 1_000)
    except OverflowError:
        raise InvalidArgument(field, "is outside the years 1 to 9999") from None


def span(message: Duration, field: str, maximum: timedelta = DURATION_MAX) -> timedelta:
    """A Duration of at most `maximum` either way, as a timedelta (which cannot hold 1e14 s
    and, added to a time, overflows long before that)."""
    if abs(message.seconds) > maximum.total_seconds():
        raise InvalidArgument(
            field, f"must be at most {_spoken(maximum)} (got {message.seconds:,} seconds)"
        )
    # What google.protobuf.Duration allows: nanos under a second, of the seconds' sign.
    if abs(message.nanos) >= 1_000_000_000 or message.seconds * message.nanos < 0:
        raise InvalidArgument(
            field,
            "must be a valid Duration: nanos from -999,999,999 to 999,999,999, of the same sign "
            f"as seconds (got {message.seconds:,} seconds and {message.nanos:,} nanos)",
        )
    return message.ToTimedelta()


def _spoken(delta: timedelta) -> str:
    if delta.days and not delta.seconds:
        return f"{delta.days:,} day{'s' if delta.days > 1 else ''}"
    return f"{delta.total_seconds() / 3600:g} hours"


def optional_instant(message: object, field: str) -> datetime | None:
    """A Timestamp field that may be unset, as a datetime or None."""
    if message.HasField(field):  # type: ignore[attr-defined]
        return instant(getattr(message, field), field)
    return None


def priority(value: int, field: str, *, default: Priority | None = None) -> Priority:
    if value == alerts_pb2.PRIORITY_UNSPECIFIED and default is not None:
        return default
    if value not in range(1, 6):
        raise InvalidArgument(field, "must be one of P1, P2, P3, P4, P5")
    return Priority(value)


def status(value: int, field: str) -> Status:
    try:
        return _STATUS_FROM_PB[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument(field, "must be open or closed") from None


# Alerts


def paging_to_pb(plan: PagingPlan) -> alerts_pb2.PagingPlan:
    message = alerts_pb2.PagingPlan(
        policy=plan.policy, nobody=plan.nobody, unreachable=plan.unreachable
    )
    for step in plan.steps:
        planned = message.steps.add(users=step.users)
        planned.after.FromTimedelta(step.after)
    return message


def paging_from_pb(message: alerts_pb2.PagingPlan) -> PagingPlan:
    steps = tuple(PlannedStep(s.after.ToTimedelta(), tuple(s.users)) for s in message.steps)
    return PagingPlan(message.policy, steps, message.nobody, tuple(message.unreachable))


def alert_to_pb(alert: Alert) -> alerts_pb2.Alert:
    message = alerts_pb2.Alert(
        id=alert.id,
        tiny_id=str(alert.tiny_id),
        alias=alert.alias,
        message=alert.message,
        description=alert.description,
        tags=alert.tags,
        details=dict(alert.details),
        entity=alert.entity,
        source=alert.source,
        priority=int(alert.priority),  # type: ignore[arg-type]
        responders=[alerts_pb2.Responder(type=r.type, name=r.name) for r in alert.responders],
        actions=alert.actions,
        status=_STATUS_TO_PB[alert.status],
        acknowledged=alert.acknowledged,
        count=alert.count,
        created_at=timestamp(alert.created_at),
        updated_at=timestamp(alert.updated_at),
        last_occurred_at=timestamp(alert.last_occurred_at),
        owner_team=alert.owner_team,
        owner_team_id=alert.owner_team_id,
        integration=alert.integration,
        acknowledged_by=alert.acknowledged_by,
        closed_by=alert.closed_by,
    )
    if alert.snoozed_until is not None:
        message.snoozed_until.CopyFrom(timestamp(alert.snoozed_until))
    return message


def alert_from_pb(message: alerts_pb2.Alert) -> Alert:
    return Alert(
        id=message.id,
        tiny_id=int(message.tiny_id or 0),
        alias=message.alias,
        message=message.message,
        description=message.description,
        tags=tuple(message.tags),
        details=dict(message.details),
        entity=message.entity,
        source=message.source,
        priority=priority(message.priority, "priority"),
        responders=tuple(Responder(r.type, r.name) for r in message.responders),
        actions=tuple(message.actions),
        status=status(message.status, "status"),
        acknowledged=message.acknowledged,
        snoozed_until=optional_instant(message, "snoozed_until"),
        count=message.count,
        created_at=instant(message.created_at),
        updated_at=instant(message.updated_at),
        last_occurred_at=instant(message.last_occurred_at),
        owner_team_id=message.owner_team_id,
        owner_team=message.owner_team,
        integration=message.integration,
        acknowledged_by=message.acknowledged_by,
        closed_by=message.closed_by,
    )


def new_alert_from_pb(request: alerts_pb2.CreateAlertRequest) -> NewAlert:
    return NewAlert(
        message=request.message,
        alias=request.alias,
        description=request.description,
        tags=tuple(request.tags),
        details=dict(request.details),
        entity=request.entity,
        source=request.source,
        priority=priority(request.priority, "priority", default=Priority.P3),
        responders=tuple(Responder(r.type, r.name) for r in request.responders),
        actions=tuple(request.actions),
        owner_team=request.owner_team,
    )


def create_request(
    alert: NewAlert, user: str = "", note: str = ""
) -> alerts_pb2.CreateAlertRequest:
    return alerts_pb2.CreateAlertRequest(
        message=alert.message,
        alias=alert.alias,
        description=alert.description,
        tags=alert.tags,
        details=dict(alert.details),
        entity=alert.entity,
        source=alert.source,
        priority=int(alert.priority),  # type: ignore[arg-type]
        responders=[alerts_pb2.Responder(type=r.type, name=r.name) for r in alert.responders],
        actions=alert.actions,
        owner_team=alert.owner_team,
        user=user,
        note=note,
    )


def ref_from_pb(message: alerts_pb2.AlertRef, field: str = "ref") -> AlertRef:
    kind = message.WhichOneof("ref")
    if kind is None:
        raise InvalidArgument(field, "name the alert by id, tiny_id or alias")
    value = getattr(message, kind)
    if not value:
        raise InvalidArgument(f"{field}.{kind}", "must not be empty")
    return AlertRef(RefKind(kind), value, message.team)


def ref_to_pb(ref: AlertRef) -> alerts_pb2.AlertRef:
    message = alerts_pb2.AlertRef(team=ref.team)
    setattr(message, ref.kind.value, ref.value)
    return message


def query_from_pb(request: alerts_pb2.ListAlertsRequest, page_size: int) -> AlertQuery:
    f = request.filter
    if request.order not in (0, 1, 2):
        raise InvalidArgument("order", "must be ascending or descending")
    if request.sort not in _SORT_FROM_PB:
        raise InvalidArgument("sort", "is not a known sort field")
    return AlertQuery(
        filter=AlertFilter(
            statuses=frozenset(status(s, "filter.statuses") for s in f.statuses),
            acknowledged=f.acknowledged if f.HasField("acknowledged") else None,
            snoozed=f.snoozed if f.HasField("snoozed") else None,
            priorities=frozenset(priority(p, "filter.priorities") for p in f.priorities),
            tags=tuple(f.tags),
            team=f.team,
            text=f.text,
            created_after=_filter_instant(f, "created_after"),
            created_before=_filter_instant(f, "created_before"),
        ),
        sort=_SORT_FROM_PB[request.sort],
        descending=request.order != alerts_pb2.SORT_ORDER_ASCENDING,
        page_size=page_size,
        page_token=request.page_token,
    )


def _filter_instant(f: alerts_pb2.AlertFilter, field: str) -> datetime | None:
    try:
        return optional_instant(f, field)
    except InvalidArgument as exc:
        raise InvalidArgument(f"filter.{field}", exc.rule) from None


def query_to_pb(query: AlertQuery) -> alerts_pb2.ListAlertsRequest:
    f = query.filter
    pb_filter = alerts_pb2.AlertFilter(
        statuses=[_STATUS_TO_PB[s] for s in sorted(f.statuses, key=lambda s: s.value)],
        priorities=[int(p) for p in sorted(f.priorities)],  # type: ignore[misc]
        tags=f.tags,
        team=f.team,
        text=f.text,
    )
    if f.acknowledged is not None:
        pb_filter.acknowledged = f.acknowledged
    if f.snoozed is not None:
        pb_filter.snoozed = f.snoozed
    if f.created_after is not None:
        pb_filter.created_after.CopyFrom(timestamp(f.created_after))
    if f.created_before is not None:
        pb_filter.created_before.CopyFrom(timestamp(f.created_before))
    return alerts_pb2.ListAlertsRequest(
        filter=pb_filter,
        sort=_SORT_TO_PB[query.sort],
        order=alerts_pb2.SORT_ORDER_DESCENDING
        if query.descending
        else alerts_pb2.SORT_ORDER_ASCENDING,
        page_size=query.page_size,
        page_token=query.page_token,
    )


def entry_to_pb(entry: ActivityEntry) -> alerts_pb2.ActivityEntry:
    return alerts_pb2.ActivityEntry(
        seq=entry.seq,
        alert_id=entry.alert_id,
        at=timestamp(entry.at),
        actor=entry.actor,
        action=entry.action,
        note=entry.note,
        before_json=json.dumps(dict(entry.before), sort_keys=True),
        after_json=json.dumps(dict(entry.after), sort_keys=True),
    )


def entry_from_pb(message: alerts_pb2.ActivityEntry) -> ActivityEntry:
    return ActivityEntry(
        seq=message.seq,
        alert_id=message.alert_id,
        at=instant(message.at),
        actor=message.actor,
        action=message.action,
        note=message.note,
        before=json.loads(message.before_json or "{}"),
        after=json.loads(message.after_json or "{}"),
    )


def event_to_pb(event: AlertEvent) -> alerts_pb2.AlertEvent:
    return alerts_pb2.AlertEvent(
        cursor=str(event.entry.seq), entry=entry_to_pb(event.entry), alert=alert_to_pb(event.alert)
    )


def event_from_pb(message: alerts_pb2.AlertEvent) -> AlertEvent:
    return AlertEvent(entry_from_pb(message.entry), alert_from_pb(message.alert))


# Integrations

_INTEGRATION_TYPE_TO_PB = {
    IntegrationType.CLOUDTRAIL: integrations_pb2.INTEGRATION_TYPE_CLOUDTRAIL,
    IntegrationType.CLOUDWATCH: integrations_pb2.INTEGRATION_TYPE_CLOUDWATCH,
    IntegrationType.EVENTBRIDGE: integrations_pb2.INTEGRATION_TYPE_EVENTBRIDGE,
    IntegrationType.SNS: integrations_pb2.INTEGRATION_TYPE_SNS,
}
_INTEGRATION_TYPE_FROM_PB = {value: key for key, value in _INTEGRATION_TYPE_TO_PB.items()}


def integration_type(value: int) -> IntegrationType:
    try:
        return _INTEGRATION_TYPE_FROM_PB[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument(
            "type", "must be cloudtrail, cloudwatch, eventbridge or sns"
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


# Teams and tokens


def team_to_pb(team: Team) -> teams_pb2.Team:
    return teams_pb2.Team(
        id=team.id,
        name=team.name,
        description=team.description,
        created_at=timestamp(team.created_at),
    )


def team_from_pb(message: teams_pb2.Team) -> Team:
    return Team(message.id, message.name, message.description, instant(message.created_at))


def token_to_pb(token: TokenInfo) -> tokens_pb2.TokenInfo:
    message = tokens_pb2.TokenInfo(
        id=token.id, name=token.name, created_at=timestamp(token.created_at)
    )
    if token.revoked_at is not None:
        message.revoked_at.CopyFrom(timestamp(token.revoked_at))
    return message


def token_from_pb(message: tokens_pb2.TokenInfo) -> TokenInfo:
    return TokenInfo(
        message.id,
        message.name,
        instant(message.created_at),
        optional_instant(message, "revoked_at"),
    )
