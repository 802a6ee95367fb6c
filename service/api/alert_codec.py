"""Alerts between protobuf messages and domain values, both ways: alerts and how they are
named (refs), queries, the activity log and its events, and the paging plan a create
answers with.

The servicer decodes requests and encodes replies here; the Python client does the reverse
with the same functions, so the wire format is described once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from protos.tocsin.v1 import alerts_pb2
from service.alerts import fields
from service.alerts.fields import Kind
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
from service.api.time_codec import instant, optional_instant, timestamp
from service.core.errors import InvalidArgument

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


# Refs, priorities and statuses


def parse_ref(text: str) -> AlertRef:
    """An alert id, or a tiny id (all digits, optionally with a leading '#')."""
    cleaned = text.strip().removeprefix("#")
    if cleaned.isascii() and cleaned.isdigit():
        return AlertRef(RefKind.TINY_ID, cleaned)
    return AlertRef(RefKind.ID, text.strip())


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


def _responders_to_pb(responders: tuple[Responder, ...]) -> list[alerts_pb2.Responder]:
    return [alerts_pb2.Responder(type=r.type, name=r.name) for r in responders]


# Each kind of field (`service.alerts.fields`) into its protobuf field (None: as it is) and
# back; a message field's name is that of the model's field.
_TO_PB: dict[Kind, Callable[[Any], Any] | None] = {
    Kind.TEXT: None, Kind.NUMBER: None, Kind.FLAG: None, Kind.WORDS: None, Kind.DETAILS: dict,
    Kind.PRIORITY: int, Kind.RESPONDERS: _responders_to_pb, Kind.STATUS: _STATUS_TO_PB.get,
    Kind.INSTANT: timestamp, Kind.MAYBE_INSTANT: lambda at: None if at is None else timestamp(at),
}  # fmt: skip
_FROM_PB: dict[Kind, Callable[[Any, str], Any]] = {
    Kind.TEXT: getattr, Kind.NUMBER: getattr, Kind.FLAG: getattr,
    Kind.WORDS: lambda message, name: tuple(getattr(message, name)),
    Kind.DETAILS: lambda message, name: dict(getattr(message, name)),
    Kind.PRIORITY: lambda message, name: priority(getattr(message, name), name),
    Kind.RESPONDERS: lambda message, name: tuple(
        Responder(r.type, r.name) for r in getattr(message, name)
    ),
    Kind.STATUS: lambda message, name: status(getattr(message, name), name),
    Kind.INSTANT: lambda message, name: instant(getattr(message, name), name),
    Kind.MAYBE_INSTANT: optional_instant,
}  # fmt: skip
# The API writes tiny ids as text: they are shown and typed, never counted with.
_TEXT_NUMBERS = frozenset({"tiny_id"})


def _to_pb(value: object, kind: Kind) -> Any:
    convert = _TO_PB[kind]
    return value if convert is None else convert(value)


def alert_to_pb(alert: Alert) -> alerts_pb2.Alert:
    values = {name: _to_pb(getattr(alert, name), kind) for name, kind in fields.ALERT.items()}
    for name in _TEXT_NUMBERS:
        values[name] = str(values[name])
    return alerts_pb2.Alert(**{name: value for name, value in values.items() if value is not None})


def alert_from_pb(message: alerts_pb2.Alert) -> Alert:
    values: dict[str, Any] = {
        name: int(getattr(message, name) or 0)
        if name in _TEXT_NUMBERS
        else _FROM_PB[kind](message, name)
        for name, kind in fields.ALERT.items()
    }
    return Alert(**values)


# What a create request carries: the fields of NewAlert that CreateAlertRequest has.
_CREATE_FIELDS = {
    name: kind
    for name, kind in fields.NEW_ALERT.items()
    if name in alerts_pb2.CreateAlertRequest.DESCRIPTOR.fields_by_name
}


def new_alert_from_pb(request: alerts_pb2.CreateAlertRequest) -> NewAlert:
    values: dict[str, Any] = {
        name: priority(request.priority, name, default=Priority.P3)
        if kind is Kind.PRIORITY
        else _FROM_PB[kind](request, name)
        for name, kind in _CREATE_FIELDS.items()
    }
    return NewAlert(**values)


def create_request(
    alert: NewAlert, user: str = "", note: str = ""
) -> alerts_pb2.CreateAlertRequest:
    values = {name: _to_pb(getattr(alert, name), kind) for name, kind in _CREATE_FIELDS.items()}
    return alerts_pb2.CreateAlertRequest(**values, user=user, note=note)


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
