"""Integration rules, Opsgenie-style: pure parsing, matching and templating.

An integration without rules does what each payload's defaults say (`sns_alerts`). With
rules, each action has its own ordered rules and the first that matches wins:

```yaml
- action: ignore            # create | close | acknowledge | add-note | ignore
  when:                     # optional; a condition, or {all: [...]} / {any: [...]}
    field: eventName
    op: equals              # equals contains starts-with ends-with matches is-empty
    value: ConsoleLogin     #   greater-than less-than; `not: true` negates
- action: create
  alert:                    # templates over the parsed fields: {{field}}, {{field.path}},
    message: "{{eventName}} by {{userIdentity.arn | default(someone)}}"
    priority: P2            #   with the filters lower, upper, truncate(N), default(text)
    tags: [aws, "{{source | lower}}"]
```

Fields are the default alert's (message, alias, description, entity, source, priority,
tags) and its details by key (`eventName`, `Trigger.MetricName`, ...). An ignore that matches
wins over everything; otherwise every action with a matching rule is taken, create first.
Rules are checked whole when set, and an error names the rule and the key at fault.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.alerts.model import NewAlert, Priority, named_fields
from service.core import loader
from service.core.errors import InvalidArgument
from service.ingest import fitting, patterns, templates
from service.ingest.model import ActionKind, IngestAction

ACTIONS = ("create", "close", "acknowledge", "add-note", "ignore")
OPERATORS = (
    "equals",
    "contains",
    "starts-with",
    "ends-with",
    "matches",
    "is-empty",
    "greater-than",
    "less-than",
)
TEMPLATE_FIELDS = ("message", "alias", "description", "entity", "source", "priority")
RULES_MAX = 100
CONDITION_DEPTH_MAX = 16  # all/any groups inside one another


@dataclass(frozen=True)
class IntegrationRule:
    action: str
    when: Mapping[str, Any]
    alert: Mapping[str, Any]
    note: str
    name: str


@dataclass(frozen=True)
class Decision:
    """What the rules decided: the actions to take, and which rule decided each."""

    actions: tuple[IngestAction, ...]
    matched: tuple[str, ...]


STORED_TEXT_MAX = 1_000_000  # JSON of the largest rules set-rules takes, with room to spare


@functools.lru_cache(maxsize=256)
def stored(text: str) -> tuple[IntegrationRule, ...]:
    """Rules as the store keeps them (JSON, checked when set): parsed once per version rather
    than for every delivery. Nothing mutates an IntegrationRule, so sharing them is safe."""
    if len(text) > STORED_TEXT_MAX:
        raise InvalidArgument("rules", f"must be at most {STORED_TEXT_MAX:,} characters as stored")
    return parse(loader.json_document("rules", text))


def decide(text: str, default: IngestAction) -> Decision:
    """What a delivery does under an integration's stored rules. Rules an older Tocsin stored
    that this one refuses (a pattern RE2 cannot run, nesting past today's caps) must not lose
    the delivery, which was verified and cannot be asked for again: its defaults apply, and
    its note says why the rules did not."""
    try:
        kept = stored(text)
    except InvalidArgument as exc:
        why = f"integration rules not applied ({exc}): set them again"
        note = f"{default.note}\n{why}" if default.note else why
        return Decision((dataclasses.replace(default, note=note),), ("(defaults: rules refused)",))
    return apply(kept, default)


def parse(data: object) -> tuple[IntegrationRule, ...]:
    """Rules from their YAML/JSON shape; every error names the rule and the key."""
    if not isinstance(data, list):
        raise InvalidArgument("rules", "must be a list of rules")
    if len(data) > RULES_MAX:
        raise InvalidArgument("rules", f"must have at most {RULES_MAX} rules")
    return tuple(_rule(index, item) for index, item in enumerate(data))


def _rule(index: int, item: object) -> IntegrationRule:
    where = f"rules[{index}]"
    if not isinstance(item, dict):
        raise InvalidArgument(where, "must be a mapping with an action")
    unknown = set(item) - {"action", "when", "alert", "note", "name"}
    if unknown:
        raise InvalidArgument(f"{where}.{sorted(unknown)[0]}", "is not a rule key")
    action = item.get("action")
    if action not in ACTIONS:
        raise InvalidArgument(f"{where}.action", f"must be one of {', '.join(ACTIONS)}")
    when = item.get("when") or {}
    check_condition(f"{where}.when", when)
    alert = item.get("alert") or {}
    if not isinstance(alert, dict):
        raise InvalidArgument(f"{where}.alert", "must be a mapping of field templates")
    for key, value in alert.items():
        _check_template_field(f"{where}.alert.{key}", key, value)
    note = item.get("note", "")
    templates.check(f"{where}.note", note)
    name = item.get("name", where)
    if not isinstance(name, str):
        raise InvalidArgument(f"{where}.name", "must be text")
    return IntegrationRule(action, when, alert, note, name)


def check_condition(where: str, condition: object, depth: int = 0) -> None:
    if condition == {}:
        return
    if not isinstance(condition, dict):
        raise InvalidArgument(where, "must be a condition or {all: [...]} / {any: [...]}")
    for group in ("all", "any"):
        if group in condition:
            items = condition[group]
            if set(condition) != {group} or not isinstance(items, list) or not items:
                raise InvalidArgument(f"{where}.{group}", "must be the only key, with a list")
            if depth >= CONDITION_DEPTH_MAX:
                raise InvalidArgument(
                    f"{where}.{group}",
                    f"must not nest all/any groups more than {CONDITION_DEPTH_MAX} deep",
                )
            for index, item in enumerate(items):
                check_condition(f"{where}.{group}[{index}]", item, depth + 1)
            return
    unknown = set(condition) - {"field", "op", "value", "not"}
    if unknown:
        raise InvalidArgument(f"{where}.{sorted(unknown)[0]}", "is not a condition key")
    if not isinstance(condition.get("field"), str) or not condition["field"]:
        raise InvalidArgument(f"{where}.field", "is required")
    op = condition.get("op")
    if op not in OPERATORS:
        raise InvalidArgument(f"{where}.op", f"must be one of {', '.join(OPERATORS)}")
    if op != "is-empty" and "value" not in condition:
        raise InvalidArgument(f"{where}.value", f"is required for {op}")
    if op == "matches":
        patterns.check(f"{where}.value", str(condition["value"]))
    if op in ("greater-than", "less-than") and _number(condition["value"]) is None:
        raise InvalidArgument(f"{where}.value", "must be a number")
    if not isinstance(condition.get("not", False), bool):
        raise InvalidArgument(f"{where}.not", "must be true or false")


def _check_template_field(where: str, key: str, value: object) -> None:
    if key in TEMPLATE_FIELDS:
        templates.check(where, value)
        if key == "priority" and isinstance(value, str) and "{{" not in value:
            try:
                Priority.parse(value)
            except ValueError:
                raise InvalidArgument(
                    where, f"must be P1 to P5, or a template that renders one (got {value!r})"
                ) from None
    elif key == "tags":
        if not isinstance(value, list):
            raise InvalidArgument(where, "must be a list of templates")
        for index, item in enumerate(value):
            templates.check(f"{where}[{index}]", item)
    elif key == "details":
        if not isinstance(value, dict):
            raise InvalidArgument(where, "must map keys to templates")
        for name, item in value.items():
            templates.check(f"{where}.{name}", item)
    else:
        raise InvalidArgument(where, "is not an alert field a rule can set")


def fields_of(alert: NewAlert) -> dict[str, str]:
    """What conditions and templates can name: the alert's fields, then its details."""
    return {**named_fields(alert), **alert.details}


def apply(rules: Sequence[IntegrationRule], default: IngestAction) -> Decision:
    """The actions for a delivery whose defaults are `default`."""
    if not rules:
        return Decision((default,), ("(defaults)",))
    fields = fields_of(default.alert)
    first: dict[str, IntegrationRule] = {}
    for rule in rules:
        if rule.action not in first and matches(rule.when, fields):
            first[rule.action] = rule
    if "ignore" in first:
        return Decision((), (first["ignore"].name,))
    actions: list[IngestAction] = []
    # Create first, so a note or acknowledgement from the same delivery finds its alert.
    for action in (
        ActionKind.CREATE,
        ActionKind.ACKNOWLEDGE,
        ActionKind.ADD_NOTE,
        ActionKind.CLOSE,
    ):
        chosen = first.get(action)
        if chosen is None:
            continue
        alert = render_alert(chosen.alert, default.alert, fields)
        note = templates.render(chosen.note, fields) or default.note
        actions.append(IngestAction(alert, kind=action, note=note))
    return Decision(tuple(actions), tuple(first[a.kind].name for a in actions))


def matches(condition: Mapping[str, Any], fields: Mapping[str, str]) -> bool:
    if not condition:
        return True
    if "all" in condition:
        return all(matches(item, fields) for item in condition["all"])
    if "any" in condition:
        return any(matches(item, fields) for item in condition["any"])
    actual = fields.get(condition["field"], "")
    expected = str(condition.get("value", ""))
    result = _compare(condition["op"], actual, expected)
    return not result if condition.get("not", False) else result


def _compare(op: str, actual: str, expected: str) -> bool:
    if op == "equals":
        return actual == expected
    if op == "contains":
        return expected in actual
    if op == "starts-with":
        return actual.startswith(expected)
    if op == "ends-with":
        return actual.endswith(expected)
    if op == "matches":
        return patterns.search(expected, actual)
    if op == "is-empty":
        return not actual.strip()
    left, right = _number(actual), _number(expected)
    if left is None or right is None:
        return False
    return left > right if op == "greater-than" else left < right


def _number(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def render_alert(written: Mapping[str, Any], base: NewAlert, fields: Mapping[str, str]) -> NewAlert:
    """`base` with the fields the rule sets, rendered and fitted to the alert limits."""
    changes: dict[str, Any] = {}
    for key in ("message", "alias", "description", "entity", "source"):
        if key in written:
            changes[key] = templates.render(written[key], fields)
    if "priority" in written:
        try:
            changes["priority"] = Priority.parse(templates.render(written["priority"], fields))
        except ValueError:
            changes["priority"] = base.priority
    if "tags" in written:
        changes["tags"] = tuple(dict.fromkeys(templates.render(t, fields) for t in written["tags"]))
    if "details" in written:
        rendered = {k: templates.render(v, fields) for k, v in written["details"].items()}
        changes["details"] = fitting.fit_details({**base.details, **rendered})
    return fitting.fitted(dataclasses.replace(base, **changes))
