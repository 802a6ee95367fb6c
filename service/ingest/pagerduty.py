"""PagerDuty Events API v2 bodies read as an alert's fields and the default action: pure.

A trigger creates (or counts into) the open alert whose alias is the event's `dedup_key`;
acknowledge and resolve act on that alert. What PagerDuty itself refuses is refused here, every
field at fault named in one answer, in PagerDuty's words where it has them; anything it takes
(over-long text, large custom details) is fitted to the alert's limits instead, since the
sending tool cannot be asked to change it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from service.alerts.model import NewAlert, Priority
from service.core import validation
from service.ingest import events, fitting

# Re-exported: what reading an event raises was first defined here.
from service.ingest.events import InvalidEventError as InvalidEventError
from service.ingest.model import ActionKind, IngestAction

# PagerDuty's own limits: an event body of 512 KiB, a dedup_key of 255 characters, a summary
# of 1,024 (longer text goes to the description here rather than being refused).
BODY_MAX = 512 * 1024
DEDUP_KEY_MAX = 255
ROUTING_KEY_MAX = 200  # PagerDuty's are 32 characters; Tocsin's integration keys are longer

# PagerDuty's own four severities: "high" is not one of them.
SEVERITIES: Mapping[str, Priority] = {
    key: value for key, value in events.SEVERITIES.items() if key != "high"
}


class EventAction(enum.StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


_KINDS = {
    EventAction.TRIGGER: ActionKind.CREATE,
    EventAction.ACKNOWLEDGE: ActionKind.ACKNOWLEDGE,
    EventAction.RESOLVE: ActionKind.CLOSE,
}


@dataclass(frozen=True)
class Event:
    """An event that reads: the key it names its integration by, what it does by default
    (before the integration's rules), and its dedup_key (`new_key` when a trigger had none)."""

    routing_key: str
    dedup_key: str
    action: IngestAction


def read(body: bytes, new_key: str) -> Event:
    """The event in `body`; raises `InvalidEventError` naming each field at fault."""
    data = events.document(body, BODY_MAX)
    errors: list[str] = []
    routing_key = data.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key.strip():
        errors.append("'routing_key' is missing or blank")
    elif len(routing_key) > ROUTING_KEY_MAX:
        errors.append(f"'routing_key' must be at most {ROUTING_KEY_MAX} characters")
    action = _event_action(data.get("event_action"), errors)
    dedup_key = _dedup_key(data.get("dedup_key"), action, errors)
    alert = NewAlert(message="", alias=dedup_key)
    if action is EventAction.TRIGGER:
        alert = _triggered(data, dedup_key, errors)
    if errors or action is None or not isinstance(routing_key, str):
        raise InvalidEventError(errors)
    key = dedup_key or new_key
    return Event(routing_key, key, _default(alert, action, key))


def _default(alert: NewAlert, action: EventAction, dedup_key: str) -> IngestAction:
    """The action an event takes without rules. Its `event_action` is a detail, first, so a
    rule can tell a trigger from a resolve."""
    details = fitting.fit_details({"event_action": action.value, **alert.details})
    fitted = fitting.fitted(dataclasses.replace(alert, alias=dedup_key, details=details))
    return IngestAction(fitted, kind=_KINDS[action])


def _event_action(value: object, errors: list[str]) -> EventAction | None:
    try:
        return EventAction(value if isinstance(value, str) else "")
    except ValueError:
        errors.append(
            "'event_action' is missing or invalid (must be one of the following: "
            "'trigger', 'acknowledge' or 'resolve')"
        )
        return None


def _dedup_key(value: object, action: EventAction | None, errors: list[str]) -> str:
    if value is None or value == "":
        if action in (EventAction.ACKNOWLEDGE, EventAction.RESOLVE):
            errors.append(f"'dedup_key' is required for event_action '{action}'")
        return ""
    if not isinstance(value, str):
        errors.append("'dedup_key' must be a string")
        return ""
    if len(value) > DEDUP_KEY_MAX:
        errors.append(f"'dedup_key' must be at most {DEDUP_KEY_MAX} characters")
        return ""
    return value


def _triggered(data: Mapping[str, object], dedup_key: str, errors: list[str]) -> NewAlert:
    """The alert a trigger opens, from its payload; each field at fault goes to `errors`."""
    payload = data.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
        return NewAlert(message="")
    summary = _text(payload, "summary", errors, required=True)
    source = _text(payload, "source", errors, required=True)
    severity = payload.get("severity")
    if not isinstance(severity, str) or severity not in SEVERITIES:  # a list is unhashable
        errors.append(
            "'payload.severity' is missing or invalid (must be one of the following: "
            "'critical', 'error', 'warning' or 'info')"
        )
    timestamp = _text(payload, "timestamp", errors)
    if timestamp and not _is_instant(timestamp):
        errors.append("'payload.timestamp' must be an ISO 8601 date and time")
    named = {key: _text(payload, key, errors) for key in ("component", "group", "class")}
    top = {key: data.get(key) for key in ("client", "client_url")}
    fixed = {"severity": severity, "timestamp": timestamp, **named, **top}
    # The fields PagerDuty defines first, so they keep their place in the details' budget
    # and a custom detail of the same name does not replace them.
    details = {key: value for key, value in fixed.items() if value}
    extra = [*_custom(payload.get("custom_details"))]
    extra += fitting.flatten({key: data[key] for key in ("links", "images") if key in data}, "")
    details.update((key, value) for key, value in extra if key not in details)
    long = len(summary) > validation.MESSAGE_MAX
    return NewAlert(
        message=summary,
        alias=dedup_key,
        description=summary if long else "",
        source=source,
        priority=SEVERITIES.get(str(severity), Priority.P3),
        details=fitting.fit_details(details),
    )


def _custom(value: object) -> list[tuple[str, object]]:
    """custom_details by dotted path; text (which PagerDuty also takes) as one detail."""
    if value is None:
        return []
    if isinstance(value, dict | list):
        return list(fitting.flatten(value, ""))
    return [("custom_details", value if isinstance(value, str) else str(value))]


def _text(
    payload: Mapping[str, object], key: str, errors: list[str], *, required: bool = False
) -> str:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            errors.append(f"'payload.{key}' is missing or blank")
        return ""
    if not isinstance(value, str):
        errors.append(f"'payload.{key}' must be a string")
        return ""
    if required and not value.strip():
        errors.append(f"'payload.{key}' is missing or blank")
    return value


def _is_instant(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
