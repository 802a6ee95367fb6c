"""Config as code: teams, users, schedules, escalation policies, team routing and
integrations declared in one YAML file, and the server brought to match it (`tocsin apply -f
FILE`), or written out as such a file (`tocsin export`, without integration keys).

The format::

    teams:
      - name: platform
        description: Platform team
        members:                          # exact set when present
          - {user: alice, role: admin}    # role admin|member, default member
          - {user: bob}
    users:
      - username: alice
        full_name: Alice Archer
        time_zone: Europe/Berlin          # default UTC
        role: user                        # admin|user, default user
        contact_methods:                  # exact set when present, matched by name
          - {name: email, channel: email, address: alice@example.com}
          - {name: phone, channel: sms, address: "+4915112345678"}
        notification_rules:               # when present, a kind left out means the default
          new_alert:
            steps:
              - {contact_method: email, after_minutes: 0}
              - {contact_method: phone, after_minutes: 1}
            repeat_minutes: 10
            repeat_times: 2
          high_priority: {steps: [{contact_method: phone, after_minutes: 0}]}
      - username: bob                     # only the username is required
    schedules:
      - name: platform-oncall
        team: platform                    # default: default
        time_zone: Europe/Berlin          # required
        description: ""
        rotations:                        # exact list when present
          - name: primary
            type: weekly                  # hourly|daily|weekly, or custom with a unit:
            length: 1                     #   default 1; e.g. type: custom, length: 8,
                                          #   unit: hours (hours|days|weeks)
            start: 2026-11-30T09:00       # ISO 8601; no offset: wall time in the zone
            end: 2027-06-01T09:00         # optional
            participants: [alice, bob, none]    # `none` is an empty slot
            restrictions: ["mon 09:00-fri 17:00", "22:00-06:00"]
        overrides:                        # only ever added, never removed
          - {user: bob, start: 2026-12-24T00:00, end: 2026-12-27T00:00, rotation: primary}
    policies:
      - name: platform-policy
        team: platform                    # default: default
        description: ""
        rules:                            # exact list when present, in order; delays
          - after: 0s                     #   non-decreasing: 0, 30s, 5m, 1h30m, at most 1d
            notify: [user:alice]          # kind:name; kinds user, schedule, schedule-next,
                                          #   schedule-previous, team, team-members
          - after: 5m
            notify: [schedule:platform-oncall, user:bob]
            until: closed                 # page until closed (default: acknowledged)
        repeat:                           # all optional; `repeat: none` removes it
          {after: 10m, times: 2, reset_acknowledgement: true, close_after_last: false}
    routing:                              # per team; first matching rule wins
      - team: platform
        time_zone: Europe/Berlin          # of the windows; default UTC
        rules:                            # exact list when present
          - name: p1-business-hours
            policy: platform-policy       # the team's own
            when: {field: priority, op: equals, value: P1}    # integration-rule condition
            windows: ["mon 09:00-fri 17:00"]                   # default: always
        default_policy: platform-policy   # otherwise; "" for none: page the team's on-call
        default_schedule: platform-oncall # the team's on-call; "" for none
    integrations:                         # where SNS delivers; no keys in the file
      - name: aws-cloudtrail
        type: cloudtrail                  # cloudtrail|cloudwatch|eventbridge|sns, required
                                          #   for a new one; any key changes in place,
                                          #   keeping the URL and key (see below)
        team: platform                    # the owner; default: default
        assignee_team: platform           # who gets its alerts; default: the owner
        topic_arns: ["arn:aws:sns:eu-central-1:123456789012:cloudtrail"]  # default: the
                                          #   first topic that confirms a subscription
        min_signature_version: 2          # 1 or 2, default 1
        enabled: true                     # default true
        rules:                            # exact list when present, as `integrations
          - action: ignore                #   set-rules` takes them; [] for the defaults
            when: {field: eventName, op: equals, value: ConsoleLogin}

Names match the server's case-insensitively. Applying changes only what the file mentions:
other teams, users, schedules, policies and routing are left alone, and so is any key an
object leaves out or gives no value (a user without `contact_methods` keeps theirs; a new one
gets the defaults above; a policy without `rules` keeps its own, and a new one needs them).
Lists that are given are exact: `members: []` removes every member. Overrides are matched by
user, start, end and rotation; apply adds the missing ones and never removes one, so overrides
made through the API survive. Nothing is deleted unless `--prune` is given (see
`clients.manifest.prune`): then what the file leaves out, of the kinds it gives a list for
(`users: []` included), is deleted, after every other change; never the `default` team, a
token or an override. Wall times that the zone skips or repeats are refused, naming the file
and the path in it; give such a time with its UTC offset.

A team's description cannot be changed through the API, so a differing one is reported as a
warning, not a change: re-applying the same file still says "no changes". An integration's
type, teams, topic ARNs, minimum signature version, rules and enabled are changed in place
(`~ integration aws-cloudtrail: team platform -> ops`): its URL and key stay, since apply
never deletes and recreates one, whose new URL and key every SNS subscription would need.
Integrations are matched by name, so a renamed one in the file is a new integration; rename
it with `tocsin integrations update --name` first. A new integration's URL with its key is
printed as it is created, once: the server keeps only the key's hash, so an export has no
keys.

Everything is checked, against the server's current state, before the first change is made:
among it, that every `notify` names a user, schedule or team, and that the policies and the
schedule a routing names are its own team's (as they will be after apply). The changes go in
dependency order (teams, users, team members, schedules, overrides, policies, routing,
integrations, then what `--prune` deletes), one call at a time. What only the server can
judge (an override that ended before the server's now, which it refuses to add) may still
be refused midway: the error then says that the changes before it were made, and applying
the file again finishes the job.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml

from clients.cli.arguments import UsageError, duration
from clients.cli.arguments import duration_text as _duration_text
from clients.client import TocsinClient
from clients.manifest import integrations as manifest_integrations
from clients.manifest import prune as manifest_prune
from service.core import loader, validation
from service.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    TocsinError,
)
from service.core.wallclock import exact, parse_instant, zone
from service.escalation.model import Condition, Repeat, TargetKind
from service.escalation.usecases import (
    DELAY_MAX,
    REPEAT_TIMES_MAX,
    ROUTING_RULES_MAX,
    RULES_MAX,
    TARGETS_MAX,
    PolicySpec,
    RoutingRuleSpec,
    RoutingSpec,
    RuleSpec,
)
from service.ingest import rules as conditions
from service.oncall.model import Override, Rotation, Schedule
from service.oncall.usecases import (
    CUSTOM,
    ROTATIONS_MAX,
    RotationSpec,
    ScheduleSpec,
    build_rotation,
    parse_restriction,
)
from service.people import usecases as user_rules
from service.people.model import (
    ContactMethod,
    MemberRole,
    NotificationRule,
    NotificationRules,
    NotificationStep,
    Role,
    TeamMember,
    User,
)
from service.people.usecases import EMPTY_SLOT, RULE_KINDS
from service.teams.model import Team

T = TypeVar("T")
D = TypeVar("D", "ScheduleDecl", "PolicyDecl")


class ManifestError(TocsinError):
    """A problem with the file, or the server refusing part of it: names the file, the path
    in it and the problem, e.g. `oncall.yaml: schedules[0].time_zone: is required`."""

    def __init__(self, file: str, path: str, problem: str) -> None:
        super().__init__(f"{file}: {path}: {problem}" if path else f"{file}: {problem}")


class FileError(ManifestError, UsageError):
    """A problem the file has by itself, found before any call (a time that does not exist,
    an unknown key): a usage mistake, as a mistyped option is."""


# What the file declares. None is a key the file leaves out (or gives no value).


@dataclass(frozen=True)
class TeamDecl:
    name: str
    description: str | None = None
    members: tuple[TeamMember, ...] | None = None  # user_id unused


@dataclass(frozen=True)
class UserDecl:
    username: str
    full_name: str | None = None
    time_zone: str | None = None
    role: Role | None = None
    contact_methods: tuple[ContactMethod, ...] | None = None  # id unused
    rules: NotificationRules | None = None


@dataclass(frozen=True)
class ScheduleDecl:
    name: str
    time_zone: str
    team: str | None = None
    description: str | None = None
    rotations: tuple[RotationSpec, ...] | None = None
    overrides: tuple[Override, ...] = ()  # id and schedule_id unused


@dataclass(frozen=True)
class PolicyDecl:
    name: str
    team: str | None = None
    description: str | None = None
    rules: tuple[RuleSpec, ...] | None = None  # targets as the file names them
    repeat: Repeat | None = None
    sets_repeat: bool = False  # `repeat` is given: None is then `repeat: none`


@dataclass(frozen=True)
class RoutingDecl:
    team: str
    time_zone: str | None = None
    rules: tuple[RoutingRuleSpec, ...] | None = None  # windows as the server describes them
    default_policy: str | None = None  # "" is none
    default_schedule: str | None = None


@dataclass(frozen=True)
class Manifest:
    file: str
    teams: tuple[TeamDecl, ...] = ()
    users: tuple[UserDecl, ...] = ()
    schedules: tuple[ScheduleDecl, ...] = ()
    policies: tuple[PolicyDecl, ...] = ()
    routing: tuple[RoutingDecl, ...] = ()
    integrations: tuple[manifest_integrations.IntegrationDecl, ...] = ()
    kinds: frozenset[str] = frozenset()  # the top-level keys given a list, even `[]`


# Parsing: shapes and field rules, with paths into the file. Errors inside are
# InvalidArgument(path, rule); `parse` names the file.


KINDS = ("teams", "users", "schedules", "policies", "routing", "integrations")


def parse(text: str, file: str) -> Manifest:
    """The file's declarations; refuses the first problem, naming its path."""
    try:
        data = loader.yaml_document("", text)
    except InvalidArgument as exc:
        raise FileError(file, "", exc.rule) from None
    try:
        root = _keys(
            {} if data is None else data,
            "",
            (),
            KINDS,
        )
        teams = _list(root.get("teams"), "teams", _team)
        users = _list(root.get("users"), "users", _user)
        schedules = _list(root.get("schedules"), "schedules", _schedule)
        policies = _list(root.get("policies"), "policies", _policy)
        routing = _list(root.get("routing"), "routing", _routing)
        integrations = _list(root.get("integrations"), "integrations", manifest_integrations.parse)
        _unique([t.name for t in teams], "teams", "name")
        _unique([u.username for u in users], "users", "username")
        _unique([s.name for s in schedules], "schedules", "name")
        _unique([p.name for p in policies], "policies", "name")
        _unique([r.team for r in routing], "routing", "team")
        _unique([i.name for i in integrations], "integrations", "name")
    except InvalidArgument as exc:
        raise FileError(file, exc.field, exc.rule) from None
    kinds = frozenset(kind for kind in KINDS if isinstance(root.get(kind), list))
    return Manifest(file, teams, users, schedules, policies, routing, integrations, kinds)


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _keys(
    value: object, path: str, required: Sequence[str], optional: Sequence[str]
) -> dict[str, Any]:
    known = (*required, *optional)
    if not isinstance(value, dict):
        raise InvalidArgument(path, f"must be a mapping with keys {', '.join(known)}")
    for key in value:
        if key not in known:
            raise InvalidArgument(_at(path, str(key)), f"unknown key (known: {', '.join(known)})")
    for key in required:
        if value.get(key) is None:
            raise InvalidArgument(_at(path, key), "is required")
    return value


def _list(value: object, path: str, read: Callable[[Any, str], T]) -> tuple[T, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidArgument(path, "must be a list")
    return tuple(read(item, f"{path}[{index}]") for index, item in enumerate(value))


def _unique(names: Sequence[str], path: str, key: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name.lower() in seen:
            raise InvalidArgument(f"{path}[{index}].{key}", f"{name!r} is listed twice")
        seen.add(name.lower())


def _text(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(path, f"must be text, not {value!r} (quote it)")
    return value


def _int(value: object, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(path, f"must be a whole number, not {value!r}")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(path, f"must be true or false, not {value!r}")
    return value


def _duration(value: object, path: str) -> timedelta:
    """`0`, `30s`, `5m`, `1h30m`, `1d`, as on the command line; at most a day."""
    if value == 0 and isinstance(value, int) and not isinstance(value, bool):
        return timedelta()
    if not isinstance(value, str):
        raise InvalidArgument(path, f"must be a duration such as 30s, 5m or 1h30m, not {value!r}")
    try:
        delta = duration(value)
    except argparse.ArgumentTypeError as exc:
        raise InvalidArgument(path, str(exc)) from None
    if delta > DELAY_MAX:
        raise InvalidArgument(path, f"must be at most 24 hours (got {value})")
    return delta


def _instant(value: object, tz: ZoneInfo, path: str) -> datetime:
    """ISO 8601 text or a YAML timestamp; without an offset, a wall time in `tz`."""
    if isinstance(value, datetime):
        return exact(value, tz, path) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        value = value.isoformat()
    return parse_instant(_text(value, path), tz, path)


def _team(value: object, path: str) -> TeamDecl:
    fields = _keys(value, path, ("name",), ("description", "members"))
    name = validation.team_name(_text(fields["name"], f"{path}.name"), f"{path}.name")
    description = None
    if fields.get("description") is not None:
        where = f"{path}.description"
        description = _text(fields["description"], where)
        validation.text(where, description, validation.TEAM_DESCRIPTION_MAX)
    members = None
    if fields.get("members") is not None:
        members = _list(fields["members"], f"{path}.members", _member)
        _unique([m.username for m in members], f"{path}.members", "user")
    return TeamDecl(name, description, members)


def _member(value: object, path: str) -> TeamMember:
    fields = _keys(value, path, ("user",), ("role",))
    role = _text(fields.get("role") or MemberRole.MEMBER.value, f"{path}.role")
    try:
        member_role = MemberRole(role)
    except ValueError:
        raise InvalidArgument(f"{path}.role", f"must be admin or member (got {role!r})") from None
    return TeamMember("", _text(fields["user"], f"{path}.user"), member_role)


def _user(value: object, path: str) -> UserDecl:
    fields = _keys(
        value,
        path,
        ("username",),
        ("full_name", "time_zone", "role", "contact_methods", "notification_rules"),
    )
    where = f"{path}.username"
    decl = UserDecl(user_rules.username(_text(fields["username"], where), where))
    if fields.get("full_name") is not None:
        where = f"{path}.full_name"
        full_name = _text(fields["full_name"], where)
        validation.text(where, full_name, user_rules.FULL_NAME_MAX)
        decl = dataclasses.replace(decl, full_name=full_name)
    if fields.get("time_zone") is not None:
        where = f"{path}.time_zone"
        decl = dataclasses.replace(
            decl, time_zone=zone(_text(fields["time_zone"], where), where).key
        )
    if fields.get("role") is not None:
        where = f"{path}.role"
        decl = dataclasses.replace(decl, role=user_rules.role(_text(fields["role"], where), where))
    if fields.get("contact_methods") is not None:
        where = f"{path}.contact_methods"
        methods = _list(fields["contact_methods"], where, _contact_method)
        _unique([m.name for m in methods], where, "name")
        for index, method in enumerate(methods):
            same = [m for m in methods[:index] if m.channel is method.channel]
            if any(m.address == method.address for m in same):
                raise InvalidArgument(f"{where}[{index}].address", "is listed twice")
            if len(same) >= user_rules.METHODS_PER_CHANNEL_MAX:
                raise InvalidArgument(
                    f"{where}[{index}]",
                    f"at most {user_rules.METHODS_PER_CHANNEL_MAX} {method.channel.value} "
                    "contact methods per user",
                )
        decl = dataclasses.replace(decl, contact_methods=methods)
    if fields.get("notification_rules") is not None:
        where = f"{path}.notification_rules"
        kinds = _keys(fields["notification_rules"], where, (), RULE_KINDS)
        rules = {
            kind: _rule(kinds[kind], f"{where}.{kind}")
            for kind in RULE_KINDS
            if kinds.get(kind) is not None
        }
        decl = dataclasses.replace(decl, rules=NotificationRules(**rules))
    return decl


def _contact_method(value: object, path: str) -> ContactMethod:
    fields = _keys(value, path, ("name", "channel", "address"), ())
    name = user_rules.contact_name(_text(fields["name"], f"{path}.name"), f"{path}.name")
    channel = user_rules.channel(_text(fields["channel"], f"{path}.channel"), f"{path}.channel")
    where = f"{path}.address"
    return ContactMethod(
        "", name, channel, user_rules.address(channel, _text(fields["address"], where), where)
    )


def _rule(value: object, path: str) -> NotificationRule:
    fields = _keys(value, path, ("steps",), ("repeat_minutes", "repeat_times"))
    return NotificationRule(
        _list(fields["steps"], f"{path}.steps", _step),
        _int(fields.get("repeat_minutes", 0), f"{path}.repeat_minutes"),
        _int(fields.get("repeat_times", 0), f"{path}.repeat_times"),
    )


def _step(value: object, path: str) -> NotificationStep:
    fields = _keys(value, path, ("contact_method",), ("after_minutes",))
    after = _int(fields.get("after_minutes", 0), f"{path}.after_minutes")
    if not 0 <= after <= user_rules.DELAY_MAX_MINUTES:
        raise InvalidArgument(
            f"{path}.after_minutes", f"must be 0-{user_rules.DELAY_MAX_MINUTES} (got {after})"
        )
    where = f"{path}.contact_method"
    return NotificationStep(
        user_rules.contact_name(_text(fields["contact_method"], where), where), after
    )


def _schedule(value: object, path: str) -> ScheduleDecl:
    fields = _keys(
        value, path, ("name", "time_zone"), ("team", "description", "rotations", "overrides")
    )
    name = validation.team_name(_text(fields["name"], f"{path}.name"), f"{path}.name")
    where = f"{path}.time_zone"
    tz = zone(_text(fields["time_zone"], where), where)
    decl = ScheduleDecl(name, tz.key)
    if fields.get("team") is not None:
        decl = dataclasses.replace(decl, team=_text(fields["team"], f"{path}.team"))
    decl = _described(decl, fields, path)
    if fields.get("rotations") is not None:
        where = f"{path}.rotations"
        rotations = _list(fields["rotations"], where, functools.partial(_rotation, tz=tz))
        if len(rotations) > ROTATIONS_MAX:
            raise InvalidArgument(where, f"must have at most {ROTATIONS_MAX} rotations")
        _unique([r.name for r in rotations], where, "name")
        decl = dataclasses.replace(decl, rotations=rotations)
    overrides = _list(
        fields.get("overrides"), f"{path}.overrides", functools.partial(_override, tz=tz)
    )
    return dataclasses.replace(decl, overrides=overrides)


def _rotation(value: object, path: str, tz: ZoneInfo) -> RotationSpec:
    fields = _keys(
        value,
        path,
        ("name", "type", "start", "participants"),
        ("length", "unit", "end", "restrictions"),
    )
    participants = fields["participants"]
    if not isinstance(participants, list):
        raise InvalidArgument(f"{path}.participants", "must be a list of usernames")
    return RotationSpec(
        name=_text(fields["name"], f"{path}.name"),
        kind=_text(fields["type"], f"{path}.type"),
        start=_instant(fields["start"], tz, f"{path}.start"),
        participants=tuple(
            _text(p, f"{path}.participants[{i}]") for i, p in enumerate(participants)
        ),
        length=_int(fields.get("length") or 1, f"{path}.length"),
        unit=_text(fields.get("unit") or "", f"{path}.unit"),
        end=None if fields.get("end") is None else _instant(fields["end"], tz, f"{path}.end"),
        restrictions=_list(
            fields.get("restrictions"),
            f"{path}.restrictions",
            lambda item, where: parse_restriction(_text(item, where), where),
        ),
    )


def _override(value: object, path: str, tz: ZoneInfo) -> Override:
    fields = _keys(value, path, ("user", "start", "end"), ("rotation",))
    start = _instant(fields["start"], tz, f"{path}.start")
    end = _instant(fields["end"], tz, f"{path}.end")
    if end <= start:
        raise InvalidArgument(f"{path}.end", "must be after the start")
    user = _text(fields["user"], f"{path}.user")
    rotation = _text(fields.get("rotation") or "", f"{path}.rotation")
    return Override("", "", user, start, end, rotation)


UNTIL = {"acknowledged": Condition.NOT_ACKNOWLEDGED.value, "closed": Condition.NOT_CLOSED.value}
NO_REPEAT = "none"


def _described(decl: D, fields: Mapping[str, object], path: str) -> D:
    """`decl` with the file's description, when the file gives one."""
    if fields.get("description") is None:
        return decl
    where = f"{path}.description"
    description = _text(fields["description"], where)
    validation.text(where, description, validation.TEAM_DESCRIPTION_MAX)
    return dataclasses.replace(decl, description=description)


def _policy(value: object, path: str) -> PolicyDecl:
    fields = _keys(value, path, ("name",), ("team", "description", "rules", "repeat"))
    name = validation.team_name(_text(fields["name"], f"{path}.name"), f"{path}.name")
    decl = PolicyDecl(name)
    if fields.get("team") is not None:
        decl = dataclasses.replace(decl, team=_text(fields["team"], f"{path}.team"))
    decl = _described(decl, fields, path)
    if fields.get("rules") is not None:
        where = f"{path}.rules"
        rules = _list(fields["rules"], where, _escalation_rule)
        if not 1 <= len(rules) <= RULES_MAX:
            raise InvalidArgument(where, f"must have 1 to {RULES_MAX} rules (got {len(rules)})")
        for index in range(1, len(rules)):
            if rules[index].delay < rules[index - 1].delay:
                raise InvalidArgument(
                    f"{where}[{index}].after", "must not be earlier than the rule before it"
                )
        decl = dataclasses.replace(decl, rules=rules)
    if fields.get("repeat") is not None:
        repeat = None if fields["repeat"] == NO_REPEAT else _repeat(fields["repeat"], path)
        decl = dataclasses.replace(decl, repeat=repeat, sets_repeat=True)
    return decl


def _escalation_rule(value: object, path: str) -> RuleSpec:
    fields = _keys(value, path, ("after", "notify"), ("until",))
    where = f"{path}.notify"
    notify = fields["notify"]
    if not isinstance(notify, list) or not 1 <= len(notify) <= TARGETS_MAX:
        raise InvalidArgument(where, f"must be a list of 1 to {TARGETS_MAX} kind:name")
    condition = Condition.NOT_ACKNOWLEDGED.value
    if fields.get("until") is not None:
        until = _text(fields["until"], f"{path}.until")
        if until not in UNTIL:
            raise InvalidArgument(
                f"{path}.until", f"must be acknowledged or closed (got {until!r})"
            )
        condition = UNTIL[until]
    return RuleSpec(
        _duration(fields["after"], f"{path}.after"),
        tuple(_target(item, f"{where}[{index}]") for index, item in enumerate(notify)),
        condition,
    )


def _target(value: object, path: str) -> tuple[str, str]:
    kind, colon, name = _text(value, path).partition(":")
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
    fields = _keys(
        value, where, (), ("after", "times", "reset_acknowledgement", "close_after_last")
    )
    times = _int(fields.get("times", 0), f"{where}.times")
    if not 0 <= times <= REPEAT_TIMES_MAX:
        raise InvalidArgument(f"{where}.times", f"must be 0 to {REPEAT_TIMES_MAX} (got {times})")
    return Repeat(
        _duration(fields.get("after", 0), f"{where}.after"),
        times,
        _bool(fields.get("reset_acknowledgement", False), f"{where}.reset_acknowledgement"),
        _bool(fields.get("close_after_last", False), f"{where}.close_after_last"),
    )


def routing_file(team: str, data: object, file: str) -> RoutingSpec:
    """A team's whole routing as `tocsin routing set TEAM -f FILE` reads it: the keys of a
    `routing:` entry (its `team`, if given, must be TEAM). What the file leaves out is empty:
    the routing is replaced, not merged."""
    entry = {} if data is None else data
    if isinstance(entry, dict):
        given = entry.get("team")
        if given is not None and str(given).lower() != team.lower():
            raise FileError(file, "team", f"is {given!r}, but the command names {team!r}")
        entry = {**entry, "team": team}
    try:
        decl = _routing(entry, "")
    except InvalidArgument as exc:
        raise FileError(file, exc.field, exc.rule) from None
    return RoutingSpec(
        team,
        decl.time_zone or "UTC",
        decl.rules or (),
        decl.default_policy or "",
        decl.default_schedule or "",
    )


def _routing(value: object, path: str) -> RoutingDecl:
    fields = _keys(
        value, path, ("team",), ("time_zone", "rules", "default_policy", "default_schedule")
    )
    decl = RoutingDecl(_text(fields["team"], f"{path}.team"))
    if fields.get("time_zone") is not None:
        where = f"{path}.time_zone"
        decl = dataclasses.replace(
            decl, time_zone=zone(_text(fields["time_zone"], where), where).key
        )
    if fields.get("rules") is not None:
        where = f"{path}.rules"
        rules = _list(fields["rules"], where, _routing_rule)
        if len(rules) > ROUTING_RULES_MAX:
            raise InvalidArgument(where, f"must have at most {ROUTING_RULES_MAX} rules")
        decl = dataclasses.replace(decl, rules=rules)
    if fields.get("default_policy") is not None:
        where = f"{path}.default_policy"
        decl = dataclasses.replace(decl, default_policy=_text(fields["default_policy"], where))
    if fields.get("default_schedule") is not None:
        where = f"{path}.default_schedule"
        decl = dataclasses.replace(decl, default_schedule=_text(fields["default_schedule"], where))
    return decl


def _routing_rule(value: object, path: str) -> RoutingRuleSpec:
    fields = _keys(value, path, ("name", "policy"), ("when", "windows"))
    where = f"{path}.name"
    name = validation.text(where, _text(fields["name"], where), 100, required=True)
    when: dict[str, Any] = {}
    if fields.get("when") is not None:
        where = f"{path}.when"
        try:  # it travels as JSON, and comes back so
            when = json.loads(json.dumps(fields["when"], allow_nan=False))
        except (TypeError, ValueError):
            raise InvalidArgument(
                where, "must hold only text, numbers, true/false, lists and mappings (quote dates)"
            ) from None
        conditions.check_condition(where, when)
    windows = _list(
        fields.get("windows"),
        f"{path}.windows",
        lambda item, where: parse_restriction(_text(item, where), where).describe(),
    )
    return RoutingRuleSpec(name, _text(fields["policy"], f"{path}.policy"), when, windows)


# The server's side


@dataclass(frozen=True)
class State:
    """What the server holds, keyed by lower-cased name; members, overrides and routing only
    of the teams and schedules that were asked about."""

    teams: Mapping[str, Team]
    users: Mapping[str, User]
    schedules: Mapping[str, Schedule]
    members: Mapping[str, tuple[TeamMember, ...]]
    overrides: Mapping[str, tuple[Override, ...]]
    policies: Mapping[str, PolicySpec] = field(default_factory=dict)
    routing: Mapping[str, RoutingSpec] = field(default_factory=dict)  # by team
    integrations: Mapping[str, manifest_integrations.IntegrationState] = field(default_factory=dict)
    alerted_teams: frozenset[str] = frozenset()  # of those `--prune` would delete


async def fetch(
    client: TocsinClient, manifest: Manifest | None = None, *, prune: bool = False
) -> State:
    """The server's state. For a manifest: the members of the teams it lists members for, the
    overrides overlapping those it lists, the routing of the teams it routes and the rules of
    the integrations it lists; to prune, also every team's routing and which of the teams it
    would delete have alerts. Without one (for export): everything, with the overrides that
    have not ended."""
    teams = {t.name.lower(): t for t in await client.list_teams()}
    users = {u.username.lower(): u for u in await client.list_users()}
    schedules = {s.name.lower(): s for s in await client.list_schedules()}
    policies = {p.name.lower(): p for p in await client.list_policies()}
    windows: dict[str, tuple[datetime | None, datetime | None]] = {}
    if manifest is None:
        member_of = list(teams)
        windows = {key: (None, None) for key in schedules}
        routed = list(teams)
        integrations = await manifest_integrations.fetch(client, None)
    else:
        routed = [r.team.lower() for r in manifest.routing if r.team.lower() in teams]
        if prune:
            routed = list(teams)
        integrations = {}
        if manifest.integrations or prune:
            listed = [i.name for i in manifest.integrations]
            integrations = await manifest_integrations.fetch(client, listed)
        member_of = [
            t.name.lower()
            for t in manifest.teams
            if t.members is not None and t.name.lower() in teams
        ]
        for decl in manifest.schedules:
            if decl.overrides and decl.name.lower() in schedules:
                starts, ends = [o.start for o in decl.overrides], [o.end for o in decl.overrides]
                windows[decl.name.lower()] = (min(starts), max(ends))
    members = {key: tuple(await client.list_team_members(teams[key].name)) for key in member_of}
    overrides = {
        key: tuple(await client.list_overrides(schedules[key].name, start, end))
        for key, (start, end) in windows.items()
    }
    routing = {key: await client.get_routing(teams[key].name) for key in routed}
    alerted: frozenset[str] = frozenset()
    if manifest is not None and prune:
        alerted = await manifest_prune.alerted_teams(client, manifest, teams)
    return State(
        teams, users, schedules, members, overrides, policies, routing, integrations, alerted
    )


# Planning: what differs, and the calls that make it match. Pure: no I/O.

Call = Callable[[TocsinClient], Awaitable[object]]


@dataclass(frozen=True)
class Step:
    """One call to the server, and the place in the file it carries out (for errors)."""

    path: str
    call: Call
    # The file's name for a field of the request the server refuses, when they differ.
    field_path: Callable[[str], str] | None = None
    # Its result is shown as soon as it comes: a new integration's URL and key exist only then.
    shown: bool = False


@dataclass(frozen=True)
class Change:
    """What one object needs: the lines that show it, and the calls that make it so."""

    lines: tuple[str, ...]
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Plan:
    file: str
    changes: tuple[Change, ...] = ()
    # What differs but apply cannot change; not changes, so a re-apply still says so.
    warnings: tuple[str, ...] = ()

    @property
    def lines(self) -> list[str]:
        return [line for change in self.changes for line in change.lines]


def plan(manifest: Manifest, state: State, *, prune: bool = False) -> Plan:
    """Every change that makes the server match the file, in an order the server accepts;
    with `prune`, then the deletions of what the file leaves out, of the kinds it lists.
    Checks what needs the server's state first: references to users, teams, schedules and
    policies that exist in neither the file nor the server (or that prune would delete),
    rotations, rules against contact methods, and that routing names only its own team's
    policies and schedule."""
    # Canonical names by lower-cased name; the server's spelling wins.
    users = {u.username.lower(): u.username for u in manifest.users}
    users.update({key: u.username for key, u in state.users.items()})
    teams = {t.name.lower(): t.name for t in manifest.teams}
    teams.update({key: t.name for key, t in state.teams.items()})
    changes: list[Change | None] = []
    warnings: list[str] = []
    try:
        for i, team in enumerate(manifest.teams):
            now = state.teams.get(team.name.lower())
            if now is None:
                create = functools.partial(
                    TocsinClient.create_team, name=team.name, description=team.description or ""
                )
                changes.append(Change((f"+ team {team.name}",), (Step(f"teams[{i}]", create),)))
            elif team.description is not None and team.description != now.description:
                warnings.append(
                    f"teams[{i}].description: differs from team {now.name}'s "
                    f"({_show(now.description)}), which apply cannot change"
                )
        for i, user in enumerate(manifest.users):
            changes.append(
                _user_change(user, f"users[{i}]", state.users.get(user.username.lower()))
            )
        for i, team in enumerate(manifest.teams):
            if team.members is not None:
                key = team.name.lower()
                changes.extend(
                    _member_changes(
                        team.members, f"teams[{i}]", teams[key], state.members.get(key, ()), users
                    )
                )
        for i, schedule in enumerate(manifest.schedules):
            now_schedule = state.schedules.get(schedule.name.lower())
            changes.append(
                _schedule_change(schedule, f"schedules[{i}]", now_schedule, users, teams)
            )
        for i, schedule in enumerate(manifest.schedules):
            changes.extend(_override_changes(schedule, f"schedules[{i}]", state, users))
        changes.extend(_escalation_changes(manifest, state, users, teams))
        changes.extend(
            manifest_integrations.changes(manifest.integrations, state.integrations, teams)
        )
        if prune:
            changes.extend(manifest_prune.deletions(manifest, state))
    except InvalidArgument as exc:
        raise ManifestError(manifest.file, exc.field, exc.rule) from None
    return Plan(manifest.file, tuple(c for c in changes if c is not None), tuple(warnings))


def _known(names: Mapping[str, str], name: str, path: str, what: str) -> str:
    found = names.get(name.lower())
    if found is None:
        raise InvalidArgument(path, f"no {what} named {name!r} on the server or in the file")
    return found


def _show(text: str) -> str:
    """A value in a change line: quoted only when it would otherwise be hard to read."""
    plain = text and text == text.strip() and not any(c in text for c in " ,'\"")
    return text if plain else repr(text)


def _stamp(instant: datetime, tz: ZoneInfo) -> str:
    """An instant as ISO 8601 in `tz`, with its offset: to the minute when that is exact."""
    wall = instant.astimezone(tz)
    return wall.isoformat(timespec="minutes" if not (wall.second or wall.microsecond) else "auto")


def _rule_text(rule: NotificationRule | None) -> str:
    if rule is None:
        return "default"
    steps = ", ".join(f"{s.contact_method} after {s.delay_minutes}m" for s in rule.steps)
    if rule.repeat_times:
        steps += f", again every {rule.repeat_minutes}m {rule.repeat_times} more times"
    return steps


def _user_change(decl: UserDecl, path: str, current: User | None) -> Change | None:
    before = current or User("", decl.username)
    name = before.username
    lines: list[str] = []
    steps: list[Step] = []
    if current is None:
        lines.append(f"+ user {name}")
        create = functools.partial(
            TocsinClient.create_user,
            username=name,
            full_name=decl.full_name or "",
            time_zone=decl.time_zone or "",
            role=decl.role.value if decl.role else "",
        )
        steps.append(Step(path, create))
    else:
        wanted = {
            "full_name": decl.full_name,
            "time_zone": decl.time_zone,
            "role": decl.role.value if decl.role else None,
        }
        now = {
            "full_name": before.full_name,
            "time_zone": before.time_zone,
            "role": before.role.value,
        }
        changed = {k: v for k, v in wanted.items() if v is not None and v != now[k]}
        lines.extend(
            f"~ user {name}: {k} {_show(now[k])} -> {_show(v)}" for k, v in changed.items()
        )
        if changed:
            update = functools.partial(
                TocsinClient.update_user,
                user=name,
                full_name=changed.get("full_name"),
                time_zone=changed.get("time_zone"),
                role=changed.get("role"),
            )
            steps.append(Step(path, update))

    # A changed contact method is removed and added again: the server refuses a second
    # method with the same name or address. Rules using a removed one are set aside first.
    methods = before.contact_methods if decl.contact_methods is None else decl.contact_methods
    have = {m.name.lower(): m for m in before.contact_methods}
    want = {m.name.lower(): m for m in methods}

    def same(a: ContactMethod, b: ContactMethod | None) -> bool:
        return b is not None and (a.channel, a.address) == (b.channel, b.address)

    # A method the server already has (names match in any case) is the server's, spelled
    # its way, so the rules naming it compare equal and re-applying settles.
    methods = tuple(
        have[m.name.lower()] if same(m, have.get(m.name.lower())) else m for m in methods
    )
    want = {m.name.lower(): m for m in methods}

    doomed = [m for m in before.contact_methods if not same(m, want.get(m.name.lower()))]
    fresh = [(i, m) for i, m in enumerate(methods) if not same(m, have.get(m.name.lower()))]
    for m in doomed:
        new = want.get(m.name.lower())
        if new is None:
            lines.append(f"- user {name}: contact method {m.name}")
        elif current is not None:
            old_text, new_text = (
                f"{m.channel.value} {m.address}",
                f"{new.channel.value} {new.address}",
            )
            lines.append(f"~ user {name}: contact method {m.name} {old_text} -> {new_text}")
    for _, m in fresh:
        if m.name.lower() not in have and current is not None:
            lines.append(f"+ user {name}: contact method {m.name} ({m.channel.value} {m.address})")

    target = _checked_rules(decl, path, dataclasses.replace(before, contact_methods=methods))
    gone = {m.name.lower() for m in doomed}
    cleared = {
        kind: None
        for kind in RULE_KINDS
        if any(s.contact_method.lower() in gone for s in _steps(before.notification_rules, kind))
    }
    for kind in cleared:
        call = functools.partial(
            TocsinClient.set_notification_rule, user=name, kind=kind, rule=None
        )
        steps.append(Step(f"{path}.notification_rules", call))
    for m in doomed:
        call = functools.partial(
            TocsinClient.remove_contact_method, user=name, contact_method=m.name
        )
        steps.append(Step(f"{path}.contact_methods", call))
    for i, m in fresh:
        call = functools.partial(
            TocsinClient.add_contact_method,
            user=name,
            channel=m.channel.value,
            address=m.address,
            name=m.name,
        )
        steps.append(Step(f"{path}.contact_methods[{i}]", call))
    middle = dataclasses.replace(before.notification_rules, **cleared)
    for kind in RULE_KINDS:
        old, new_rule = getattr(before.notification_rules, kind), getattr(target, kind)
        if old != new_rule and current is not None:
            text = f"{_rule_text(old)} -> {_rule_text(new_rule)}"
            lines.append(f"~ user {name}: notification_rules.{kind} {text}")
        if getattr(middle, kind) != new_rule:
            call = functools.partial(
                TocsinClient.set_notification_rule, user=name, kind=kind, rule=new_rule
            )
            steps.append(Step(f"{path}.notification_rules", call))
    return Change(tuple(lines), tuple(steps)) if steps else None


def _steps(rules: NotificationRules, kind: str) -> tuple[NotificationStep, ...]:
    rule: NotificationRule | None = getattr(rules, kind)
    return rule.steps if rule else ()


def _checked_rules(decl: UserDecl, path: str, final: User) -> NotificationRules:
    """The rules the user will have, checked against their contact methods after apply and
    in the form the server keeps them (steps by delay, methods by their own names)."""
    rules = final.notification_rules if decl.rules is None else decl.rules
    checked: dict[str, NotificationRule | None] = {}
    for kind in RULE_KINDS:
        rule: NotificationRule | None = getattr(rules, kind)
        where = f"{path}.notification_rules.{kind}"
        try:
            checked[kind] = (
                None if rule is None else user_rules.notification_rule(final, rule, where)
            )
        except InvalidArgument as exc:
            if decl.rules is not None:
                raise
            raise InvalidArgument(
                f"{path}.contact_methods",
                f"{final.username}'s {kind} notification rule needs a contact method this "
                f"leaves out ({exc.rule}); give notification_rules too",
            ) from None
    return NotificationRules(**checked)


def _member_changes(
    members: Sequence[TeamMember],
    path: str,
    team: str,
    current: Sequence[TeamMember],
    users: Mapping[str, str],
) -> list[Change]:
    have = {m.username.lower(): m for m in current}
    out = []
    for j, member in enumerate(members):
        where = f"{path}.members[{j}]"
        user = _known(users, member.username, f"{where}.user", "user")
        role = member.role.value
        call = functools.partial(TocsinClient.set_team_member, team=team, user=user, role=role)
        old = have.get(user.lower())
        if old is None:
            out.append(Change((f"+ team {team}: member {user} ({role})",), (Step(where, call),)))
        elif old.role is not member.role:
            line = f"~ team {team}: member {user} role {old.role.value} -> {role}"
            out.append(Change((line,), (Step(where, call),)))
    wanted = {m.username.lower() for m in members}
    for old in current:
        if old.username.lower() not in wanted:
            remove = functools.partial(
                TocsinClient.remove_team_member, team=team, user=old.username
            )
            step = Step(f"{path}.members", remove)
            out.append(Change((f"- team {team}: member {old.username}",), (step,)))
    return out


def _schedule_change(
    decl: ScheduleDecl,
    path: str,
    current: Schedule | None,
    users: Mapping[str, str],
    teams: Mapping[str, str],
) -> Change | None:
    team = _known(
        teams, decl.team or (current.team_id if current else "default"), f"{path}.team", "team"
    )
    tz = zone(decl.time_zone)
    if decl.rotations is not None:
        specs = decl.rotations
        rotations = [
            build_rotation(spec, decl.time_zone, users, f"{path}.rotations[{i}]")
            for i, spec in enumerate(specs)
        ]
    else:
        rotations = list(current.rotations) if current else []
        specs = tuple(rotation_spec(r) for r in rotations)
    description = decl.description
    if description is None:
        description = current.description if current else ""
    spec = ScheduleSpec(
        name=current.name if current else decl.name,
        team=team,
        time_zone=decl.time_zone,
        description=description,
        rotations=specs,
    )
    if current is None:
        create = functools.partial(TocsinClient.create_schedule, spec=spec)
        return Change((f"+ schedule {decl.name}",), (Step(path, create),))
    lines = [
        f"{key} {_show(old)} -> {_show(new)}"
        for key, old, new in (
            ("team", current.team_id, team),
            ("time_zone", current.time_zone, decl.time_zone),
            ("description", current.description, description),
        )
        if old != new
    ]
    if decl.rotations is not None:
        lines.extend(_rotation_lines(current.rotations, rotations, tz))
    if not lines:
        return None
    update = functools.partial(TocsinClient.update_schedule, schedule=current.name, spec=spec)
    return Change(
        tuple(f"~ schedule {current.name}: {line}" for line in lines), (Step(path, update),)
    )


def rotation_spec(rotation: Rotation) -> RotationSpec:
    """A rotation as the server has it, as a spec to send back unchanged."""
    return RotationSpec(
        name=rotation.name,
        kind=rotation.kind,
        start=rotation.start,
        participants=tuple(u or EMPTY_SLOT for u in rotation.current_users),
        length=rotation.length,
        unit=rotation.unit.value if rotation.kind == CUSTOM else "",
        end=rotation.end,
        restrictions=rotation.restrictions,
    )


def _rotation_fields(rotation: Rotation, tz: ZoneInfo) -> dict[str, str]:
    kind = rotation.kind
    return {
        "type": kind if kind != CUSTOM else f"every {rotation.length} {rotation.unit.value}",
        "start": _stamp(rotation.start, tz),
        "end": "none" if rotation.end is None else _stamp(rotation.end, tz),
        "participants": ",".join(u or EMPTY_SLOT for u in rotation.current_users),
        "restrictions": ", ".join(r.describe() for r in rotation.restrictions) or "none",
    }


def _rotation_lines(have: Sequence[Rotation], want: Sequence[Rotation], tz: ZoneInfo) -> list[str]:
    old = {r.name.lower(): r for r in have}
    new = {r.name.lower() for r in want}
    lines = []
    for i, rotation in enumerate(want):
        before = old.get(rotation.name.lower())
        if before is None:
            lines.append(f"+ rotation {rotation.name}")
            continue
        a, b = _rotation_fields(before, tz), _rotation_fields(rotation, tz)
        lines.extend(f"rotations[{i}].{key} {a[key]} -> {b[key]}" for key in a if a[key] != b[key])
    lines.extend(f"- rotation {r.name}" for r in have if r.name.lower() not in new)
    order_before = [r.name for r in have if r.name.lower() in new]
    order_after = [old[r.name.lower()].name for r in want if r.name.lower() in old]
    if order_before != order_after:
        lines.append(f"rotations order {','.join(order_before)} -> {','.join(order_after)}")
    return lines


def _override_changes(
    decl: ScheduleDecl, path: str, state: State, users: Mapping[str, str]
) -> list[Change]:
    current = state.schedules.get(decl.name.lower())
    name = current.name if current else decl.name
    if decl.rotations is not None:
        rotations = [r.name for r in decl.rotations]
    else:
        rotations = [r.name for r in current.rotations] if current else []
    tz = zone(decl.time_zone)
    have = {
        (o.user.lower(), o.start, o.end, o.rotation.lower())
        for o in state.overrides.get(decl.name.lower(), ())
    }
    out = []
    for j, override in enumerate(decl.overrides):
        where = f"{path}.overrides[{j}]"
        user = _known(users, override.user, f"{where}.user", "user")
        rotation = override.rotation
        if rotation and rotation.lower() not in {r.lower() for r in rotations}:
            raise InvalidArgument(
                f"{where}.rotation",
                f"no rotation {rotation!r} in {name} (has: {', '.join(rotations) or 'none'})",
            )
        key = (user.lower(), override.start, override.end, rotation.lower())
        if key in have:
            continue
        have.add(key)
        span = f"{_stamp(override.start, tz)}..{_stamp(override.end, tz)}"
        line = f"+ override {user} on {name} {span}" + (f" ({rotation})" if rotation else "")
        add = functools.partial(
            TocsinClient.add_override,
            schedule=name,
            user=user,
            start=override.start,
            end=override.end,
            rotation=rotation,
        )
        out.append(Change((line,), (Step(where, add),)))
    return out


def _escalation_changes(
    manifest: Manifest, state: State, users: Mapping[str, str], teams: Mapping[str, str]
) -> list[Change | None]:
    """The policies' changes, then the routing's: a routing may name only the policies and the
    schedule of its own team, as they will be once the file is applied."""
    schedules = {s.name.lower(): s.name for s in manifest.schedules}
    schedules.update({key: s.name for key, s in state.schedules.items()})
    schedule_teams = {key: s.team_id for key, s in state.schedules.items()}  # team names
    for schedule in manifest.schedules:
        now = state.schedules.get(schedule.name.lower())
        team = schedule.team or (now.team_id if now else "default")
        schedule_teams[schedule.name.lower()] = teams.get(team.lower(), team)
    names = {"user": users, "schedule": schedules, "team": teams}
    policies = {p.name.lower(): p.name for p in manifest.policies}
    policies.update({key: p.name for key, p in state.policies.items()})
    policy_teams = {key: p.team for key, p in state.policies.items()}
    changes: list[Change | None] = []
    for i, policy in enumerate(manifest.policies):
        current = state.policies.get(policy.name.lower())
        spec = _policy_spec(policy, f"policies[{i}]", current, names)
        policy_teams[policy.name.lower()] = spec.team
        changes.append(_policy_change(spec, f"policies[{i}]", current))
    for i, routing in enumerate(manifest.routing):
        path = f"routing[{i}]"
        team = _known(teams, routing.team, f"{path}.team", "team")
        before = state.routing.get(team.lower()) or RoutingSpec(team)
        own_policy = functools.partial(_own, "policy", policies, policy_teams, team)
        own_schedule = functools.partial(_own, "schedule", schedules, schedule_teams, team)
        rules = before.rules
        if routing.rules is not None:
            rules = tuple(
                dataclasses.replace(r, policy=own_policy(r.policy, f"{path}.rules[{j}].policy"))
                for j, r in enumerate(routing.rules)
            )
        default_policy, default_schedule = before.default_policy, before.default_schedule
        if routing.default_policy is not None:
            where = f"{path}.default_policy"
            default_policy = routing.default_policy and own_policy(routing.default_policy, where)
        if routing.default_schedule is not None:
            where = f"{path}.default_schedule"
            default_schedule = routing.default_schedule and own_schedule(
                routing.default_schedule, where
            )
        wanted = RoutingSpec(
            team, routing.time_zone or before.time_zone, rules, default_policy, default_schedule
        )
        changes.append(_routing_change(wanted, path, before))
    return changes


def _own(
    what: str,
    known: Mapping[str, str],
    owners: Mapping[str, str],
    team: str,
    name: str,
    path: str,
) -> str:
    """The name of a policy or schedule that is, or will be, `team`'s."""
    found = _known(known, name, path, what)
    owner = owners.get(found.lower(), "")
    if owner.lower() != team.lower():
        raise InvalidArgument(path, f"{what} {found!r} belongs to team {owner!r}, not {team!r}")
    return found


_SERVICE_FIELDS = (
    (re.compile(r"\.targets\[(\d+)\](\.kind|\.name)?"), r".notify[\1]"),
    (re.compile(r"\.targets\b"), ".notify"),
    (re.compile(r"\.delay\b"), ".after"),
    (re.compile(r"\.condition\b"), ".until"),
)


def _policy_field(request_field: str) -> str:
    """A field of a policy request as the file calls it: `rules[1].targets[0].name` is
    `rules[1].notify[0]`."""
    for pattern, replacement in _SERVICE_FIELDS:
        request_field = pattern.sub(replacement, request_field)
    return request_field


def _policy_spec(
    decl: PolicyDecl,
    path: str,
    current: PolicySpec | None,
    names: Mapping[str, Mapping[str, str]],
) -> PolicySpec:
    """The policy as it will be: the file's keys, the server's for the keys it leaves out,
    with names as the server spells them."""
    team = decl.team or (current.team if current else "default")
    team = _known(names["team"], team, f"{path}.team", "team")
    if decl.rules is not None:
        rules = tuple(
            dataclasses.replace(
                rule,
                targets=tuple(
                    (kind, _known(names[what], name, f"{path}.rules[{i}].notify[{j}]", what))
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


def _policy_change(spec: PolicySpec, path: str, current: PolicySpec | None) -> Change | None:
    if current is None:
        create = functools.partial(TocsinClient.create_policy, spec=spec)
        return Change((f"+ policy {spec.name}",), (Step(path, create, _policy_field),))
    lines = [
        f"{key} {_show(old)} -> {_show(new)}"
        for key, old, new in (
            ("team", current.team, spec.team),
            ("description", current.description, spec.description),
        )
        if old != new
    ]
    for i, (old_rule, new_rule) in enumerate(zip(current.rules, spec.rules, strict=False)):
        a, b = _escalation_fields(old_rule), _escalation_fields(new_rule)
        lines.extend(f"rules[{i}].{key} {a[key]} -> {b[key]}" for key in a if a[key] != b[key])
    for i, rule in enumerate(spec.rules[len(current.rules) :], len(current.rules)):
        lines.append(f"+ rules[{i}] {_escalation_text(rule)}")
    for i, rule in enumerate(current.rules[len(spec.rules) :], len(spec.rules)):
        lines.append(f"- rules[{i}] {_escalation_text(rule)}")
    if current.repeat != spec.repeat:
        lines.append(f"repeat {_repeat_text(current.repeat)} -> {_repeat_text(spec.repeat)}")
    if not lines:  # nothing the file can tell apart
        return None
    update = functools.partial(TocsinClient.update_policy, policy=current.name, spec=spec)
    return Change(
        tuple(f"~ policy {current.name}: {line}" for line in lines),
        (Step(path, update, _policy_field),),
    )


def _escalation_fields(rule: RuleSpec) -> dict[str, str]:
    return {
        "after": _duration_text(rule.delay),
        "notify": ",".join(f"{kind}:{name}" for kind, name in rule.targets),
        "until": "closed" if rule.condition == Condition.NOT_CLOSED.value else "acknowledged",
    }


def _escalation_text(rule: RuleSpec) -> str:
    fields = _escalation_fields(rule)
    text = f"after {fields['after']} notify {fields['notify']}"
    return text + (" until closed" if fields["until"] == "closed" else "")


def _repeat_text(repeat: Repeat | None) -> str:
    if repeat is None:
        return NO_REPEAT
    extra = [
        ", resetting acknowledgement" if repeat.reset_acknowledgement else "",
        ", closing after the last" if repeat.close_after_last else "",
    ]
    return f"'after {_duration_text(repeat.after)}, {repeat.times} more times{''.join(extra)}'"


def _routing_change(spec: RoutingSpec, path: str, before: RoutingSpec) -> Change | None:
    if spec == before:
        return None
    step = Step(path, functools.partial(TocsinClient.set_routing, spec=spec))
    if before == RoutingSpec(before.team):  # a team without routing has this one
        return Change((f"+ routing {spec.team}",), (step,))
    lines = []
    if before.time_zone != spec.time_zone:
        lines.append(f"time_zone {before.time_zone} -> {spec.time_zone}")
    for i, (old_rule, new_rule) in enumerate(zip(before.rules, spec.rules, strict=False)):
        a, b = _routing_fields(old_rule), _routing_fields(new_rule)
        lines.extend(f"rules[{i}].{key} {a[key]} -> {b[key]}" for key in a if a[key] != b[key])
    for i, rule in enumerate(spec.rules[len(before.rules) :], len(before.rules)):
        lines.append(f"+ rules[{i}] {_routing_text(rule)}")
    for i, rule in enumerate(before.rules[len(spec.rules) :], len(spec.rules)):
        lines.append(f"- rules[{i}] {_routing_text(rule)}")
    for key, old, new in (
        ("default_policy", before.default_policy, spec.default_policy),
        ("default_schedule", before.default_schedule, spec.default_schedule),
    ):
        if old != new:
            lines.append(f"{key} {old or 'none'} -> {new or 'none'}")
    return Change(tuple(f"~ routing {before.team}: {line}" for line in lines), (step,))


def _routing_fields(rule: RoutingRuleSpec) -> dict[str, str]:
    return {
        "name": _show(rule.name),
        "policy": rule.policy,
        "when": json.dumps(rule.when, sort_keys=True) if rule.when else "always",
        "windows": repr(", ".join(rule.windows)) if rule.windows else "always",
    }


def _routing_text(rule: RoutingRuleSpec) -> str:
    fields = _routing_fields(rule)
    text = f"{fields['name']} -> {fields['policy']}"
    if rule.when:
        text += f" when {fields['when']}"
    return text + (f" during {fields['windows']}" if rule.windows else "")


# Applying


async def apply(
    client: TocsinClient, plan: Plan, show: Callable[[object], None] | None = None
) -> None:
    """Makes the plan's changes, in order, passing what a step shows to `show` at once. A
    refusal is reported with the path in the file of what was refused; the changes before it
    stay made, and re-applying finishes."""
    made = 0
    for change in plan.changes:
        for step in change.steps:
            try:
                result = await step.call(client)
            except (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition) as exc:
                path, problem = step.path, str(exc)
                if isinstance(exc, InvalidArgument) and exc.field != "request":
                    where = step.field_path(exc.field) if step.field_path else exc.field
                    path, problem = f"{path}.{where}", exc.rule
                if made:
                    problem += " (the changes before it were made; fix this and apply again)"
                raise ManifestError(plan.file, path, problem) from None
            made += 1
            if step.shown and show is not None:
                show(result)


# Exporting


def document(state: State) -> dict[str, object]:
    """The state in the file's format: applying it to the same server changes nothing."""
    return {
        "teams": [_team_doc(t, state.members.get(key, ())) for key, t in state.teams.items()],
        "users": [_user_doc(u) for u in state.users.values()],
        "schedules": [
            _schedule_doc(s, state.overrides.get(key, ())) for key, s in state.schedules.items()
        ],
        "policies": [_policy_doc(p) for p in state.policies.values()],
        "routing": [
            _routing_doc(r) for r in state.routing.values() if r != RoutingSpec(r.team)
        ],  # a team without routing has none to write
        "integrations": [manifest_integrations.document(i) for i in state.integrations.values()],
    }


async def export(client: TocsinClient) -> str:
    """Everything on the server as a file for `apply`."""
    text = yaml.safe_dump(
        document(await fetch(client)),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,  # block style, with lists of plain values on one line
        width=100,
    )
    return (
        "# Tocsin teams, users, schedules, policies, routing, integrations (without their keys):"
        " `tocsin apply -f FILE` to match.\n" + text
    )


def _team_doc(team: Team, members: Sequence[TeamMember]) -> dict[str, object]:
    return {
        "name": team.name,
        "description": team.description,
        "members": [{"user": m.username, "role": m.role.value} for m in members],
    }


def _user_doc(user: User) -> dict[str, object]:
    rules = {
        kind: _rule_doc(rule)
        for kind in RULE_KINDS
        if (rule := getattr(user.notification_rules, kind)) is not None
    }
    return {
        "username": user.username,
        "full_name": user.full_name,
        "time_zone": user.time_zone,
        "role": user.role.value,
        "contact_methods": [
            {"name": m.name, "channel": m.channel.value, "address": m.address}
            for m in user.contact_methods
        ],
        "notification_rules": rules,
    }


def _rule_doc(rule: NotificationRule) -> dict[str, object]:
    doc: dict[str, object] = {
        "steps": [
            {"contact_method": s.contact_method, "after_minutes": s.delay_minutes}
            for s in rule.steps
        ]
    }
    if rule.repeat_minutes or rule.repeat_times:
        doc.update(repeat_minutes=rule.repeat_minutes, repeat_times=rule.repeat_times)
    return doc


def _schedule_doc(schedule: Schedule, overrides: Sequence[Override]) -> dict[str, object]:
    tz = zone(schedule.time_zone)
    return {
        "name": schedule.name,
        "team": schedule.team_id,  # the client gives the team's name here
        "time_zone": schedule.time_zone,
        "description": schedule.description,
        "rotations": [_rotation_doc(r, tz) for r in schedule.rotations],
        "overrides": [
            {"user": o.user, "start": _stamp(o.start, tz), "end": _stamp(o.end, tz)}
            | ({"rotation": o.rotation} if o.rotation else {})
            for o in sorted(overrides, key=lambda o: (o.start, o.end, o.user))
        ],
    }


def _rotation_doc(rotation: Rotation, tz: ZoneInfo) -> dict[str, object]:
    doc: dict[str, object] = {"name": rotation.name, "type": rotation.kind}
    if rotation.kind == CUSTOM:
        doc.update(length=rotation.length, unit=rotation.unit.value)
    doc["start"] = _stamp(rotation.start, tz)
    if rotation.end is not None:
        doc["end"] = _stamp(rotation.end, tz)
    doc["participants"] = [u or EMPTY_SLOT for u in rotation.current_users]
    if rotation.restrictions:
        doc["restrictions"] = [r.describe() for r in rotation.restrictions]
    return doc


def _policy_doc(policy: PolicySpec) -> dict[str, object]:
    rules: list[dict[str, object]] = []
    for rule in policy.rules:
        doc: dict[str, object] = {
            "after": _duration_text(rule.delay),
            "notify": [f"{kind}:{name}" for kind, name in rule.targets],
        }
        if rule.condition == Condition.NOT_CLOSED.value:
            doc["until"] = "closed"
        rules.append(doc)
    repeat: object = NO_REPEAT
    if policy.repeat is not None:
        repeat = {
            "after": _duration_text(policy.repeat.after),
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


def _routing_doc(routing: RoutingSpec) -> dict[str, object]:
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
