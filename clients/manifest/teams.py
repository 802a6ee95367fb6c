"""Teams in the manifest, and their members: read from the file, planned against the
server, and written out by an export. A team's description cannot be changed through the
API, so a differing one is a warning, not a change."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from clients.client import TocsinClient
from clients.manifest import fields
from clients.manifest.changes import PlannedCall, PlannedChange, known, show
from service.core.errors import InvalidArgument
from service.people.model import MemberRole, TeamMember
from service.teams.model import Team


@dataclass(frozen=True)
class TeamDecl:
    """What the file declares; None is a key it leaves out (or gives no value)."""

    name: str
    description: str | None = None
    members: tuple[TeamMember, ...] | None = None  # user_id unused


def read(value: object, path: str) -> TeamDecl:
    found = fields.keys(value, path, ("name",), ("description", "members"))
    return TeamDecl(
        fields.name(found["name"], f"{path}.name"),
        fields.optional(found, "description", path, fields.description),
        fields.optional(found, "members", path, _members),
    )


def _members(value: object, path: str) -> tuple[TeamMember, ...]:
    members = fields.listed(value, path, _member)
    fields.unique([m.username for m in members], path, "user")
    return members


def _member(value: object, path: str) -> TeamMember:
    found = fields.keys(value, path, ("user",), ("role",))
    role = fields.text(found.get("role") or MemberRole.MEMBER.value, f"{path}.role")
    try:
        member_role = MemberRole(role)
    except ValueError:
        raise InvalidArgument(f"{path}.role", f"must be admin or member (got {role!r})") from None
    return TeamMember("", fields.text(found["user"], f"{path}.user"), member_role)


def changes(
    decls: Sequence[TeamDecl], current: Mapping[str, Team]
) -> tuple[list[PlannedChange], list[str]]:
    """The teams to create, and the warnings for descriptions apply cannot change."""
    out: list[PlannedChange] = []
    warnings: list[str] = []
    for i, team in enumerate(decls):
        now = current.get(team.name.lower())
        if now is None:
            create = functools.partial(
                TocsinClient.create_team, name=team.name, description=team.description or ""
            )
            out.append(
                PlannedChange((f"+ team {team.name}",), (PlannedCall(f"teams[{i}]", create),))
            )
        elif team.description is not None and team.description != now.description:
            warnings.append(
                f"teams[{i}].description: differs from team {now.name}'s "
                f"({show(now.description)}), which apply cannot change"
            )
    return out, warnings


def member_changes(
    members: Sequence[TeamMember],
    path: str,
    team: str,
    current: Sequence[TeamMember],
    users: Mapping[str, str],
) -> list[PlannedChange]:
    """What makes the team's members exactly `members`."""
    have = {m.username.lower(): m for m in current}
    out = []
    for j, member in enumerate(members):
        where = f"{path}.members[{j}]"
        user = known(users, member.username, f"{where}.user", "user")
        role = member.role.value
        call = functools.partial(TocsinClient.set_team_member, team=team, user=user, role=role)
        old = have.get(user.lower())
        if old is None:
            out.append(
                PlannedChange(
                    (f"+ team {team}: member {user} ({role})",), (PlannedCall(where, call),)
                )
            )
        elif old.role is not member.role:
            line = f"~ team {team}: member {user} role {old.role.value} -> {role}"
            out.append(PlannedChange((line,), (PlannedCall(where, call),)))
    wanted = {m.username.lower() for m in members}
    for old in current:
        if old.username.lower() not in wanted:
            remove = functools.partial(
                TocsinClient.remove_team_member, team=team, user=old.username
            )
            step = PlannedCall(f"{path}.members", remove)
            out.append(PlannedChange((f"- team {team}: member {old.username}",), (step,)))
    return out


def document(team: Team, members: Sequence[TeamMember]) -> dict[str, object]:
    return {
        "name": team.name,
        "description": team.description,
        "members": [{"user": m.username, "role": m.role.value} for m in members],
    }
