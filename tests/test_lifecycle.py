"""The pure lifecycle: every transition, its activity record, and the forbidden ones."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from service.alerts import lifecycle
from service.alerts.model import Alert, NewAlert, Priority, Responder, Status
from service.core.errors import FailedPrecondition, InvalidArgument

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)


def alert(**changes: object) -> Alert:
    new = NewAlert(message="Disk full", alias="disk", tags=("disk",), details={"host": "db-1"})
    base = lifecycle.new(new, "a1", 7, "default", "default", T0)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_new_alert_is_open_unacknowledged_seen_once_and_named_by_its_id_without_alias() -> None:
    made = lifecycle.new(NewAlert(message="m", tags=("t",)), "a2", 8, "team-id", "ops", T0)
    assert (made.id, made.tiny_id, made.alias, made.message, made.tags) == (
        "a2",
        8,
        "a2",
        "m",
        ("t",),
    )
    assert (made.status, made.acknowledged, made.snoozed_until, made.count) == (
        Status.OPEN, False, None, 1,
    )  # fmt: skip
    assert made.created_at == made.updated_at == made.last_occurred_at == T0
    assert (made.owner_team_id, made.owner_team) == ("team-id", "ops")


def test_acknowledge_records_who_and_cancels_a_snooze() -> None:
    t = lifecycle.acknowledge(alert(snoozed_until=T0 + timedelta(hours=1)), "ana", LATER)
    assert t.alert.acknowledged and t.alert.acknowledged_by == "ana"
    assert t.alert.snoozed_until is None
    assert t.alert.updated_at == LATER
    (change,) = t.changes
    assert change.action == "acknowledged"
    assert change.before == {
        "acknowledged": False,
        "acknowledged_by": "",
        "snoozed_until": (T0 + timedelta(hours=1)).isoformat(),
    }
    assert change.after == {"acknowledged": True, "acknowledged_by": "ana", "snoozed_until": None}


def test_acknowledging_twice_changes_nothing() -> None:
    acked = alert(acknowledged=True, acknowledged_by="ana")
    t = lifecycle.acknowledge(acked, "bo", LATER)
    assert t.alert == acked and not t.changed


def test_acknowledging_a_closed_alert_is_refused() -> None:
    with pytest.raises(FailedPrecondition, match="alert 7 is closed"):
        lifecycle.acknowledge(alert(status=Status.CLOSED), "ana", LATER)


def test_unacknowledge_requires_an_acknowledged_open_alert() -> None:
    with pytest.raises(FailedPrecondition, match="not acknowledged"):
        lifecycle.unacknowledge(alert(), LATER)
    with pytest.raises(FailedPrecondition, match="closed"):
        lifecycle.unacknowledge(alert(status=Status.CLOSED, acknowledged=True), LATER)
    t = lifecycle.unacknowledge(alert(acknowledged=True, acknowledged_by="ana"), LATER)
    assert not t.alert.acknowledged and t.alert.acknowledged_by == ""


def test_close_cancels_snooze_and_is_idempotent() -> None:
    t = lifecycle.close(alert(snoozed_until=T0 + timedelta(hours=1)), "ana", LATER)
    assert t.alert.status is Status.CLOSED and t.alert.closed_by == "ana"
    assert t.alert.snoozed_until is None
    again = lifecycle.close(t.alert, "bo", LATER)
    assert not again.changed and again.alert.closed_by == "ana"


def test_closed_alerts_cannot_be_snoozed() -> None:
    with pytest.raises(FailedPrecondition, match="cannot be snoozed"):
        lifecycle.snooze(alert(status=Status.CLOSED), LATER + timedelta(hours=1), LATER)


def test_snooze_checks_the_window() -> None:
    with pytest.raises(InvalidArgument, match="at most 7 days"):
        lifecycle.snooze(alert(), LATER + timedelta(days=8), LATER)
    t = lifecycle.snooze(alert(), LATER + timedelta(hours=2), LATER)
    assert t.alert.snoozed_until == LATER + timedelta(hours=2)


def test_snooze_end_reopens_an_acknowledged_alert_unacknowledged() -> None:
    until = T0 + timedelta(hours=1)
    snoozed = alert(acknowledged=True, acknowledged_by="ana", snoozed_until=until)
    assert not lifecycle.end_snooze(snoozed, until - timedelta(seconds=1)).changed
    t = lifecycle.end_snooze(snoozed, until)
    assert t.alert.status is Status.OPEN
    assert not t.alert.acknowledged and t.alert.snoozed_until is None
    assert t.changes[0].action == "snooze_ended"
    assert not lifecycle.end_snooze(t.alert, until + timedelta(hours=1)).changed


def test_deduplicate_counts_and_moves_last_occurred() -> None:
    t = lifecycle.deduplicate(alert(count=3), LATER)
    assert t.alert.count == 4 and t.alert.last_occurred_at == LATER
    assert t.changes[0].before["count"] == 3 and t.changes[0].after["count"] == 4


def test_tags_merge_without_repeats_and_respect_the_limit() -> None:
    t = lifecycle.add_tags(alert(tags=("a", "b")), ["b", "c"], LATER)
    assert t.alert.tags == ("a", "b", "c")
    assert not lifecycle.add_tags(t.alert, ["a"], LATER).changed
    full = alert(tags=tuple(f"t{i}" for i in range(20)))
    with pytest.raises(InvalidArgument, match="tags: must have at most 20"):
        lifecycle.add_tags(full, ["one-more"], LATER)
    removed = lifecycle.remove_tags(t.alert, ["a", "zzz"], LATER)
    assert removed.alert.tags == ("b", "c")
    with pytest.raises(InvalidArgument, match="at least one tag"):
        lifecycle.add_tags(alert(), [], LATER)


def test_details_merge_remove_and_total_limit() -> None:
    t = lifecycle.add_details(alert(), {"zone": "eu-1", "host": "db-2"}, LATER)
    assert t.alert.details == {"host": "db-2", "zone": "eu-1"}
    r = lifecycle.remove_details(t.alert, ["host", "absent"], LATER)
    assert r.alert.details == {"zone": "eu-1"}
    big = alert(details={"k": "v" * 7_990})
    with pytest.raises(InvalidArgument, match="total at most 8,000"):
        lifecycle.add_details(big, {"other": "0123456789"}, LATER)


def test_priority_update_and_no_op() -> None:
    t = lifecycle.update_priority(alert(), Priority.P1, LATER)
    assert t.alert.priority is Priority.P1
    assert t.changes[0].before == {"priority": "P3"} and t.changes[0].after == {"priority": "P1"}
    assert not lifecycle.update_priority(t.alert, Priority.P1, LATER).changed


def test_a_note_with_a_no_op_is_still_kept() -> None:
    acked = alert(acknowledged=True)
    t = lifecycle.with_note(lifecycle.acknowledge(acked, "ana", LATER), "seen it", LATER)
    assert [c.action for c in t.changes] == ["note_added"]
    assert t.alert.updated_at == LATER
    assert not lifecycle.with_note(lifecycle.acknowledge(acked, "ana", LATER), "", LATER).changed


def test_created_entry_lists_what_the_alert_was_created_with() -> None:
    change = lifecycle.created(alert(responders=(Responder("team", "ops"),)))
    assert change.action == "created"
    assert change.after["responders"] == [{"type": "team", "name": "ops"}]
    assert change.after["message"] == "Disk full"
    assert change.after["priority"] == "P3"
    assert change.after["tags"] == ["disk"]
