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

from dataclasses import dataclass

from clients.cli.arguments import UsageError
from clients.manifest import fields, integrations, policies, routing, schedules, teams, users
from clients.manifest.integrations import IntegrationDecl
from clients.manifest.policies import PolicyDecl
from clients.manifest.routing import RoutingDecl
from clients.manifest.schedules import ScheduleDecl
from clients.manifest.teams import TeamDecl
from clients.manifest.users import UserDecl
from service.core import loader
from service.core.errors import InvalidArgument, TocsinError
from service.escalation.usecases import RoutingSpec


class ManifestError(TocsinError):
    """A problem with the file, or the server refusing part of it: names the file, the path
    in it and the problem, e.g. `oncall.yaml: schedules[0].time_zone: is required`."""

    def __init__(self, file: str, path: str, problem: str) -> None:
        super().__init__(f"{file}: {path}: {problem}" if path else f"{file}: {problem}")


class FileError(ManifestError, UsageError):
    """A problem the file has by itself, found before any call (a time that does not exist,
    an unknown key): a usage mistake, as a mistyped option is."""


@dataclass(frozen=True)
class Manifest:
    """What the file declares, section by section."""

    file: str
    teams: tuple[TeamDecl, ...] = ()
    users: tuple[UserDecl, ...] = ()
    schedules: tuple[ScheduleDecl, ...] = ()
    policies: tuple[PolicyDecl, ...] = ()
    routing: tuple[RoutingDecl, ...] = ()
    integrations: tuple[IntegrationDecl, ...] = ()
    kinds: frozenset[str] = frozenset()  # the top-level keys given a list, even `[]`


KINDS = ("teams", "users", "schedules", "policies", "routing", "integrations")


def parse(text: str, file: str) -> Manifest:
    """The file's declarations; refuses the first problem, naming its path."""
    try:
        data = loader.yaml_document("", text)
    except InvalidArgument as exc:
        raise FileError(file, "", exc.rule) from None
    try:
        root = fields.keys({} if data is None else data, "", (), KINDS)
        declared = Manifest(
            file,
            fields.listed(root.get("teams"), "teams", teams.read),
            fields.listed(root.get("users"), "users", users.read),
            fields.listed(root.get("schedules"), "schedules", schedules.read),
            fields.listed(root.get("policies"), "policies", policies.read),
            fields.listed(root.get("routing"), "routing", routing.read),
            fields.listed(root.get("integrations"), "integrations", integrations.read),
            frozenset(kind for kind in KINDS if isinstance(root.get(kind), list)),
        )
        fields.unique([t.name for t in declared.teams], "teams", "name")
        fields.unique([u.username for u in declared.users], "users", "username")
        fields.unique([s.name for s in declared.schedules], "schedules", "name")
        fields.unique([p.name for p in declared.policies], "policies", "name")
        fields.unique([r.team for r in declared.routing], "routing", "team")
        fields.unique([i.name for i in declared.integrations], "integrations", "name")
    except InvalidArgument as exc:
        raise FileError(file, exc.field, exc.rule) from None
    return declared


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
        decl = routing.read(entry, "")
    except InvalidArgument as exc:
        raise FileError(file, exc.field, exc.rule) from None
    return RoutingSpec(
        team,
        decl.time_zone or "UTC",
        decl.rules or (),
        decl.default_policy or "",
        decl.default_schedule or "",
    )
