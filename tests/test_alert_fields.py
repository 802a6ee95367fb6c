"""An alert's fields are declared once (the dataclasses), and every conversion follows them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from protos.tocsin.v1 import alerts_pb2
from service.alerts import fields
from service.alerts.model import Alert, NewAlert, Priority, Responder, Status
from service.api import alert_codec

T0 = datetime(2026, 3, 1, 12, 30, 15, 250_000, tzinfo=UTC)


def _alert() -> Alert:
    """Every field away from its zero value, so a field a conversion drops shows."""
    return Alert(
        id="a-1", tiny_id=42, alias="disk", message="m", description="d", tags=("x", "y"),
        details={"k": "v"}, entity="e", source="s", priority=Priority.P1,
        responders=(Responder("team", "ops"),), actions=("restart",), status=Status.CLOSED,
        acknowledged=True, snoozed_until=T0, count=3, created_at=T0, updated_at=T0,
        last_occurred_at=T0, owner_team_id="t-1", owner_team="ops", integration="i",
        acknowledged_by="ann", closed_by="ben",
    )  # fmt: skip


def test_the_api_message_has_exactly_the_alerts_fields() -> None:
    assert set(alerts_pb2.Alert.DESCRIPTOR.fields_by_name) == set(fields.ALERT)


def test_every_field_goes_over_the_wire_and_back() -> None:
    alert = _alert()
    assert alert_codec.alert_from_pb(alert_codec.alert_to_pb(alert)) == alert
    unsnoozed = dataclasses.replace(alert, snoozed_until=None)
    message = alert_codec.alert_to_pb(unsnoozed)
    assert not message.HasField("snoozed_until")
    assert alert_codec.alert_from_pb(message) == unsnoozed


def test_a_create_request_carries_what_the_api_takes_and_defaults_the_priority() -> None:
    asked = NewAlert(
        message="m", alias="a", description="d", tags=("t",), details={"k": "v"}, entity="e",
        source="s", priority=Priority.P2, responders=(Responder("user", "ann"),),
        actions=("x",), owner_team="ops",
    )  # fmt: skip
    assert alert_codec.new_alert_from_pb(alert_codec.create_request(asked)) == asked
    bare = alerts_pb2.CreateAlertRequest(message="m")
    assert alert_codec.new_alert_from_pb(bare).priority is Priority.P3


def test_a_field_of_a_type_no_kind_covers_is_refused() -> None:
    @dataclasses.dataclass
    class Odd:
        when: complex

    with pytest.raises(TypeError, match="Odd.when: no kind for complex"):
        fields.kinds(Odd)
