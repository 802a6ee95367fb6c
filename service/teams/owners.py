"""The team a row names as its owner, found by id or by name: alerts, integrations and the
teams' own SQL all look teams up this one way, with the same refusal."""

from __future__ import annotations

from service.core.database import Db, Row
from service.core.errors import NotFound, shown


def team_row(conn: Db, team: str, field: str) -> Row:
    """By id first, then by name: two indexed look-ups beat one OR that scans."""
    row: Row | None = conn.execute("SELECT * FROM teams WHERE id = ?", (team,)).fetchone()
    if row is None:
        row = conn.execute("SELECT * FROM teams WHERE name_key = ?", (team.lower(),)).fetchone()
    if row is None:
        raise NotFound(f"{field}: no team named {shown(team)}")
    return row
