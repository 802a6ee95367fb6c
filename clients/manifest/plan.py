"""Planning config as code: what differs between the manifest and the server's state, and
the calls that make the server match, in an order it accepts. Pure: no I/O; everything is
checked before the first call is made."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clients.manifest import integrations, policies, routing, schedules, teams, users
from clients.manifest import prune as manifest_prune
from clients.manifest.changes import PlannedChange
from clients.manifest.schema import Manifest, ManifestError
from clients.manifest.state import State
from service.core.errors import InvalidArgument


@dataclass(frozen=True)
class Plan:
    file: str
    changes: tuple[PlannedChange, ...] = ()
    # What differs but apply cannot change; not changes, so a re-apply still says so.
    warnings: tuple[str, ...] = ()

    @property
    def lines(self) -> list[str]:
        return [line for change in self.changes for line in change.lines]


@dataclass(frozen=True)
class _Names:
    """Canonical names by lower-cased name, of the file and the server."""

    users: dict[str, str]
    teams: dict[str, str]


def plan(manifest: Manifest, state: State, *, prune: bool = False) -> Plan:
    """Every change that makes the server match the file, in an order the server accepts;
    with `prune`, then the deletions of what the file leaves out, of the kinds it lists.
    Checks what needs the server's state first: references to users, teams, schedules and
    policies that exist in neither the file nor the server (or that prune would delete),
    rotations, rules against contact methods, and that routing names only its own team's
    policies and schedule."""
    names = _Names(
        _names((u.username for u in manifest.users), (u.username for u in state.users.values())),
        _names((t.name for t in manifest.teams), (t.name for t in state.teams.values())),
    )
    try:
        created, warnings = teams.changes(manifest.teams, state.teams)
        changes: list[PlannedChange | None] = [*created]
        changes.extend(_people_changes(manifest, state, names))
        changes.extend(_schedule_changes(manifest, state, names))
        changes.extend(_escalation_changes(manifest, state, names))
        changes.extend(integrations.changes(manifest.integrations, state.integrations, names.teams))
        if prune:
            changes.extend(manifest_prune.deletions(manifest, state))
    except InvalidArgument as exc:
        raise ManifestError(manifest.file, exc.field, exc.rule) from None
    return Plan(manifest.file, tuple(c for c in changes if c is not None), tuple(warnings))


def _names(declared: Iterable[str], held: Iterable[str]) -> dict[str, str]:
    """By lower-cased name, the name as the server spells it, else as the file does."""
    names = {name.lower(): name for name in declared}
    names.update({name.lower(): name for name in held})
    return names


def _people_changes(manifest: Manifest, state: State, names: _Names) -> list[PlannedChange | None]:
    """The users' changes, then the team members': a new user joins a team once made."""
    changes: list[PlannedChange | None] = []
    for i, user in enumerate(manifest.users):
        current = state.users.get(user.username.lower())
        changes.append(users.change(user, f"users[{i}]", current))
    for i, team in enumerate(manifest.teams):
        if team.members is not None:
            key = team.name.lower()
            have = state.members.get(key, ())
            path, name = f"teams[{i}]", names.teams[key]
            changes.extend(teams.member_changes(team.members, path, name, have, names.users))
    return changes


def _schedule_changes(
    manifest: Manifest, state: State, names: _Names
) -> list[PlannedChange | None]:
    """The schedules' changes, then their overrides': an override names a rotation."""
    changes: list[PlannedChange | None] = []
    for i, schedule in enumerate(manifest.schedules):
        current = state.schedules.get(schedule.name.lower())
        path = f"schedules[{i}]"
        changes.append(schedules.change(schedule, path, current, names.users, names.teams))
    for i, schedule in enumerate(manifest.schedules):
        key = schedule.name.lower()
        current, have = state.schedules.get(key), state.overrides.get(key, ())
        path = f"schedules[{i}]"
        changes.extend(schedules.override_changes(schedule, path, current, have, names.users))
    return changes


def _escalation_changes(
    manifest: Manifest, state: State, names: _Names
) -> list[PlannedChange | None]:
    """The policies' changes, then the routing's: a routing may name only the policies and the
    schedule of its own team, as they will be once the file is applied."""
    owned_schedules = _owned_schedules(manifest, state, names)
    targets = {"user": names.users, "schedule": owned_schedules.names, "team": names.teams}
    policy_names = _names(
        (p.name for p in manifest.policies), (p.name for p in state.policies.values())
    )
    policy_teams = {key: p.team for key, p in state.policies.items()}
    changes: list[PlannedChange | None] = []
    for i, policy in enumerate(manifest.policies):
        current = state.policies.get(policy.name.lower())
        spec = policies.spec(policy, f"policies[{i}]", current, targets)
        policy_teams[policy.name.lower()] = spec.team
        changes.append(policies.change(spec, f"policies[{i}]", current))
    owned_policies = routing.Owned("policy", policy_names, policy_teams)
    for i, decl in enumerate(manifest.routing):
        changes.append(
            routing.change(
                decl, f"routing[{i}]", state.routing, names.teams, owned_policies, owned_schedules
            )
        )
    return changes


def _owned_schedules(manifest: Manifest, state: State, names: _Names) -> routing.Owned:
    """The schedules, and their teams once the file is applied."""
    known = _names((s.name for s in manifest.schedules), (s.name for s in state.schedules.values()))
    owners = {key: s.team_id for key, s in state.schedules.items()}  # team names
    for schedule in manifest.schedules:
        now = state.schedules.get(schedule.name.lower())
        team = schedule.team or (now.team_id if now else "default")
        owners[schedule.name.lower()] = names.teams.get(team.lower(), team)
    return routing.Owned("schedule", known, owners)
