"""Team routing in the manifest: which policy pages for an alert, by rule, and the team's
on-call otherwise. Read from the file, planned against the server, and written out by an
export. A routing names only its own team's policies and schedule."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clients.client import TocsinClient
from clients.manifest import fields
from clients.manifest.changes import PlannedCall, PlannedChange, item_lines, known, show
from service.core import validation
from service.core.errors import InvalidArgument
from service.escalation.usecases import ROUTING_RULES_MAX, RoutingRuleSpec, RoutingSpec
from service.ingest import rules as conditions
from service.oncall.restrictions import parse_restriction

KEYS = ("time_zone", "rules", "default_policy", "default_schedule")


@dataclass(frozen=True)
class RoutingDecl:
    """What the file declares; None is a key it leaves out (or gives no value)."""

    team: str
    time_zone: str | None = None
    rules: tuple[RoutingRuleSpec, ...] | None = None  # windows as the server describes them
    default_policy: str | None = None  # "" is none
    default_schedule: str | None = None


# Reading


def read(value: object, path: str) -> RoutingDecl:
    found = fields.keys(value, path, ("team",), KEYS)
    return RoutingDecl(
        fields.text(found["team"], f"{path}.team"),
        time_zone=fields.optional(found, "time_zone", path, fields.time_zone),
        rules=fields.optional(found, "rules", path, _rules),
        default_policy=fields.optional(found, "default_policy", path, fields.text),
        default_schedule=fields.optional(found, "default_schedule", path, fields.text),
    )


def _rules(value: object, path: str) -> tuple[RoutingRuleSpec, ...]:
    rules = fields.listed(value, path, _rule)
    if len(rules) > ROUTING_RULES_MAX:
        raise InvalidArgument(path, f"must have at most {ROUTING_RULES_MAX} rules")
    return rules


def _rule(value: object, path: str) -> RoutingRuleSpec:
    found = fields.keys(value, path, ("name", "policy"), ("when", "windows"))
    where = f"{path}.name"
    name = validation.text(where, fields.text(found["name"], where), 100, required=True)
    when: dict[str, Any] = {}
    if found.get("when") is not None:
        where = f"{path}.when"
        try:  # it travels as JSON, and comes back so
            when = json.loads(json.dumps(found["when"], allow_nan=False))
        except (TypeError, ValueError):
            raise InvalidArgument(
                where, "must hold only text, numbers, true/false, lists and mappings (quote dates)"
            ) from None
        conditions.check_condition(where, when)
    windows = fields.listed(
        found.get("windows"),
        f"{path}.windows",
        lambda item, where: parse_restriction(fields.text(item, where), where).describe(),
    )
    return RoutingRuleSpec(name, fields.text(found["policy"], f"{path}.policy"), when, windows)


# Planning


@dataclass(frozen=True)
class Owned:
    """The policies or the schedules a routing may name, as they will be once the file is
    applied: their names as the server spells them, and their teams' names."""

    what: str  # policy or schedule
    names: Mapping[str, str]
    teams: Mapping[str, str]

    def own(self, team: str, name: str, path: str) -> str:
        """The name of a policy or schedule that is, or will be, `team`'s."""
        found = known(self.names, name, path, self.what)
        owner = self.teams.get(found.lower(), "")
        if owner.lower() != team.lower():
            raise InvalidArgument(
                path, f"{self.what} {found!r} belongs to team {owner!r}, not {team!r}"
            )
        return found


def change(
    decl: RoutingDecl,
    path: str,
    current: Mapping[str, RoutingSpec],
    teams: Mapping[str, str],
    policies: Owned,
    schedules: Owned,
) -> PlannedChange | None:
    """Setting the team's routing, whole, when what the file gives differs from `current`,
    the server's routing by team."""
    team = known(teams, decl.team, f"{path}.team", "team")
    before = current.get(team.lower()) or RoutingSpec(team)
    rules = before.rules
    if decl.rules is not None:
        rules = tuple(
            dataclasses.replace(r, policy=policies.own(team, r.policy, f"{path}.rules[{j}].policy"))
            for j, r in enumerate(decl.rules)
        )
    default_policy, default_schedule = before.default_policy, before.default_schedule
    if decl.default_policy is not None:
        where = f"{path}.default_policy"
        default_policy = decl.default_policy and policies.own(team, decl.default_policy, where)
    if decl.default_schedule is not None:
        where = f"{path}.default_schedule"
        default_schedule = decl.default_schedule and schedules.own(
            team, decl.default_schedule, where
        )
    wanted = RoutingSpec(
        team, decl.time_zone or before.time_zone, rules, default_policy, default_schedule
    )
    return _change(wanted, path, before)


def _change(spec: RoutingSpec, path: str, before: RoutingSpec) -> PlannedChange | None:
    if spec == before:
        return None
    step = PlannedCall(path, functools.partial(TocsinClient.set_routing, spec=spec))
    if before == RoutingSpec(before.team):  # a team without routing has this one
        return PlannedChange((f"+ routing {spec.team}",), (step,))
    lines = []
    if before.time_zone != spec.time_zone:
        lines.append(f"time_zone {before.time_zone} -> {spec.time_zone}")
    lines.extend(item_lines("rules", before.rules, spec.rules, _rule_fields, _rule_text))
    for key, old, new in (
        ("default_policy", before.default_policy, spec.default_policy),
        ("default_schedule", before.default_schedule, spec.default_schedule),
    ):
        if old != new:
            lines.append(f"{key} {old or 'none'} -> {new or 'none'}")
    return PlannedChange(tuple(f"~ routing {before.team}: {line}" for line in lines), (step,))


def _rule_fields(rule: RoutingRuleSpec) -> dict[str, str]:
    return {
        "name": show(rule.name),
        "policy": rule.policy,
        "when": json.dumps(rule.when, sort_keys=True) if rule.when else "always",
        "windows": repr(", ".join(rule.windows)) if rule.windows else "always",
    }


def _rule_text(rule: RoutingRuleSpec) -> str:
    found = _rule_fields(rule)
    text = f"{found['name']} -> {found['policy']}"
    if rule.when:
        text += f" when {found['when']}"
    return text + (f" during {found['windows']}" if rule.windows else "")


# Exporting


def document(routing: RoutingSpec) -> dict[str, object]:
    rules: list[dict[str, object]] = []
    for rule in routing.rules:
        doc: dict[str, object] = {"name": rule.name, "policy": rule.policy}
        if rule.when:
            doc["when"] = dict(rule.when)
        if rule.windows:
            doc["windows"] = list(rule.windows)
        rules.append(doc)
    return {
        "team": routing.team,
        "time_zone": routing.time_zone,
        "rules": rules,
        "default_policy": routing.default_policy,
        "default_schedule": routing.default_schedule,
    }
