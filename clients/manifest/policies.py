"""Escalation policies in the manifest: read from the file, planned against the server, and
written out by an export. A policy's rules name users, schedules and teams as `kind:name`."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from clients.cli.arguments import duration_text
from clients.client import TocsinClient
from clients.manifest import fields
from clients.manifest.changes import PlannedCall, PlannedChange, item_lines, known, value_lines
from service.core import validation
from service.core.errors import InvalidArgument
from service.escalation.model import Condition, Repeat, TargetKind
from service.escalation.usecases import (
    REPEAT_TIMES_MAX,
    RULES_MAX,
    TARGETS_MAX,
    EscalationRuleSpec,
    PolicySpec,
)

UNTIL = {"acknowledged": Condition.NOT_ACKNOWLEDGED.value, "closed": Condition.NOT_CLOSED.value}
NO_REPEAT = "none"
REPEAT_KEYS = ("after", "times", "reset_acknowledgement", "close_after_last")


@dataclass(frozen=True)
class PolicyDecl:
    """What the file declares; None is a key it leaves out (or gives no value)."""

    name: str
    team: str | None = None
    description: str | None = None
    rules: tuple[EscalationRuleSpec, ...] | None = None  # targets as the file names them
    repeat: Repeat | None = None
    sets_repeat: bool = False  # `repeat` is given: None is then `repeat: none`


# Reading


def read(value: object, path: str) -> PolicyDecl:
    found = fields.keys(value, path, ("name",), ("team", "description", "rules", "repeat"))
    decl = PolicyDecl(
        fields.name(found["name"], f"{path}.name"),
        team=fields.optional(found, "team", path, fields.text),
        description=fields.optional(found, "description", path, fields.description),
        rules=fields.optional(found, "rules", path, _rules),
    )
    if found.get("repeat") is not None:
        repeat = None if found["repeat"] == NO_REPEAT else _repeat(found["repeat"], path)
        decl = dataclasses.replace(decl, repeat=repeat, sets_repeat=True)
    return decl


def _rules(value: object, path: str) -> tuple[EscalationRuleSpec, ...]:
    rules = fields.listed(value, path, _rule)
    if not 1 <= len(rules) <= RULES_MAX:
        raise InvalidArgument(path, f"must have 1 to {RULES_MAX} rules (got {len(rules)})")
    for index in range(1, len(rules)):
        if rules[index].delay < rules[index - 1].delay:
            raise InvalidArgument(
                f"{path}[{index}].after", "must not be earlier than the rule before it"
            )
    return rules


def _rule(value: object, path: str) -> EscalationRuleSpec:
    found = fields.keys(value, path, ("after", "notify"), ("until",))
    where = f"{path}.notify"
    notify = found["notify"]
    if not isinstance(notify, list) or not 1 <= len(notify) <= TARGETS_MAX:
        raise InvalidArgument(where, f"must be a list of 1 to {TARGETS_MAX} kind:name")
    condition = Condition.NOT_ACKNOWLEDGED.value
    if found.get("until") is not None:
        until = fields.text(found["until"], f"{path}.until")
        if until not in UNTIL:
            raise InvalidArgument(
                f"{path}.until", f"must be acknowledged or closed (got {until!r})"
            )
        condition = UNTIL[until]
    return EscalationRuleSpec(
        fields.duration(found["after"], f"{path}.after"),
        tuple(_target(item, f"{where}[{index}]") for index, item in enumerate(notify)),
        condition,
    )


def _target(value: object, path: str) -> tuple[str, str]:
    kind, colon, name = fields.text(value, path).partition(":")
    if not colon or not name:
        raise InvalidArgument(path, f"must be kind:name such as user:alice (got {value!r})")
    if kind not in {k.value for k in TargetKind}:
        kinds = ", ".join(k.value for k in TargetKind)
        raise InvalidArgument(path, f"kind must be one of {kinds} (got {kind!r})")
    return kind, validation.reference(path, name)


def _repeat(value: object, path: str) -> Repeat:
    where = f"{path}.repeat"
    if not isinstance(value, dict):
        raise InvalidArgument(where, f"must be a mapping, or {NO_REPEAT} (got {value!r})")
    found = fields.keys(value, where, (), REPEAT_KEYS)
    times = fields.whole_number(found.get("times", 0), f"{where}.times")
    if not 0 <= times <= REPEAT_TIMES_MAX:
        raise InvalidArgument(f"{where}.times", f"must be 0 to {REPEAT_TIMES_MAX} (got {times})")
    return Repeat(
        fields.duration(found.get("after", 0), f"{where}.after"),
        times,
        fields.boolean(found.get("reset_acknowledgement", False), f"{where}.reset_acknowledgement"),
        fields.boolean(found.get("close_after_last", False), f"{where}.close_after_last"),
    )


# Planning


def spec(
    decl: PolicyDecl,
    path: str,
    current: PolicySpec | None,
    names: Mapping[str, Mapping[str, str]],
) -> PolicySpec:
    """The policy as it will be: the file's keys, the server's for the keys it leaves out,
    with names as the server spells them. `names`: by what a target names (user, schedule,
    team), the canonical names."""
    team = decl.team or (current.team if current else "default")
    team = known(names["team"], team, f"{path}.team", "team")
    if decl.rules is not None:
        rules = tuple(
            dataclasses.replace(
                rule,
                targets=tuple(
                    (kind, known(names[what], name, f"{path}.rules[{i}].notify[{j}]", what))
                    for j, (kind, name) in enumerate(rule.targets)
                    for what in [kind.split("-")[0]]
                ),
            )
            for i, rule in enumerate(decl.rules)
        )
    elif current is not None:
        rules = current.rules
    else:
        raise InvalidArgument(f"{path}.rules", "is required for a new policy")
    description = decl.description
    if description is None:
        description = current.description if current else ""
    repeat = decl.repeat if decl.sets_repeat or current is None else current.repeat
    return PolicySpec(current.name if current else decl.name, team, description, rules, repeat)


_SERVICE_FIELDS = (
    (re.compile(r"\.targets\[(\d+)\](\.kind|\.name)?"), r".notify[\1]"),
    (re.compile(r"\.targets\b"), ".notify"),
    (re.compile(r"\.delay\b"), ".after"),
    (re.compile(r"\.condition\b"), ".until"),
)


def _field_path(request_field: str) -> str:
    """A field of a policy request as the file calls it: `rules[1].targets[0].name` is
    `rules[1].notify[0]`."""
    for pattern, replacement in _SERVICE_FIELDS:
        request_field = pattern.sub(replacement, request_field)
    return request_field


def change(spec: PolicySpec, path: str, current: PolicySpec | None) -> PlannedChange | None:
    """Creating the policy, or updating it whole when anything the file can tell differs."""
    if current is None:
        create = functools.partial(TocsinClient.create_policy, spec=spec)
        return PlannedChange((f"+ policy {spec.name}",), (PlannedCall(path, create, _field_path),))
    lines = value_lines(
        (
            ("team", current.team, spec.team),
            ("description", current.description, spec.description),
        )
    )
    lines.extend(item_lines("rules", current.rules, spec.rules, _rule_fields, _rule_text))
    if current.repeat != spec.repeat:
        lines.append(f"repeat {_repeat_text(current.repeat)} -> {_repeat_text(spec.repeat)}")
    if not lines:  # nothing the file can tell apart
        return None
    update = functools.partial(TocsinClient.update_policy, policy=current.name, spec=spec)
    return PlannedChange(
        tuple(f"~ policy {current.name}: {line}" for line in lines),
        (PlannedCall(path, update, _field_path),),
    )


def _rule_fields(rule: EscalationRuleSpec) -> dict[str, str]:
    return {
        "after": duration_text(rule.delay),
        "notify": ",".join(f"{kind}:{name}" for kind, name in rule.targets),
        "until": "closed" if rule.condition == Condition.NOT_CLOSED.value else "acknowledged",
    }


def _rule_text(rule: EscalationRuleSpec) -> str:
    found = _rule_fields(rule)
    text = f"after {found['after']} notify {found['notify']}"
    return text + (" until closed" if found["until"] == "closed" else "")


def _repeat_text(repeat: Repeat | None) -> str:
    if repeat is None:
        return NO_REPEAT
    extra = [
        ", resetting acknowledgement" if repeat.reset_acknowledgement else "",
        ", closing after the last" if repeat.close_after_last else "",
    ]
    return f"'after {duration_text(repeat.after)}, {repeat.times} more times{''.join(extra)}'"


# Exporting


def document(policy: PolicySpec) -> dict[str, object]:
    rules: list[dict[str, object]] = []
    for rule in policy.rules:
        doc: dict[str, object] = {
            "after": duration_text(rule.delay),
            "notify": [f"{kind}:{name}" for kind, name in rule.targets],
        }
        if rule.condition == Condition.NOT_CLOSED.value:
            doc["until"] = "closed"
        rules.append(doc)
    repeat: object = NO_REPEAT
    if policy.repeat is not None:
        repeat = {
            "after": duration_text(policy.repeat.after),
            "times": policy.repeat.times,
            "reset_acknowledgement": policy.repeat.reset_acknowledgement,
            "close_after_last": policy.repeat.close_after_last,
        }
    return {
        "name": policy.name,
        "team": policy.team,
        "description": policy.description,
        "rules": rules,
        "repeat": repeat,
    }
