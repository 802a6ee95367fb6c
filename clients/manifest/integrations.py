"""Integrations in config as code (`clients.manifest.schema`): where SNS delivers, and the
rules that turn a delivery into an alert.

An integration is matched by name. Apply creates a missing one (and prints its URL with its
key, which exist only then); of one that exists it changes, in place, what the file gives and
the server has otherwise: type, teams, topic ARNs, minimum signature version (one
UpdateIntegration), rules, and whether it is on. It never deletes and recreates one, since a
new integration has a new URL and key that every SNS subscription would have to be given.
Since the name is what matches, a renamed integration in a file is a new one (and, with
`--prune`, the old one goes): rename with `tocsin integrations update --name`, which keeps
the URL and key, then the file. An export leaves keys out: the server keeps only their hashes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from clients.client import TocsinClient
from clients.manifest import fields
from clients.manifest.changes import PlannedCall, PlannedChange, known, show
from service.core import validation
from service.core.errors import InvalidArgument
from service.ingest import rules as integration_rules
from service.ingest.integrations import RULES_TEXT_MAX, SIGNATURE_VERSIONS, TOPIC_ARNS_MAX
from service.ingest.model import Integration, IntegrationType, NewIntegration

KEYS = (
    "type",
    "team",
    "assignee_team",
    "topic_arns",
    "min_signature_version",
    "enabled",
    "rules",
)
TYPES = tuple(kind.value for kind in IntegrationType)
# What UpdateIntegration changes in place, keeping the URL and key; the file's names for them
# are the request's.
UPDATED = ("type", "team", "assignee_team", "topic_arns", "min_signature_version")


@dataclass(frozen=True)
class IntegrationDecl:
    """What the file declares; None is a key it leaves out."""

    name: str
    type: IntegrationType | None = None
    team: str | None = None
    assignee_team: str | None = None
    topic_arns: tuple[str, ...] | None = None
    min_signature_version: int | None = None
    enabled: bool | None = None
    rules: tuple[Any, ...] | None = None  # as `integrations set-rules` takes them, as JSON


@dataclass(frozen=True)
class IntegrationState:
    integration: Integration  # teams by name
    rules: tuple[Any, ...] | None  # None: not fetched (the file does not list it)


def read(value: object, path: str) -> IntegrationDecl:
    found = fields.keys(value, path, ("name",), KEYS)
    return IntegrationDecl(
        fields.name(found["name"], f"{path}.name"),
        type=fields.optional(found, "type", path, _type),
        team=fields.optional(found, "team", path, _team),
        assignee_team=fields.optional(found, "assignee_team", path, _team),
        topic_arns=fields.optional(found, "topic_arns", path, _topic_arns),
        min_signature_version=fields.optional(
            found, "min_signature_version", path, _signature_version
        ),
        enabled=fields.optional(found, "enabled", path, fields.boolean),
        rules=fields.optional(found, "rules", path, _rules),
    )


def _type(value: object, path: str) -> IntegrationType:
    kind = fields.text(value, path)
    if kind not in TYPES:
        raise InvalidArgument(path, f"must be one of {', '.join(TYPES)} (got {kind!r})")
    return IntegrationType(kind)


def _team(value: object, path: str) -> str:
    return validation.reference(path, fields.text(value, path))


def _topic_arns(value: object, path: str) -> tuple[str, ...]:
    arns = fields.listed(
        value, path, lambda item, at: validation.topic_arn(at, fields.text(item, at))
    )
    if len(arns) > TOPIC_ARNS_MAX:
        raise InvalidArgument(path, f"must have at most {TOPIC_ARNS_MAX} topic ARNs")
    for index, arn in enumerate(arns):
        if arn in arns[:index]:
            raise InvalidArgument(f"{path}[{index}]", "is listed twice")
    return arns


def _signature_version(value: object, path: str) -> int:
    version = fields.whole_number(value, path)
    if version not in SIGNATURE_VERSIONS:
        raise InvalidArgument(path, f"must be 1 or 2 (got {version})")
    return version


def _rules(value: object, path: str) -> tuple[Any, ...]:
    """The rules, checked as the server will check them, in the form it keeps them (JSON)."""
    if not isinstance(value, list):
        raise InvalidArgument(path, "must be a list of rules, as `integrations set-rules` takes")
    try:
        data = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise InvalidArgument(
            path, "must hold only text, numbers, true/false, lists and mappings (quote dates)"
        ) from None
    try:
        integration_rules.parse(data)
    except InvalidArgument as exc:  # its fields start at `rules`
        raise InvalidArgument(f"{path}{exc.field.removeprefix('rules')}", exc.rule) from None
    if len(_rules_text(data)) > RULES_TEXT_MAX:
        raise InvalidArgument(path, f"must be at most {RULES_TEXT_MAX:,} characters as YAML")
    return tuple(data)


def _rules_text(rules: Sequence[Any]) -> str:
    return yaml.safe_dump(list(rules), sort_keys=False, allow_unicode=True) if rules else ""


async def fetch(client: TocsinClient, names: Sequence[str] | None) -> dict[str, IntegrationState]:
    """Every integration; the rules of those named (of all, for None)."""
    found: dict[str, IntegrationState] = {}
    wanted = None if names is None else {name.lower() for name in names}
    for info in await client.list_integrations():
        integration = info.integration
        rules = None
        if wanted is None or integration.name.lower() in wanted:
            text = await client.get_integration_rules(integration.id)
            rules = tuple(yaml.safe_load(text) or ()) if text.strip() else ()
        found[integration.name.lower()] = IntegrationState(integration, rules)
    return found


def changes(
    decls: Sequence[IntegrationDecl],
    current: Mapping[str, IntegrationState],
    teams: Mapping[str, str],
) -> list[PlannedChange]:
    """The changes the file's integrations need. `teams`: the canonical team names, of the
    file and the server."""
    out: list[PlannedChange] = []
    for i, decl in enumerate(decls):
        path = f"integrations[{i}]"
        decl = _named_teams(decl, path, teams)
        now = current.get(decl.name.lower())
        if now is None:
            out.append(_create(decl, path))
            continue
        change = _update(decl, path, now)
        if change is not None:
            out.append(change)
    return out


def _named_teams(decl: IntegrationDecl, path: str, teams: Mapping[str, str]) -> IntegrationDecl:
    """The declaration with its teams as the server spells them."""
    team, assignee = (
        None if name is None else known(teams, name, f"{path}.{key}", "team")
        for key, name in (("team", decl.team), ("assignee_team", decl.assignee_team))
    )
    return dataclasses.replace(decl, team=team, assignee_team=assignee)


def _field_path(request_field: str) -> str:
    """A field of a request as the file calls it: the rules travel as `rules_yaml`."""
    return "rules" if request_field == "rules_yaml" else request_field


def _create(decl: IntegrationDecl, path: str) -> PlannedChange:
    if decl.type is None:
        raise InvalidArgument(
            f"{path}.type", f"is required for a new integration (one of {', '.join(TYPES)})"
        )
    new = NewIntegration(
        name=decl.name,
        type=decl.type,
        team=decl.team or "",
        assignee_team=decl.assignee_team or "",
        topic_arns=decl.topic_arns or (),
        min_signature_version=decl.min_signature_version or 1,
    )
    create = functools.partial(TocsinClient.create_integration, integration=new)
    steps = [PlannedCall(path, create, shown=True)]
    if decl.rules:
        steps.append(_set_rules(decl, path))
    if decl.enabled is False:  # a new integration is enabled
        steps.append(_switch(decl, path))
    return PlannedChange((f"+ integration {decl.name}",), tuple(steps))


def _set_rules(decl: IntegrationDecl, path: str) -> PlannedCall:
    call = functools.partial(
        TocsinClient.set_integration_rules,
        integration=decl.name,
        rules_yaml=_rules_text(decl.rules or ()),
    )
    return PlannedCall(path, call, _field_path)


def _switch(decl: IntegrationDecl, path: str) -> PlannedCall:
    call = functools.partial(
        TocsinClient.set_integration_enabled, integration=decl.name, enabled=bool(decl.enabled)
    )
    return PlannedCall(path, call)


def _same(want: object, have: object) -> bool:
    if isinstance(want, str) and isinstance(have, str):  # team names
        return want.lower() == have.lower()
    return want == have


def _value(value: object) -> str:
    if isinstance(value, IntegrationType):
        return value.value
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    return show(str(value))


def _update(decl: IntegrationDecl, path: str, now: IntegrationState) -> PlannedChange | None:
    name = now.integration.name
    decl = dataclasses.replace(decl, name=name)
    lines, steps = _field_update(decl, path, now.integration)
    if decl.enabled is not None and decl.enabled != now.integration.enabled:
        lines.append(f"enabled {_flag(now.integration.enabled)} -> {_flag(decl.enabled)}")
        steps.append(_switch(decl, path))
    if decl.rules is not None and decl.rules != now.rules:
        lines.extend(_rule_lines(now.rules or (), decl.rules))
        steps.append(_set_rules(decl, path))
    if not steps:
        return None
    return PlannedChange(tuple(f"~ integration {name}: {line}" for line in lines), tuple(steps))


def _field_update(
    decl: IntegrationDecl, path: str, now: Integration
) -> tuple[list[str], list[PlannedCall]]:
    """The lines and the one UpdateIntegration call for the fields in UPDATED that differ."""
    have: dict[str, object] = {
        "type": now.type,
        "team": now.owner_team,
        "assignee_team": now.assignee_team,
        "topic_arns": now.topic_arns,
        "min_signature_version": now.min_signature_version,
    }
    fields = [
        key
        for key in UPDATED
        if getattr(decl, key) is not None and not _same(getattr(decl, key), have[key])
    ]
    if not fields:
        return [], []
    lines = [f"{key} {_value(have[key])} -> {_value(getattr(decl, key))}" for key in fields]
    changes = NewIntegration(
        name=now.name,
        type=decl.type or now.type,
        team=decl.team or "",
        assignee_team=decl.assignee_team or "",
        topic_arns=decl.topic_arns or (),
        min_signature_version=decl.min_signature_version or now.min_signature_version,
    )
    call = functools.partial(
        TocsinClient.update_integration,
        integration=now.name,
        changes=changes,
        fields=tuple(fields),
    )
    return lines, [PlannedCall(path, call)]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _rule_lines(before: Sequence[Any], after: Sequence[Any]) -> list[str]:
    lines = [
        f"rules[{i}] {_rule_text(old)} -> {_rule_text(new)}"
        for i, (old, new) in enumerate(zip(before, after, strict=False))
        if old != new
    ]
    lines.extend(f"+ rules[{i}] {_rule_text(r)}" for i, r in enumerate(after) if i >= len(before))
    lines.extend(f"- rules[{i}] {_rule_text(r)}" for i, r in enumerate(before) if i >= len(after))
    return lines


def _rule_text(rule: object) -> str:
    return json.dumps(rule, sort_keys=True, ensure_ascii=False)


def document(state: IntegrationState) -> dict[str, object]:
    """One integration in the file's format, without its key."""
    integration = state.integration
    return {
        "name": integration.name,
        "type": integration.type.value,
        "team": integration.owner_team,
        "assignee_team": integration.assignee_team,
        "topic_arns": list(integration.topic_arns),
        "min_signature_version": integration.min_signature_version,
        "enabled": integration.enabled,
        "rules": list(state.rules or ()),
    }
