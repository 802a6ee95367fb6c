"""The teams' port: the teams that own alerts, integrations, schedules and policies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from service.teams.model import Team


class TeamStore(Protocol):
    async def create_team(
        self, name: str, description: str, now: datetime, new_id: str
    ) -> Team: ...

    async def list_teams(self) -> Sequence[Team]: ...

    async def get_team(self, team: str) -> Team:
        """By id or by name (case-insensitive)."""

    async def rename_team(self, team: str, new_name: str) -> Team: ...

    async def delete_team(self, team: str) -> None:
        """Refuses the default team and any team that still owns something."""
