from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.alerts import validation as alert_validation
from service.alerts.model import NewAlert, Responder
from service.core import validation
from service.core.errors import InvalidArgument

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _rejects(alert: NewAlert, field: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        alert_validation.new_alert(alert)
    assert caught.value.field == field
    assert words in caught.value.rule


def test_a_complete_alert_within_every_limit_is_accepted() -> None:
    alert = NewAlert(
        message="m" * 130,
        alias="a" * 512,
        description="d" * 15_000,
        tags=tuple(f"t{i}" for i in range(20)),
        details={"k": "v" * 7_999},
        entity="e" * 512,
        source="s" * 100,
        responders=(Responder("team", "ops"),),
        actions=tuple(f"a{i}" for i in range(10)),
    )
    assert alert_validation.new_alert(alert) == alert


@pytest.mark.parametrize(
    ("alert", "field", "words"),
    [
        (NewAlert(message=""), "message", "required"),
        (NewAlert(message="   "), "message", "required"),
        (NewAlert(message="m" * 131), "message", "at most 130 characters (got 131)"),
        (NewAlert(message="m", alias="a" * 513), "alias", "at most 512"),
        (NewAlert(message="m", description="d" * 15_001), "description", "at most 15,000"),
        (NewAlert(message="m", entity="e" * 513), "entity", "at most 512"),
        (NewAlert(message="m", source="s" * 101), "source", "at most 100"),
        (NewAlert(message="m", tags=tuple(f"t{i}" for i in range(21))), "tags", "at most 20"),
        (NewAlert(message="m", tags=("x" * 51,)), "tags[0]", "at most 50"),
        (NewAlert(message="m", tags=("ok", "")), "tags[1]", "empty"),
        (NewAlert(message="m", tags=(" padded",)), "tags[0]", "whitespace"),
        (NewAlert(message="m", details={"k": "v" * 8_000}), "details['k']", "at most 8,000"),
        (
            NewAlert(message="m", details={f"k{i}": "v" * 1_000 for i in range(8)}),
            "details",
            "total at most 8,000",
        ),
        (NewAlert(message="m", details={"": "v"}), "details", "keys must not be empty"),
        (NewAlert(message="m", actions=tuple(f"a{i}" for i in range(11))), "actions", "at most 10"),
        (NewAlert(message="m", actions=("a" * 51,)), "actions[0]", "at most 50"),
        (
            NewAlert(message="m", responders=(Responder("pager", "x"),)),
            "responders[0].type",
            "one of",
        ),
        (
            NewAlert(message="m", responders=(Responder("user", ""),)),
            "responders[0].name",
            "required",
        ),
        (NewAlert(message="nul\x00byte"), "message", "NUL"),
    ],
)
def test_each_rule_names_the_field_and_the_limit(alert: NewAlert, field: str, words: str) -> None:
    _rejects(alert, field, words)


def test_repeated_tags_collapse_keeping_order() -> None:
    checked = alert_validation.new_alert(NewAlert(message="m", tags=("b", "a", "b")))
    assert checked.tags == ("b", "a")


def test_user_and_note_limits() -> None:
    assert validation.user("u" * 100) == "u" * 100
    with pytest.raises(InvalidArgument, match="user: must be at most 100"):
        validation.user("u" * 101)
    with pytest.raises(InvalidArgument, match="note: must be at most 25,000"):
        validation.note("n" * 25_001)
    with pytest.raises(InvalidArgument, match="note: is required"):
        validation.note("", required=True)


def test_snooze_must_be_future_and_within_seven_days() -> None:
    assert validation.snooze_until(NOW + timedelta(days=7), NOW) == NOW + timedelta(days=7)
    with pytest.raises(InvalidArgument, match="until: must end in the future"):
        validation.snooze_until(NOW, NOW)
    with pytest.raises(InvalidArgument, match="at most 7 days"):
        validation.snooze_until(NOW + timedelta(days=7, seconds=1), NOW)


@pytest.mark.parametrize("name", ["ops", "Platform-Team", "db.oncall", "a" * 100, "9lives"])
def test_object_names_accepted(name: str) -> None:
    assert validation.object_name(name) == name


@pytest.mark.parametrize("name", ["", "-ops", "two words", "a" * 101, "ops/infra", "ünïcode"])
def test_object_names_rejected(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validation.object_name(name)
    assert caught.value.field == "name"


def test_page_size_defaults_and_bounds() -> None:
    assert validation.page_size(0, default=50, maximum=500) == 50
    assert validation.page_size(500, default=50, maximum=500) == 500
    with pytest.raises(InvalidArgument, match="page_size: must be at most 500"):
        validation.page_size(501, default=50, maximum=500)
    with pytest.raises(InvalidArgument, match="page_size: must not be negative"):
        validation.page_size(-1, default=50, maximum=500)
