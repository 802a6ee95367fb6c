"""The server's side of config as code: what it holds of what a manifest declares, fetched
before anything is planned, so that every check sees one state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from clients.client import TocsinClient
from clients.manifest import integrations as manifest_integrations
from clients.manifest import prune as manifest_prune
from clients.manifest.schema import Manifest
from service.escalation.usecases import PolicySpec, RoutingSpec
from service.oncall.model import Override, Schedule
from service.people.model import TeamMember, User
from service.teams.model import Team


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
