"""`tocsin apply --prune`: deleting what the file leaves out, of the kinds it lists.

Only the kinds the file gives a list for (`users: []` included) are pruned, so a file of
schedules never deletes a user. The `default` team, tokens and overrides are never deleted.
Everything is checked before the first change: whatever stays (the file's objects, and the
server's of the kinds the file does not list) must not name what prune would delete, and a
team with alerts, which are kept, cannot go. The deletions come after every other change (so
an updated policy no longer pages the user it deletes, and an integration has moved off the
team it deletes), in dependency order: routing, integrations, policies, schedules, users,
teams. What only the server can judge, such as a user who has been on call (whom the
schedule's history keeps), is refused when apply reaches it, with the server's reason.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clients.client import TocsinClient
from clients.manifest.changes import PlannedCall, PlannedChange
from service.alerts.model import AlertFilter, AlertQuery
from service.core.errors import FailedPrecondition, InvalidArgument, NotFound
from service.escalation.usecases import RoutingSpec
from service.people.model import EMPTY_SLOT
from service.teams.model import DEFAULT_TEAM, Team

if TYPE_CHECKING:  # the state is fetched with what prune asks of the server
    from clients.manifest.schema import Manifest
    from clients.manifest.state import State

ORDER = ("routing", "integrations", "policies", "schedules", "users", "teams")
ONE = {
    "routing": "routing",
    "integrations": "integration",
    "policies": "policy",
    "schedules": "schedule",
    "users": "user",
    "teams": "team",
}


def _default(team: Team) -> bool:
    """The team every server has (its id stays `default` when it is renamed)."""
    return DEFAULT_TEAM in (team.id, team.name.lower())


def _listed(manifest: Manifest, kind: str) -> set[str]:
    names = {
        "teams": [t.name for t in manifest.teams],
        "users": [u.username for u in manifest.users],
        "schedules": [s.name for s in manifest.schedules],
        "policies": [p.name for p in manifest.policies],
        "routing": [r.team for r in manifest.routing],
        "integrations": [i.name for i in manifest.integrations],
    }[kind]
    return {name.lower() for name in names}


def _candidate_teams(manifest: Manifest, teams: Mapping[str, Team]) -> dict[str, str]:
    if "teams" not in manifest.kinds:
        return {}
    listed = _listed(manifest, "teams")
    return {
        key: team.name for key, team in teams.items() if key not in listed and not _default(team)
    }


async def alerted_teams(
    client: TocsinClient, manifest: Manifest, teams: Mapping[str, Team]
) -> frozenset[str]:
    """Of the teams prune would delete, those with alerts (open or closed)."""
    found = set()
    for key, name in _candidate_teams(manifest, teams).items():
        page = await client.list_alerts(AlertQuery(AlertFilter(team=name), page_size=1))
        if page.items:
            found.add(key)
    return frozenset(found)


@dataclass(frozen=True)
class _Ref:
    """Something that stays naming an object: `where` is a path in the file, or, for what
    the file does not list, a description of the holder (`path` False)."""

    kind: str
    name: str
    where: str
    path: bool = True


def _doomed(manifest: Manifest, state: State) -> dict[str, dict[str, str]]:
    """What prune deletes, by kind: lower-cased name to the server's name."""
    server = {
        "users": {k: u.username for k, u in state.users.items()},
        "schedules": {k: s.name for k, s in state.schedules.items()},
        "policies": {k: p.name for k, p in state.policies.items()},
        "integrations": {k: i.integration.name for k, i in state.integrations.items()},
    }
    doomed: dict[str, dict[str, str]] = {kind: {} for kind in ORDER}
    doomed["teams"] = _candidate_teams(manifest, state.teams)
    for kind, names in server.items():
        if kind in manifest.kinds:
            listed = _listed(manifest, kind)
            doomed[kind] = {k: name for k, name in names.items() if k not in listed}
    routed = _listed(manifest, "routing") if "routing" in manifest.kinds else None
    doomed["routing"] = {
        key: state.teams[key].name
        for key, routing in state.routing.items()
        if routing != RoutingSpec(routing.team)
        and (key in doomed["teams"] or (routed is not None and key not in routed))
    }
    return doomed


def _stays(manifest: Manifest, kind: str, name: str) -> str | None:
    """For a server object of `kind` the file does not list, whether it stays: a description
    of it then."""
    if kind in manifest.kinds or name.lower() in _listed(manifest, kind):
        return None
    return f"{ONE[kind]} {name}, which the file does not list,"


def _refs(manifest: Manifest, state: State, cleared: Mapping[str, str]) -> Iterator[_Ref]:
    """What stays, and what it names; `cleared`: the teams whose routing prune clears."""
    for i, team in enumerate(manifest.teams):
        for j, member in enumerate(team.members or ()):
            yield _Ref("users", member.username, f"teams[{i}].members[{j}].user")
    yield from _schedule_refs(manifest, state)
    yield from _policy_refs(manifest, state)
    yield from _routing_refs(manifest, state, cleared)
    yield from _integration_refs(manifest, state)


def _integration_refs(manifest: Manifest, state: State) -> Iterator[_Ref]:
    """The teams integrations have once apply has moved them: the file's, else the server's."""
    for i, decl in enumerate(manifest.integrations):
        found = state.integrations.get(decl.name.lower())
        now = found.integration if found else None
        for key, name, held in (
            ("team", decl.team, now.owner_team if now else None),
            ("assignee_team", decl.assignee_team, now.assignee_team if now else None),
        ):
            if name is not None:
                yield _Ref("teams", name, f"integrations[{i}].{key}")
            elif held:  # kept: the file leaves it out
                yield _Ref("teams", held, f"integrations[{i}]")
    for found in state.integrations.values():
        if (held := _stays(manifest, "integrations", found.integration.name)) is not None:
            yield _Ref("teams", found.integration.owner_team, held, path=False)
            yield _Ref("teams", found.integration.assignee_team, held, path=False)


def _team_ref(declared: str | None, kept: str, path: str) -> _Ref:
    """The team a schedule or policy at `path` has once applied: the file's, else the one it
    keeps (the server's, or the default team for a new one)."""
    if declared is not None:
        return _Ref("teams", declared, f"{path}.team")
    return _Ref("teams", kept, path)


def _schedule_refs(manifest: Manifest, state: State) -> Iterator[_Ref]:
    for i, schedule in enumerate(manifest.schedules):
        now = state.schedules.get(schedule.name.lower())
        path = f"schedules[{i}]"
        yield _team_ref(schedule.team, now.team_id if now else DEFAULT_TEAM, path)
        if schedule.rotations is not None:
            for j, spec in enumerate(schedule.rotations):
                for k, user in enumerate(spec.participants):
                    if user != EMPTY_SLOT:
                        yield _Ref("users", user, f"{path}.rotations[{j}].participants[{k}]")
        elif now is not None:
            for j, rotation in enumerate(now.rotations):
                for user in filter(None, rotation.current_users):
                    yield _Ref("users", user, f"{path}.rotations[{j}]")
        for j, override in enumerate(schedule.overrides):
            yield _Ref("users", override.user, f"{path}.overrides[{j}].user")
    for server in state.schedules.values():
        if (held := _stays(manifest, "schedules", server.name)) is not None:
            yield _Ref("teams", server.team_id, held, path=False)
            for rotation in server.rotations:
                for user in filter(None, rotation.current_users):
                    yield _Ref("users", user, held, path=False)


def _target(kind: str) -> str:
    """What a policy's target kind names: `schedule-next` a schedule, `team-members` a team."""
    return f"{kind.split('-')[0]}s"


def _policy_refs(manifest: Manifest, state: State) -> Iterator[_Ref]:
    for i, policy in enumerate(manifest.policies):
        now = state.policies.get(policy.name.lower())
        path = f"policies[{i}]"
        yield _team_ref(policy.team, now.team if now else DEFAULT_TEAM, path)
        rules = policy.rules if policy.rules is not None else now.rules if now else ()
        for j, rule in enumerate(rules):
            for k, (kind, name) in enumerate(rule.targets):
                yield _Ref(_target(kind), name, f"{path}.rules[{j}].notify[{k}]")
    for spec in state.policies.values():
        if (held := _stays(manifest, "policies", spec.name)) is not None:
            yield _Ref("teams", spec.team, held, path=False)
            for rule in spec.rules:
                for kind, name in rule.targets:
                    yield _Ref(_target(kind), name, held, path=False)


def _routing_refs(manifest: Manifest, state: State, cleared: Mapping[str, str]) -> Iterator[_Ref]:
    for i, routing in enumerate(manifest.routing):
        path = f"routing[{i}]"
        yield _Ref("teams", routing.team, f"{path}.team")
        for j, rule in enumerate(routing.rules or ()):
            yield _Ref("policies", rule.policy, f"{path}.rules[{j}].policy")
        if routing.default_policy:
            yield _Ref("policies", routing.default_policy, f"{path}.default_policy")
        if routing.default_schedule:
            yield _Ref("schedules", routing.default_schedule, f"{path}.default_schedule")
    listed = _listed(manifest, "routing")
    for key, spec in state.routing.items():
        if key in listed or key in cleared:  # in the file, or going with prune or its team
            continue
        held = f"team {spec.team}'s routing, which the file does not list,"
        names = [("policies", r.policy) for r in spec.rules]
        names += [("policies", spec.default_policy), ("schedules", spec.default_schedule)]
        yield from (_Ref(kind, name, held, path=False) for kind, name in names if name)


def deletions(manifest: Manifest, state: State) -> list[PlannedChange]:
    """The deletions, in the order the server accepts them; refuses a prune that cannot
    finish (see the module's docstring)."""
    doomed = _doomed(manifest, state)
    _check(manifest, state, doomed)
    return [
        PlannedChange(
            (f"- delete {ONE[kind]} {name}",),
            (PlannedCall(kind, functools.partial(_delete, kind=kind, name=name)),),
        )
        for kind in ORDER
        for name in doomed[kind].values()
    ]


async def _delete(client: TocsinClient, kind: str, name: str) -> None:
    deletes = {
        "integrations": client.delete_integration,
        "policies": client.delete_policy,
        "schedules": client.delete_schedule,
        "users": client.delete_user,
        "teams": client.delete_team,
    }
    try:
        if kind == "routing":
            await client.set_routing(RoutingSpec(name))
        else:
            await deletes[kind](name)
    except NotFound:  # gone already, as prune wants
        return
    except FailedPrecondition as exc:
        raise FailedPrecondition(
            f"--prune cannot delete {ONE[kind]} {name}: {exc}; or list it in the file"
        ) from None


def _check(manifest: Manifest, state: State, doomed: Mapping[str, Mapping[str, str]]) -> None:
    """Refuses a prune that would delete what stays names, or a team with alerts."""
    for ref in _refs(manifest, state, doomed["routing"]):
        name = doomed.get(ref.kind, {}).get(ref.name.lower())
        if name is None:
            continue
        what = ONE[ref.kind]
        if ref.path:
            raise InvalidArgument(
                ref.where,
                f"names {what} {name!r}, which is not in the file's {ref.kind}, so --prune "
                "would delete it: list it there",
            )
        raise InvalidArgument(
            ref.kind,
            f"--prune would delete {what} {name!r}, which the file does not list, but "
            f"{ref.where} names it: list it in the file",
        )
    alerted = sorted(state.alerted_teams & doomed["teams"].keys())
    if alerted:
        raise InvalidArgument(
            "teams",
            f"--prune cannot delete team {doomed['teams'][alerted[0]]!r}: it has alerts, which are "
            "kept: list it in the file",
        )
