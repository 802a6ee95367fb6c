"""Reading PagerDuty Events API v2 bodies: fields, defaults, limits and errors."""

from __future__ import annotations

import json

import pytest

from service.alerts.model import Priority
from service.core import validation
from service.ingest import pagerduty
from service.ingest.model import ActionKind


def body(**event: object) -> bytes:
    return json.dumps({"routing_key": "key", **event}).encode()


def trigger(**payload: object) -> bytes:
    fields = {"summary": "Disk full", "source": "db-1", "severity": "warning", **payload}
    return body(event_action="trigger", payload=fields)


def errors(data: bytes) -> tuple[str, ...]:
    with pytest.raises(pagerduty.InvalidEventError) as raised:
        pagerduty.read(data, "new")
    return raised.value.errors


@pytest.mark.parametrize(
    ("severity", "priority"),
    [
        ("critical", Priority.P1),
        ("error", Priority.P2),
        ("warning", Priority.P3),
        ("info", Priority.P5),
    ],
)
def test_severity_becomes_priority(severity: str, priority: Priority) -> None:
    event = pagerduty.read(trigger(severity=severity), "new")
    assert event.action.alert.priority is priority


def test_a_trigger_creates_with_its_dedup_key_as_alias() -> None:
    data = json.loads(trigger(component="pg", group="prod", timestamp="2026-12-04T10:00:00Z"))
    data.update(dedup_key="disk", client="Grafana", links=[{"href": "https://g/1"}])
    event = pagerduty.read(json.dumps(data).encode(), "new")
    assert (event.routing_key, event.dedup_key) == ("key", "disk")
    alert = event.action.alert
    assert event.action.kind is ActionKind.CREATE
    assert (alert.message, alert.alias, alert.source) == ("Disk full", "disk", "db-1")
    assert alert.details == {
        "event_action": "trigger",
        "severity": "warning",
        "timestamp": "2026-12-04T10:00:00Z",
        "component": "pg",
        "group": "prod",
        "client": "Grafana",
        "links.0.href": "https://g/1",
    }


def test_a_trigger_without_dedup_key_gets_the_new_one() -> None:
    event = pagerduty.read(trigger(), "generated")
    assert event.dedup_key == event.action.alert.alias == "generated"


@pytest.mark.parametrize(
    ("action", "kind"), [("acknowledge", ActionKind.ACKNOWLEDGE), ("resolve", ActionKind.CLOSE)]
)
def test_acknowledge_and_resolve_act_on_the_alias(action: str, kind: ActionKind) -> None:
    event = pagerduty.read(body(event_action=action, dedup_key="disk"), "new")
    assert (event.action.kind, event.action.alert.alias, event.dedup_key) == (kind, "disk", "disk")


def test_a_long_summary_is_cut_and_kept_whole_in_the_description() -> None:
    summary = "x" * 1_000
    alert = pagerduty.read(trigger(summary=summary), "new").action.alert
    assert len(alert.message) == validation.MESSAGE_MAX
    assert alert.description == summary


def test_custom_details_are_flattened_and_fitted() -> None:
    custom = {"disk": {"free": 0, "mounts": ["/", "/var"]}, "severity": "mine", "big": "y" * 5_000}
    details = pagerduty.read(trigger(custom_details=custom), "new").action.alert.details
    assert details["disk.free"] == "0"
    assert details["disk.mounts.1"] == "/var"
    assert details["severity"] == "warning"  # PagerDuty's own field is kept
    assert len(details["big"]) <= 1_000
    assert sum(len(k) + len(v) for k, v in details.items()) <= validation.DETAILS_TOTAL_MAX
    many = {f"k{n}": "z" * 1_000 for n in range(20)}
    full = pagerduty.read(trigger(custom_details=many), "new").action.alert.details
    assert full["event_action"] == "trigger"
    assert sum(len(k) + len(v) for k, v in full.items()) <= validation.DETAILS_TOTAL_MAX
    text = pagerduty.read(trigger(custom_details="just text"), "new").action.alert.details
    assert text["custom_details"] == "just text"


def test_every_field_at_fault_is_named() -> None:
    assert errors(json.dumps({"event_action": "open", "dedup_key": 5}).encode()) == (
        "'routing_key' is missing or blank",
        "'event_action' is missing or invalid (must be one of the following: "
        "'trigger', 'acknowledge' or 'resolve')",
        "'dedup_key' must be a string",
    )
    found = errors(body(event_action="trigger", payload={"summary": " ", "severity": "bad"}))
    assert found[:2] == (
        "'payload.summary' is missing or blank",
        "'payload.source' is missing or blank",
    )
    assert "'payload.severity'" in found[2]
    assert errors(body(event_action="resolve")) == (
        "'dedup_key' is required for event_action 'resolve'",
    )
    assert errors(body(event_action="trigger")) == ("'payload' is missing or not an object",)
    assert errors(trigger(timestamp="yesterday")) == (
        "'payload.timestamp' must be an ISO 8601 date and time",
    )
    assert errors(trigger(component=3)) == ("'payload.component' must be a string",)
    (severity,) = errors(trigger(severity=["critical"]))
    assert severity.startswith("'payload.severity' is missing or invalid")
    assert errors(body(event_action="resolve", dedup_key="d" * 256)) == (
        "'dedup_key' must be at most 255 characters",
    )


def test_bodies_that_are_not_events() -> None:
    assert errors(b"[]") == ("the event must be a JSON object",)
    assert errors(b"\xff") == ("the event is not UTF-8 text",)
    (message,) = errors(b"{")
    assert message.startswith("event: is not JSON")
    (deep,) = errors(b"[" * 100 + b"]" * 100)
    assert "deeper than" in deep
    assert errors(b" " * (pagerduty.BODY_MAX + 1)) == ("the event is larger than 512 KiB",)
