"""Team use cases: names are checked here, uniqueness is the store's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from service.core import validation
from service.core.clock import Clock
from service.core.errors import InvalidArgument
from service.core.ids import new_uuid
from service.people.model import MemberRole, TeamMember
from service.people.store import PeopleStore
from service.teams.model import Team
from service.teams.store import TeamStore


class TeamsPorts(TeamStore, PeopleStore, Protocol):
    """What `Teams` reads and writes: teams, and the users who are their members."""


class Teams:
    def __init__(
        self, store: TeamsPorts, clock: Clock, new_id: Callable[[], str] = new_uuid
    ) -> None:
        self._store = store
        self._clock = clock
        self._new_id = new_id

    async def create(self, name: str, description: str) -> Team:
        validation.object_name(name)
        validation.team_description(description)
        return await self._store.create_team(name, description, self._clock.now(), self._new_id())

    async def list(self) -> Sequence[Team]:
        return await self._store.list_teams()

    async def get(self, team: str) -> Team:
        validation.reference("team", team)
        return await self._store.get_team(team)

    async def rename(self, team: str, new_name: str) -> Team:
        validation.reference("team", team)
        validation.object_name(new_name, "new_name")
        return await self._store.rename_team(team, new_name)

    async def delete(self, team: str) -> None:
        validation.reference("team", team)
        await self._store.delete_team(team)

    async def set_member(self, team: str, user: str, role: str) -> TeamMember:
        """Adds the user to the team, or changes their role there."""
        validation.reference("team", team)
        validation.reference("user", user)
        try:
            member_role = MemberRole(role or MemberRole.MEMBER.value)
        except ValueError:
            choices = ", ".join(r.value for r in MemberRole)
            raise InvalidArgument("role", f"must be one of {choices} (got {role!r})") from None
        return await self._store.set_team_member(team, user, member_role)

    async def remove_member(self, team: str, user: str) -> None:
        validation.reference("team", team)
        validation.reference("user", user)
        await self._store.remove_team_member(team, user)

    async def members(self, team: str) -> Sequence[TeamMember]:
        validation.reference("team", team)
        return await self._store.list_team_members(team)
