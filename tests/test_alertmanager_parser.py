"""Unit tests of the readers of Alertmanager's webhook payload and of any JSON object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.alerts.model import Priority
from service.ingest import alertmanager, webhook
from service.ingest.events import InvalidEventError
from service.ingest.model import ActionKind

FIRING = {
    "status": "firing",
    "labels": {"alertname": "DiskFull", "severity": "critical", "job": "node", "instance": "db-1"},
    "annotations": {"summary": "Disk full on db-1", "description": "/var is at 100%"},
    "startsAt": "2026-12-04T19:00:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
    "fingerprint": "c0ffee",
}


def body(*alerts: Any, **top: Any) -> bytes:
    return json.dumps({"version": "4", "status": "firing", **top, "alerts": list(alerts)}).encode()


def errors(data: bytes) -> tuple[str, ...]:
    with pytest.raises(InvalidEventError) as raised:
        alertmanager.read(data)
    return raised.value.errors


def test_a_firing_alert_creates_one_with_its_fields() -> None:
    (action,) = alertmanager.read(body(FIRING))
    alert = action.alert
    assert action.kind is ActionKind.CREATE
    assert (alert.message, alert.alias, alert.description) == (
        "Disk full on db-1", "c0ffee", "/var is at 100%",
    )  # fmt: skip
    assert alert.priority is Priority.P1
    assert alert.tags == ("DiskFull", "critical", "node")
    assert alert.details["status"] == "firing"
    assert alert.details["labels.instance"] == "db-1"
    assert alert.details["annotations.summary"] == "Disk full on db-1"
    assert alert.details["startsAt"] == "2026-12-04T19:00:00Z"
    assert alert.details["generatorURL"].startswith("http://prometheus:9090/")


def test_a_resolved_alert_closes_and_each_alert_is_one_action() -> None:
    resolved = {**FIRING, "status": "resolved", "fingerprint": "beef"}
    first, second = alertmanager.read(body(FIRING, resolved))
    assert (first.kind, second.kind) == (ActionKind.CREATE, ActionKind.CLOSE)
    assert second.alert.alias == "beef"


@pytest.mark.parametrize(
    ("severity", "priority"),
    [
        ("critical", Priority.P1),
        ("error", Priority.P2),
        ("high", Priority.P2),
        ("warning", Priority.P3),
        ("info", Priority.P5),
        ("page", Priority.P3),
        ("", Priority.P3),
    ],
)
def test_the_severity_label_sets_the_priority(severity: str, priority: Priority) -> None:
    labels = {"alertname": "X", "severity": severity}
    (action,) = alertmanager.read(body({**FIRING, "labels": labels}))
    assert action.alert.priority is priority


def test_without_a_summary_the_message_is_the_alertname() -> None:
    (action,) = alertmanager.read(body({**FIRING, "annotations": {}}))
    assert (action.alert.message, action.alert.description) == ("DiskFull", "")
    (bare,) = alertmanager.read(body({"status": "firing", "fingerprint": "f"}))
    assert (bare.alert.message, bare.alert.tags) == ("(no message)", ())


def test_long_annotations_are_fitted_not_refused() -> None:
    annotations = {"summary": "s" * 5_000, "description": "d" * 50_000, "runbook": "r" * 9_000}
    (action,) = alertmanager.read(body({**FIRING, "annotations": annotations}))
    assert len(action.alert.message) <= 1_000
    assert sum(len(k) + len(v) for k, v in action.alert.details.items()) <= 8_000


def test_each_field_at_fault_is_named() -> None:
    bad = {"status": "pending", "labels": {"a": 1}, "startsAt": 5, "fingerprint": ""}
    found = errors(body(FIRING, bad, "nope"))
    assert found == (
        "'alerts[1].status' is missing or invalid (must be 'firing' or 'resolved')",
        "'alerts[1].fingerprint' is missing or blank",
        "'alerts[1].labels.a' must be a string",
        "'alerts[1].startsAt' must be a string",
        "'alerts[2]' must be an object",
    )
    assert errors(body({**FIRING, "status": ["firing"]})) == (
        "'alerts[0].status' is missing or invalid (must be 'firing' or 'resolved')",
    )
    assert errors(body(FIRING, version="3"))[0].startswith("'version' must be '4'")
    assert errors(b'{"version": "4"}') == ("'alerts' is missing or not a list",)


def test_bodies_are_bounded() -> None:
    small = {"status": "firing", "fingerprint": "f"}
    assert errors(body(*[small] * 1_001)) == ("'alerts' must hold at most 1000",)
    assert errors(b"x" * (alertmanager.BODY_MAX + 1)) == ("the event is larger than 1024 KiB",)
    deep = b'{"alerts": [], "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    assert "must not nest deeper than 64 levels" in errors(deep)[0]
    assert errors(b"[]") == ("the event must be a JSON object",)
    assert errors(b"\xff") == ("the event is not UTF-8 text",)
    assert alertmanager.read(body()) == ()


def test_a_webhook_body_is_flattened_and_named_by_its_message() -> None:
    data = {"title": "Deploy failed", "build": {"id": 7, "steps": ["test", "push"]}, "ok": False}
    action = webhook.read(json.dumps(data).encode())("ci")
    assert action.kind is ActionKind.CREATE
    assert action.alert.message == "Deploy failed"
    assert action.alert.details == {
        "title": "Deploy failed", "build.id": "7", "build.steps.0": "test",
        "build.steps.1": "push", "ok": "false",
    }  # fmt: skip


def test_a_webhook_without_a_message_field_is_named_by_its_integration() -> None:
    assert webhook.read(b'{"message": " ", "n": 1}')("ci").alert.message == "Webhook from ci"
    assert webhook.read(b'{"summary": "s", "message": "m"}')("ci").alert.message == "m"
    with pytest.raises(InvalidEventError, match="a JSON object"):
        webhook.read(b'"text"')
