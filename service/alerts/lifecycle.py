"""The alert lifecycle as pure functions: (alert, request, now) -> Transition.

Nothing here reads the clock or the database. A step that would change nothing returns
a transition without changes, so retried calls are harmless; a step the alert's state
forbids raises `FailedPrecondition`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from service.alerts import fields
from service.alerts.model import Alert, Change, NewAlert, Priority, Responder, Status, Transition
from service.core import validation
from service.core.errors import FailedPrecondition, InvalidArgument

# Activity actions, as they appear in the log and in watch events.
CREATED = "created"
DEDUPLICATED = "deduplicated"
ACKNOWLEDGED = "acknowledged"
UNACKNOWLEDGED = "unacknowledged"
CLOSED = "closed"
SNOOZED = "snoozed"
SNOOZE_ENDED = "snooze_ended"
NOTE_ADDED = "note_added"
TAGS_ADDED = "tags_added"
TAGS_REMOVED = "tags_removed"
DETAILS_ADDED = "details_added"
DETAILS_REMOVED = "details_removed"
PRIORITY_UPDATED = "priority_updated"


def jsonable(value: object) -> object:
    """A field value as it is written to the activity log."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Priority):
        return value.name
    if isinstance(value, Status):
        return value.value
    if isinstance(value, Responder):
        return {"type": value.type, "name": value.name}
    if isinstance(value, tuple | list):
        return [jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    return value


def _change(alert: Alert, action: str, now: datetime, **fields: object) -> Transition:
    """Applies `fields` to `alert`, recording only the fields whose value differs."""
    differing = {name: value for name, value in fields.items() if getattr(alert, name) != value}
    if not differing:
        return Transition(alert, ())
    before = {name: jsonable(getattr(alert, name)) for name in differing}
    after = {name: jsonable(value) for name, value in differing.items()}
    updated = dataclasses.replace(alert, updated_at=now, **differing)  # type: ignore[arg-type]
    return Transition(updated, (Change(action, before, after),))


def _require_open(alert: Alert, doing: str) -> None:
    if alert.status is Status.CLOSED:
        raise FailedPrecondition(f"alert {alert.tiny_id} is closed, so it cannot be {doing}")


def new(
    alert: NewAlert,
    alert_id: str,
    tiny_id: int,
    owner_team_id: str,
    owner_team: str,
    now: datetime,
) -> Alert:
    """The alert `alert` makes when no open one has its alias: open, unacknowledged, seen
    once, now; its alias is its id unless it brought one."""
    carried: dict[str, Any] = {name: getattr(alert, name) for name in fields.CARRIED}
    return Alert(
        **{
            **carried,
            "id": alert_id,
            "tiny_id": tiny_id,
            "alias": alert.alias or alert_id,
            "details": dict(alert.details),
            "status": Status.OPEN,
            "acknowledged": False,
            "snoozed_until": None,
            "count": 1,
            "created_at": now,
            "updated_at": now,
            "last_occurred_at": now,
            "owner_team_id": owner_team_id,
            "owner_team": owner_team,
            "acknowledged_by": "",
            "closed_by": "",
        }
    )


def created(alert: Alert) -> Change:
    """The first entry of every alert: all it was created with."""
    return Change(CREATED, {}, described(alert))


def described(alert: Alert | NewAlert) -> dict[str, object]:
    """What an alert says, as plain data: for the log, and for showing an alert to be."""
    return {name: jsonable(getattr(alert, name)) for name in fields.NEW_ALERT}


def deduplicate(alert: Alert, now: datetime) -> Transition:
    """Another occurrence of an open alert: count it instead of creating a new one."""
    updated = dataclasses.replace(
        alert, count=alert.count + 1, last_occurred_at=now, updated_at=now
    )
    change = Change(
        DEDUPLICATED,
        {"count": alert.count, "last_occurred_at": jsonable(alert.last_occurred_at)},
        {"count": updated.count, "last_occurred_at": jsonable(now)},
    )
    return Transition(updated, (change,))


def acknowledge(alert: Alert, user: str, now: datetime) -> Transition:
    """Acknowledging also cancels a snooze."""
    _require_open(alert, "acknowledged")
    if alert.acknowledged:
        return Transition(alert, ())
    return _change(
        alert, ACKNOWLEDGED, now, acknowledged=True, acknowledged_by=user, snoozed_until=None
    )


def unacknowledge(alert: Alert, now: datetime) -> Transition:
    _require_open(alert, "unacknowledged")
    if not alert.acknowledged:
        raise FailedPrecondition(f"alert {alert.tiny_id} is not acknowledged")
    return _change(alert, UNACKNOWLEDGED, now, acknowledged=False, acknowledged_by="")


def close(alert: Alert, user: str, now: datetime) -> Transition:
    """Closing also cancels a snooze; closing a closed alert changes nothing."""
    if alert.status is Status.CLOSED:
        return Transition(alert, ())
    return _change(alert, CLOSED, now, status=Status.CLOSED, closed_by=user, snoozed_until=None)


def snooze(alert: Alert, until: datetime, now: datetime, field: str = "until") -> Transition:
    _require_open(alert, "snoozed")
    validation.snooze_until(until, now, field)
    return _change(alert, SNOOZED, now, snoozed_until=until)


def end_snooze(alert: Alert, now: datetime) -> Transition:
    """When a snooze runs out the alert is open and unacknowledged again, to page anew."""
    if alert.status is Status.CLOSED or alert.snoozed_until is None or alert.snoozed_until > now:
        return Transition(alert, ())
    return _change(
        alert, SNOOZE_ENDED, now, snoozed_until=None, acknowledged=False, acknowledged_by=""
    )


def add_note(alert: Alert, note: str, now: datetime) -> Transition:
    """A note changes no field but the alert's updated time; the entry carries the note."""
    validation.note(note, required=True)
    return Transition(dataclasses.replace(alert, updated_at=now), (Change(NOTE_ADDED),))


def add_tags(alert: Alert, tags: Iterable[str], now: datetime) -> Transition:
    new = validation.tags(tags)
    if not new:
        raise InvalidArgument("tags", "name at least one tag")
    merged = validation.tags(alert.tags + tuple(tag for tag in new if tag not in alert.tags))
    return _change(alert, TAGS_ADDED, now, tags=merged)


def remove_tags(alert: Alert, tags: Iterable[str], now: datetime) -> Transition:
    gone = validation.word_list("tags", tags, max_items=validation.TAGS_MAX, max_len=10_000)
    if not gone:
        raise InvalidArgument("tags", "name at least one tag")
    return _change(alert, TAGS_REMOVED, now, tags=tuple(t for t in alert.tags if t not in gone))


def add_details(alert: Alert, details: Mapping[str, str], now: datetime) -> Transition:
    if not details:
        raise InvalidArgument("details", "give at least one key=value")
    validation.details(details)
    merged = validation.details({**alert.details, **details})
    return _change(alert, DETAILS_ADDED, now, details=merged)


def remove_details(alert: Alert, keys: Iterable[str], now: datetime) -> Transition:
    gone = set(keys)
    if not gone:
        raise InvalidArgument("keys", "name at least one key")
    kept = {key: value for key, value in alert.details.items() if key not in gone}
    return _change(alert, DETAILS_REMOVED, now, details=kept)


def update_priority(alert: Alert, priority: Priority, now: datetime) -> Transition:
    return _change(alert, PRIORITY_UPDATED, now, priority=priority)


def with_note(transition: Transition, note: str, now: datetime) -> Transition:
    """A note given with a call that changed nothing is still kept, as a note entry."""
    if note and not transition.changes:
        return add_note(transition.alert, note, now)
    return transition
