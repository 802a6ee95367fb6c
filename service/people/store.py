"""The people's port: users, and whom each team counts as its members."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from service.people.model import MemberRole, TeamMember, User


class PeopleStore(Protocol):
    async def create_user(self, user: User) -> User:
        """Refuses a username taken in any case."""

    async def get_user(self, user: str) -> User:
        """By id or by username (case-insensitive)."""

    async def list_users(self) -> Sequence[User]: ...

    async def update_user(self, user: str, step: Callable[[User], User]) -> User:
        """Runs `step` on the user as stored and saves what it returns, atomically."""

    async def delete_user(self, user: str, now: datetime) -> None:
        """Refuses a user named in any schedule's rotations or overrides, saying whether
        they are there now (or to come), or only in what has been."""

    async def set_team_member(self, team: str, user: str, role: MemberRole) -> TeamMember: ...

    async def remove_team_member(self, team: str, user: str) -> None: ...

    async def list_team_members(self, team: str) -> Sequence[TeamMember]: ...
