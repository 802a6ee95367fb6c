"""Prometheus Alertmanager's webhook bodies (payload version 4) read as actions: pure.

Alertmanager sends a group's alerts in one body; each becomes one action on the alert whose
alias is its `fingerprint`: `firing` creates (or counts into the open one), `resolved` closes.
Its labels and annotations become details (`labels.x`, `annotations.y`), the values of the
`alertname`, `severity` and `job` labels its tags, and a `severity` label its priority. What
does not read is refused, every field at fault named; long text is fitted instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from service.alerts.model import NewAlert, Priority
from service.ingest import events, fitting
from service.ingest.model import ActionKind, IngestAction

# Room for a group of 1,000 alerts with their labels; the HTTP edge's own cap is above it.
BODY_MAX = 1024 * 1024
ALERTS_MAX = 1_000
FINGERPRINT_MAX = 255
VERSION = "4"
TAG_LABELS = ("alertname", "severity", "job")
_KINDS = {"firing": ActionKind.CREATE, "resolved": ActionKind.CLOSE}


def read(body: bytes) -> tuple[IngestAction, ...]:
    """One action per alert in `body`, in order; raises `events.InvalidEventError` naming
    each field at fault."""
    data = events.document(body, BODY_MAX)
    errors: list[str] = []
    version = data.get("version")
    if version is not None and version != VERSION:
        errors.append(f"'version' must be {VERSION!r} (Alertmanager's webhook payload version)")
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise events.InvalidEventError([*errors, "'alerts' is missing or not a list"])
    if len(alerts) > ALERTS_MAX:
        raise events.InvalidEventError([*errors, f"'alerts' must hold at most {ALERTS_MAX}"])
    actions = [_action(alert, f"alerts[{index}]", errors) for index, alert in enumerate(alerts)]
    if errors:
        raise events.InvalidEventError(errors)
    return tuple(action for action in actions if action is not None)


def _action(alert: object, field: str, errors: list[str]) -> IngestAction | None:
    if not isinstance(alert, dict):
        errors.append(f"'{field}' must be an object")
        return None
    count = len(errors)
    status = alert.get("status")
    if not isinstance(status, str) or status not in _KINDS:  # a list is unhashable
        errors.append(f"'{field}.status' is missing or invalid (must be 'firing' or 'resolved')")
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint.strip():
        errors.append(f"'{field}.fingerprint' is missing or blank")
    elif len(fingerprint) > FINGERPRINT_MAX:
        errors.append(f"'{field}.fingerprint' must be at most {FINGERPRINT_MAX} characters")
    labels = _strings(alert, "labels", field, errors)
    annotations = _strings(alert, "annotations", field, errors)
    times = {key: _text(alert, key, field, errors) for key in ("startsAt", "endsAt")}
    url = _text(alert, "generatorURL", field, errors)
    if len(errors) > count or not isinstance(fingerprint, str):
        return None
    # The status first, so a rule can tell firing from resolved; then what Alertmanager
    # defines, ahead of the labels and annotations in the details' budget.
    details: dict[str, object] = {"status": status, **times, "generatorURL": url}
    details.update((f"labels.{key}", value) for key, value in labels.items())
    details.update((f"annotations.{key}", value) for key, value in annotations.items())
    new = NewAlert(
        message=annotations.get("summary") or labels.get("alertname", ""),
        alias=fingerprint,
        description=annotations.get("description", ""),
        tags=tuple(labels[key] for key in TAG_LABELS if labels.get(key)),
        priority=events.SEVERITIES.get(labels.get("severity", "").lower(), Priority.P3),
        details=fitting.fit_details(details),
    )
    return IngestAction(fitting.fitted(new), kind=_KINDS[str(status)])


def _strings(
    alert: Mapping[str, object], key: str, field: str, errors: list[str]
) -> Mapping[str, str]:
    """A label or annotation set: an object of strings (absent, empty)."""
    value = alert.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(f"'{field}.{key}' must be an object")
        return {}
    wrong: Sequence[str] = [name for name, item in value.items() if not isinstance(item, str)]
    if wrong:
        errors.append(f"'{field}.{key}.{wrong[0]}' must be a string")
        return {}
    return value


def _text(alert: Mapping[str, object], key: str, field: str, errors: list[str]) -> str:
    value = alert.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.append(f"'{field}.{key}' must be a string")
        return ""
    return value
