"""The SQL of an alert's responders: what each names, read in the transaction that creates
the alert, so the escalation snapshots them with its policy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from service.alerts.model import Responder
from service.core.database import Db
from service.escalation import documents as escalation_documents
from service.escalation.model import Policy, Target, TargetKind


@dataclass(frozen=True)
class Responders:
    """An alert's responders as the database knows them: users, teams and schedules as
    targets, escalation policies whole, and those it does not know ("type:name")."""

    targets: tuple[Target, ...]
    policies: tuple[Policy, ...]
    missing: tuple[str, ...]
    missing_at: tuple[int, ...]  # their indexes in the alert's responders


_RESPONDER_TABLES = {
    "user": (TargetKind.USER, "users"),
    "team": (TargetKind.TEAM, "teams"),
    "schedule": (TargetKind.SCHEDULE, "schedules"),
    "escalation": (None, "escalation_policies"),
}


def resolve_responders(conn: Db, responders: Sequence[Responder]) -> Responders:
    targets: list[Target] = []
    policies: list[Policy] = []
    missing: list[str] = []
    missing_at: list[int] = []
    for index, responder in enumerate(responders):
        kind, table = _RESPONDER_TABLES.get(responder.type, (None, ""))
        row = None
        if table:
            # By id first, then by name: two indexed look-ups, as everywhere else.
            row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (responder.name,)).fetchone()
            if row is None:
                row = conn.execute(
                    f"SELECT * FROM {table} WHERE name_key = ?"
                    if table != "users"
                    else "SELECT * FROM users WHERE username_key = ?",
                    (responder.name.lower(),),
                ).fetchone()
        if row is None:
            missing.append(f"{responder.type}:{responder.name}")
            missing_at.append(index)
        elif kind is None:
            policies.append(escalation_documents.policy(row["document"]))
        else:
            targets.append(Target(kind, row["id"], responder.name))
    return Responders(tuple(targets), tuple(policies), tuple(missing), tuple(missing_at))


def people(conn: Db, user_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
    """By user id: the username, and whether they have a contact method to be paged at."""
    if not user_ids:
        return {}
    marks = ", ".join("?" * len(user_ids))
    rows = conn.execute(
        f"SELECT id, username, contact_methods FROM users WHERE id IN ({marks})", user_ids
    )
    return {row["id"]: (row["username"], bool(json.loads(row["contact_methods"]))) for row in rows}
