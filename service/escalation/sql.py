"""The SQL of escalation: what policies and team routing refer to (see
`service.core.database`)."""

from __future__ import annotations

from service.core.database import Db
from service.core.errors import FailedPrecondition
from service.escalation import documents as escalation_documents


def refuse_if_paged(conn: Db, ref_id: str, what: str) -> None:
    """Refuses to delete what an escalation policy pages, or what a team's routing names as
    its on-call schedule: alerts would otherwise page nobody, without a word."""
    policies = [
        r["name"]
        for r in conn.execute("SELECT name, document FROM escalation_policies ORDER BY name_key")
        if any(
            t.ref == ref_id
            for rule in escalation_documents.policy(r["document"]).rules
            for t in rule.targets
        )
    ]
    routings = routing_teams(conn, ref_id)
    if policies:
        raise FailedPrecondition(
            f"{what} is paged by escalation policy {', '.join(policies)}: change those first"
        )
    if routings:
        raise FailedPrecondition(
            f"{what} is the on-call schedule of team {', '.join(routings)}'s routing: "
            "change that first"
        )


def routing_teams(conn: Db, schedule_id: str) -> list[str]:
    """The teams whose routing names the schedule as their on-call schedule."""
    return [
        r["name"]
        for r in conn.execute(
            "SELECT t.name, r.team_id, r.document FROM team_routing r "
            "JOIN teams t ON t.id = r.team_id ORDER BY t.name_key"
        )
        if escalation_documents.routing(r["team_id"], r["document"]).default_schedule_id
        == schedule_id
    ]
