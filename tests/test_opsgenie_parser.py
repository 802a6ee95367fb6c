"""Unit tests of the reader of Opsgenie's Alert API requests: the fields a create maps to,
the cuts to Opsgenie's limits and the note saying so, and each field at fault named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.alerts.model import AlertRef, Priority, RefKind
from service.ingest import opsgenie
from service.ingest.events import InvalidEventError
from service.ingest.model import ActionKind


def envelope(body: Any, action: str = "create", **outer: str) -> bytes:
    text = body if isinstance(body, str) else json.dumps(body)
    return json.dumps({"action": action, **outer, "body": text}).encode()


def errors(data: bytes) -> tuple[str, ...]:
    with pytest.raises(InvalidEventError) as raised:
        opsgenie.read(data)
    return raised.value.errors


def test_a_create_maps_each_field() -> None:
    request = opsgenie.read(
        envelope(
            {
                "message": "Disk full", "alias": "disk-db-1", "description": "/var at 100%",
                "tags": ["disk", "db"], "details": {"host": "db-1"}, "entity": "db-1",
                "source": "nagios", "priority": "P1", "note": "look", "user": "ann",
                "actions": ["Restart"], "responders": [{"type": "team", "name": "ops"}],
            }
        )
    )  # fmt: skip
    alert, action = request.action.alert, request.action
    assert request.alias == "disk-db-1" and action.kind is ActionKind.CREATE
    assert (alert.message, alert.description, alert.entity, alert.source) == (
        "Disk full", "/var at 100%", "db-1", "nagios",
    )  # fmt: skip
    assert (alert.tags, alert.actions, alert.priority) == (
        ("disk", "db"),
        ("Restart",),
        Priority.P1,
    )
    assert alert.details["host"] == "db-1" and alert.details["user"] == "ann"
    assert json.loads(alert.details["responders"]) == [{"type": "team", "name": "ops"}]
    assert action.note == "look (by ann)"


def test_the_priority_defaults_to_p3() -> None:
    assert opsgenie.read(envelope({"message": "m"})).action.alert.priority is Priority.P3
    empty = envelope({"message": "m", "priority": ""})  # as some senders send it
    assert opsgenie.read(empty).action.alert.priority is Priority.P3


def test_over_long_fields_are_cut_and_the_cut_is_noted() -> None:
    body = {
        "message": "m" * 200, "alias": "a" * 600, "description": "d" * 16_000,
        "tags": [f"t{n}" for n in range(25)] + ["x" * 60], "details": {"k": "v" * 9_000},
        "entity": "e" * 600, "source": "s" * 200,
    }  # fmt: skip
    action = opsgenie.read(envelope(body)).action
    alert = action.alert
    assert len(alert.message) == 130 and len(alert.alias) == 512 and len(alert.entity) == 512
    assert len(alert.description) == 15_000 and len(alert.source) == 100
    assert len(alert.tags) == 20
    assert sum(len(k) + len(v) for k, v in alert.details.items()) <= 8_000
    for field in ("message", "alias", "description", "tags", "details", "entity", "source"):
        assert field in action.note, field
    assert action.note.startswith("Cut to Opsgenie's limits:")


def test_a_create_within_the_limits_notes_no_cut() -> None:
    assert opsgenie.read(envelope({"message": "m", "details": {"k": "v"}})).action.note == ""


def test_each_field_at_fault_is_named() -> None:
    assert errors(envelope({})) == ("message: Message can not be empty.",)
    assert errors(envelope({"message": "  "})) == ("message: Message can not be empty.",)
    assert set(errors(envelope({"message": 3, "priority": "P9", "tags": "x", "details": []}))) == {
        "message: Message should be a string.",
        "priority: Priority should be one of ['P1', 'P2', 'P3', 'P4', 'P5'].",
        "tags: Tags should be a list of strings.",
        "details: Details should be a map of strings.",
    }


def test_a_body_that_does_not_parse_names_no_field() -> None:
    (error,) = errors(envelope("{not json"))
    assert error.startswith(opsgenie.UNPARSED)
    assert errors(envelope("[]"))[0].startswith(opsgenie.UNPARSED)


def test_close_acknowledge_and_notes_act_by_alias() -> None:
    for action, kind in (
        ("close", ActionKind.CLOSE),
        ("acknowledge", ActionKind.ACKNOWLEDGE),
        ("notes", ActionKind.ADD_NOTE),
    ):
        data = envelope(
            {"note": "done", "user": "bob"}, action, identifier="disk", identifierType="alias"
        )
        request = opsgenie.read(data)
        assert (request.alias, request.action.kind) == ("disk", kind)
        assert request.action.note == "done (by bob)"
    request = opsgenie.read(envelope({}, "unacknowledge", identifier="7", identifierType="tiny"))
    assert request.action.kind is ActionKind.UNACKNOWLEDGE
    assert request.action.ref == AlertRef(RefKind.TINY_ID, "7")
    assert opsgenie.read(envelope({}, "close", identifier="u-1")).action.ref == AlertRef(
        RefKind.ID, "u-1"
    )
    assert errors(envelope({}, "close", identifier="x", identifierType="tiny")) == (
        "identifier: A tiny id is a number.",
    )
    assert errors(envelope({}, "close", identifier="x", identifierType="name")) == (
        "identifierType: Identifier type should be one of [id, alias, tiny].",
    )
