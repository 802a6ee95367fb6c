"""The SQL of teams (see `service.core.database`).

A mixin of `SQLStore`, whose backends supply `_read` and `_write`. Deleting a team asks what
every other capability still keeps for it, so that is composed in `service.db.references`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from service.core.clock import from_micros, to_micros
from service.core.database import Db, IntegrityError, Row, Transactions
from service.core.errors import AlreadyExists, FailedPrecondition
from service.teams.model import DEFAULT_TEAM, Team
from service.teams.owners import team_row


class SQLTeams(Transactions):
    async def create_team(self, name: str, description: str, now: datetime, new_id: str) -> Team:
        def job(conn: Db) -> Team:
            try:
                conn.execute(
                    "INSERT INTO teams (id, name, name_key, description, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (new_id, name, name.lower(), description, to_micros(now)),
                )
            except IntegrityError as exc:
                raise AlreadyExists(f"a team named {name!r} already exists") from exc
            return Team(new_id, name, description, now)

        return await self._write(job)

    async def list_teams(self) -> Sequence[Team]:
        return await self._read(
            lambda conn: [_team(r) for r in conn.execute("SELECT * FROM teams ORDER BY name_key")]
        )

    async def get_team(self, team: str) -> Team:
        return await self._read(lambda conn: _team(team_row(conn, team, "team")))

    async def rename_team(self, team: str, new_name: str) -> Team:
        def job(conn: Db) -> Team:
            row = team_row(conn, team, "team")
            if row["id"] == DEFAULT_TEAM:
                raise FailedPrecondition("the default team cannot be renamed")
            try:
                conn.execute(
                    "UPDATE teams SET name = ?, name_key = ? WHERE id = ?",
                    (new_name, new_name.lower(), row["id"]),
                )
            except IntegrityError as exc:
                raise AlreadyExists(f"a team named {new_name!r} already exists") from exc
            return _team(team_row(conn, row["id"], "team"))

        return await self._write(job)


def _team(row: Row) -> Team:
    return Team(row["id"], row["name"], row["description"], from_micros(row["created_at"]))
