"""The team a row names as its owner, found by id or by name: alerts, integrations,
escalation and the teams' own SQL all look teams up this one way, with the same refusal."""

from __future__ import annotations

from service.core.database import Db, Row, row_by_id_or_name


def team_row(conn: Db, team: str, field: str) -> Row:
    return row_by_id_or_name(conn, "teams", "name_key", team, "team", field)
