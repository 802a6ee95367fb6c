"""Integration rules: parsing with positioned errors, matching, templates, first match wins."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from service.alerts.model import NewAlert, Priority
from service.core.errors import InvalidArgument
from service.ingest import rules
from service.ingest.model import IngestAction

DEFAULT = IngestAction(
    NewAlert(
        message="AWS API Call via CloudTrail: CreateBucket by Root",
        alias="eventbridge:1",
        details={"eventName": "CreateBucket", "userIdentity.arn": "arn:aws:iam::1:root", "n": "7"},
        source="aws.s3",
        tags=("aws",),
    )
)


def decide(text: str, default: IngestAction = DEFAULT) -> rules.Decision:
    return rules.apply(rules.parse(yaml.safe_load(text)), default)


def test_no_rules_means_the_defaults() -> None:
    assert rules.apply((), DEFAULT) == rules.Decision((DEFAULT,), ("(defaults)",))


def test_templates_and_filters() -> None:
    outcome = decide(
        """
- name: buckets
  action: create
  when: {field: eventName, op: starts-with, value: Create}
  alert:
    message: "{{eventName | upper}} by {{userIdentity.arn}} in {{region | default(nowhere)}}"
    alias: "bucket-{{eventName | lower}}"
    priority: P1
    tags: [aws, "{{source | truncate(4)}}"]
    details: {team: platform}
"""
    )
    (action,) = outcome.actions
    assert outcome.matched == ("buckets",)
    assert action.kind == "create"
    alert = action.alert
    assert alert.message == "CREATEBUCKET by arn:aws:iam::1:root in nowhere"
    assert (alert.alias, alert.priority) == ("bucket-createbucket", Priority.P1)
    assert alert.tags == ("aws", "aws…")
    assert alert.details["team"] == "platform" and alert.details["eventName"] == "CreateBucket"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "eventName", "op": "equals", "value": "CreateBucket"}, True),
        ({"field": "eventName", "op": "equals", "value": "CreateBucket", "not": True}, False),
        ({"field": "eventName", "op": "contains", "value": "Bucket"}, True),
        ({"field": "eventName", "op": "ends-with", "value": "Bucket"}, True),
        ({"field": "eventName", "op": "matches", "value": "^Create(Bucket|Topic)$"}, True),
        ({"field": "errorCode", "op": "is-empty"}, True),
        ({"field": "n", "op": "greater-than", "value": 5}, True),
        ({"field": "n", "op": "less-than", "value": "5"}, False),
        ({"field": "eventName", "op": "greater-than", "value": 1}, False),  # not a number
        (
            {
                "all": [
                    {"field": "source", "op": "equals", "value": "aws.s3"},
                    {"field": "priority", "op": "equals", "value": "P3"},
                ]
            },
            True,
        ),
        (
            {
                "any": [
                    {"field": "source", "op": "equals", "value": "x"},
                    {"field": "tags", "op": "contains", "value": "aws"},
                ]
            },
            True,
        ),
    ],
)
def test_conditions(condition: dict[str, Any], expected: bool) -> None:
    assert rules.matches(condition, rules.fields_of(DEFAULT.alert)) is expected


def test_first_match_wins_per_action_and_ignore_wins_over_all() -> None:
    text = """
- {name: second-create, action: create, when: {field: n, op: equals, value: "8"}}
- {name: first-create, action: create, alert: {message: first}}
- {name: later-create, action: create, alert: {message: later}}
- {name: note, action: add-note, note: "seen {{eventName}}"}
"""
    outcome = decide(text)
    assert outcome.matched == ("first-create", "note")  # create first: the note finds it
    assert [(a.kind, a.note) for a in outcome.actions] == [
        ("create", ""),
        ("add-note", "seen CreateBucket"),
    ]
    assert outcome.actions[0].alert.message == "first"
    ignored = decide(
        text + "- {name: quiet, action: ignore, when: {field: source, op: equals, value: aws.s3}}"
    )
    assert ignored == rules.Decision((), ("quiet",))


def test_rendered_fields_are_fitted_to_the_limits() -> None:
    outcome = decide("- {action: create, alert: {message: '{{description}}x{{userIdentity.arn}}'}}")
    long_default = IngestAction(NewAlert(message="m", description="d" * 500))
    copy = rules.parse(yaml.safe_load("- {action: create, alert: {message: '{{description}}'}}"))
    (action,) = rules.apply(copy, long_default).actions
    assert len(action.alert.message) == 130
    assert outcome.actions[0].alert.message == "xarn:aws:iam::1:root"


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("{action: create}", "rules", "list"),
        ("- {action: page}", "rules[0].action", "one of"),
        ("- {action: create, colour: red}", "rules[0].colour", "not a rule key"),
        (
            "- action: create\n- {action: close, when: {field: a, op: near, value: 1}}",
            "rules[1].when.op",
            "one of",
        ),
        ("- {action: close, when: {field: a, op: equals}}", "rules[0].when.value", "required"),
        (
            "- {action: close, when: {field: a, op: matches, value: '('}}",
            "rules[0].when.value",
            "regular expression",
        ),
        ("- {action: close, when: {all: []}}", "rules[0].when.all", "list"),
        (
            "- {action: close, when: {any: [{op: is-empty}]}}",
            "rules[0].when.any[0].field",
            "required",
        ),
        (
            "- {action: create, alert: {message: '{{x | shout}}'}}",
            "rules[0].alert.message",
            "unknown filter",
        ),
        ("- {action: create, alert: {message: '{{x'}}", "rules[0].alert.message", "unclosed"),
        (
            "- {action: create, alert: {message: '{{x | truncate(abc)}}'}}",
            "rules[0].alert.message",
            "truncate takes a number",
        ),
        (
            "- {action: create, alert: {message: '{{x | truncate(²)}}'}}",
            "rules[0].alert.message",
            "truncate takes a number",
        ),
        (
            "- {action: create, alert: {message: '{{x | truncate}}'}}",
            "rules[0].alert.message",
            "truncate takes a number",
        ),
        (
            "- {action: create, alert: {message: '{{x | lower(3)}}'}}",
            "rules[0].alert.message",
            "lower takes nothing",
        ),
        ("- {action: create, alert: {priority: P9}}", "rules[0].alert.priority", "P1 to P5"),
        ("- {action: create, alert: {owner: x}}", "rules[0].alert.owner", "not an alert field"),
        (
            "- {action: create, when: {field: n, op: less-than, value: ten}}",
            "rules[0].when.value",
            "number",
        ),
    ],
)
def test_invalid_rules_name_the_position(text: str, field: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        rules.parse(yaml.safe_load(text))
    assert caught.value.field == field
    assert words in caught.value.rule


def test_templates_are_read_in_linear_time() -> None:
    # A regular expression with nested quantifiers took seconds on `{{` and a few hundred
    # spaces (cubic in their number); this is 100 times as many.
    started = time.perf_counter()
    for text in ("{{" + " " * 80_000, "{{x | lower" + " " * 80_000 + "x}}", "{{" * 40_000):
        with pytest.raises(InvalidArgument):
            rules.parse([{"action": "create", "alert": {"message": text}}])
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{ eventName }}!", "CreateBucket!"),
        ("{{eventName|truncate( 7 )}} {{nothing | default( none )}}", "Create… none"),
        ("a{{{eventName}}", "a"),  # the field is named "{eventName"
        ("{x} }} {{source|upper|lower}}", "{x} }} aws.s3"),
    ],
)
def test_template_edges(template: str, rendered: str) -> None:
    (action,) = decide(f"- {{action: create, alert: {{message: '{template}'}}}}").actions
    assert action.alert.message == rendered


def test_matches_runs_in_linear_time() -> None:
    # Python's backtracking `re` doubles its time with each character here: about 2 s for
    # 25, a minute for 30. RE2 matches in one pass.
    condition = {"field": "userAgent", "op": "matches", "value": "^(a+)+$"}
    parsed = rules.parse([{"action": "ignore", "when": condition}])
    delivered = IngestAction(NewAlert(message="m", details={"userAgent": "a" * 40 + "!"}))
    started = time.perf_counter()
    assert rules.apply(parsed, delivered).matched == ()
    assert time.perf_counter() - started < 1
    exact = IngestAction(NewAlert(message="m", details={"userAgent": "a" * 40}))
    assert rules.apply(parsed, exact).matched == ("rules[0]",)


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)b", "(?<!x)y"])
def test_patterns_re2_cannot_run_are_refused(pattern: str) -> None:
    condition = {"field": "x", "op": "matches", "value": pattern}
    with pytest.raises(InvalidArgument) as caught:
        rules.parse([{"action": "close", "when": condition}])
    assert caught.value.field == "rules[0].when.value"
    assert "RE2" in caught.value.rule and "backreferences" in caught.value.rule


def test_limits_of_conditions_and_filters() -> None:
    leaf: dict[str, Any] = {"field": "x", "op": "is-empty"}
    for _ in range(rules.CONDITION_DEPTH_MAX):
        leaf = {"any": [leaf]}
    rules.parse([{"action": "close", "when": leaf}])
    with pytest.raises(InvalidArgument) as caught:
        rules.parse([{"action": "close", "when": {"all": [leaf]}}])
    assert caught.value.field == "rules[0].when.all[0]" + ".any[0]" * 15 + ".any"
    assert "16 deep" in caught.value.rule
    for argument in ("9" * 5000, "0", "100001"):
        message = f"{{{{x | truncate({argument})}}}}"
        with pytest.raises(InvalidArgument, match="1 to 100,000") as caught:
            rules.parse([{"action": "create", "alert": {"message": message}}])
        assert len(caught.value.rule) < 200  # what is echoed is cut
    with pytest.raises(InvalidArgument, match="at most 1,000 characters"):
        rules.parse(
            [{"action": "close", "when": {"field": "x", "op": "matches", "value": "a" * 1001}}]
        )


def test_stored_rules_this_version_refuses_still_take_the_delivery() -> None:
    """Rules an older version stored, which today's checks refuse, must not lose an alert:
    the delivery's defaults apply, with a note saying why the rules did not."""
    backreference = (
        '[{"action": "ignore", "when": {"field": "message", "op": "matches", "value": "(a)\\\\1"}}]'
    )
    deep = "[" * 100 + "]" * 100
    huge = '[{"action": "create", "note": "' + "x" * rules.STORED_TEXT_MAX + '"}]'
    for text in (backreference, deep, huge):
        outcome = rules.decide(text, DEFAULT)
        assert outcome.matched == ("(defaults: rules refused)",), text[:40]
        (taken,) = outcome.actions
        assert taken.kind == "create" and taken.alert == DEFAULT.alert
        assert (
            taken.note.startswith("integration rules not applied (")
            and "set them again" in taken.note
        )
    kept = rules.decide('[{"action": "ignore"}]', DEFAULT)
    assert kept.actions == () and kept.matched == ("rules[0]",)
