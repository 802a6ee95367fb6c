"""Writes of what other capabilities refer to: deleting a team, a user or a schedule, and
changing a schedule (which may move it to another team), look across teams, people, on-call
and escalation in one transaction, so they live above those capabilities, beside the store
that composes them.

Each locks its row first (`lock_referenced`) and runs as a claim, so that an edit naming the
row either waits for it or is waited for; see `service.core.database.hold_references`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from service.core.clock import to_micros
from service.core.database import Db, IntegrityError, Transactions, hold_references, lock_referenced
from service.core.errors import AlreadyExists, FailedPrecondition
from service.escalation.sql import refuse_if_paged, routing_teams
from service.oncall import documents as oncall_documents
from service.oncall.model import Schedule, continued
from service.oncall.sql import (
    SCHEDULE_COLUMNS,
    schedule_columns,
    schedule_of,
    schedule_row,
    schedule_users,
)
from service.people.sql import user_row
from service.teams.model import DEFAULT_TEAM
from service.teams.owners import team_row


class SQLReferences(Transactions):
    async def delete_team(self, team: str) -> None:
        def job(conn: Db) -> None:
            row = team_row(conn, team, "team")
            if row["id"] == DEFAULT_TEAM:
                raise FailedPrecondition("the default team cannot be deleted")
            lock_referenced(conn, "teams", row["id"])
            alerts = conn.execute(
                "SELECT COUNT(*) FROM alerts WHERE team_id = ?", (row["id"],)
            ).fetchone()[0]
            integrations = conn.execute(
                "SELECT COUNT(*) FROM integrations WHERE team_id = ? OR assignee_team_id = ?",
                (row["id"], row["id"]),
            ).fetchone()[0]
            schedules = conn.execute(
                "SELECT COUNT(*) FROM schedules WHERE team_id = ?", (row["id"],)
            ).fetchone()[0]
            policies = conn.execute(
                "SELECT COUNT(*) FROM escalation_policies WHERE team_id = ?", (row["id"],)
            ).fetchone()[0]
            if alerts or integrations or schedules or policies:
                raise FailedPrecondition(
                    f"team {row['name']!r} still has {alerts} alert(s), {integrations} "
                    f"integration(s), {schedules} schedule(s) and {policies} escalation "
                    "policy(ies); it can be deleted only when nothing belongs to it"
                )
            refuse_if_paged(conn, row["id"], f"team {row['name']!r}")
            conn.execute("DELETE FROM team_routing WHERE team_id = ?", (row["id"],))
            conn.execute("DELETE FROM team_members WHERE team_id = ?", (row["id"],))
            conn.execute("DELETE FROM teams WHERE id = ?", (row["id"],))

        await self._claim(job)

    async def delete_user(self, user: str, now: datetime) -> None:
        def job(conn: Db) -> None:
            row = user_row(conn, user)
            lock_referenced(conn, "users", row["id"])
            who = f"user {row['username']!r}"
            in_rotations, in_history = [], []
            for s in conn.execute("SELECT name, rotations FROM schedules ORDER BY name_key"):
                rotations = oncall_documents.rotations(s["rotations"])
                if any(row["id"] in r.current_users for r in rotations):
                    in_rotations.append(s["name"])
                elif any(row["id"] in p.users for r in rotations for p in r.participants):
                    in_history.append(s["name"])
            overrides = conn.execute(
                "SELECT s.name, o.end_at > ? AS to_come FROM schedule_overrides o "
                "JOIN schedules s ON s.id = o.schedule_id WHERE o.user_id = ? ORDER BY s.name_key",
                (to_micros(now), row["id"]),
            ).fetchall()
            to_come = sorted({o["name"] for o in overrides if o["to_come"]})
            if in_rotations or to_come:
                where = ", ".join(
                    [f"the rotations of schedule {n}" for n in in_rotations]
                    + [f"overrides now or to come in schedule {n}" for n in to_come]
                )
                raise FailedPrecondition(f"{who} is in {where}: take them out of those first")
            history = sorted({*in_history, *(o["name"] for o in overrides)})
            if history:
                raise FailedPrecondition(
                    f"{who} has been on call in schedule {', '.join(history)}, whose history "
                    "keeps them, so cannot be deleted; to take them off paging, remove their "
                    "contact methods and team memberships"
                )
            refuse_if_paged(conn, row["id"], who)
            conn.execute("DELETE FROM team_members WHERE user_id = ?", (row["id"],))
            conn.execute("DELETE FROM users WHERE id = ?", (row["id"],))

        await self._claim(job)

    async def update_schedule(
        self, schedule: str, step: Callable[[Schedule], Schedule]
    ) -> Schedule:
        def job(conn: Db) -> Schedule:
            # Locked before it is read, in case it moves to another team (and read after, as
            # a claim sees the latest commit).
            schedule_id = schedule_row(conn, schedule)["id"]
            lock_referenced(conn, "schedules", schedule_id)
            current = schedule_of(schedule_row(conn, schedule_id))
            changed = step(current)
            if changed.team_id != current.team_id and routing_teams(conn, current.id):
                raise FailedPrecondition(
                    f"schedule {current.name!r} is its team's on-call schedule in routing: "
                    "change that before moving the schedule to another team"
                )
            hold_references(conn, "users", schedule_users(changed), "user")
            try:
                conn.execute(
                    f"UPDATE schedules SET {', '.join(f'{c} = ?' for c in SCHEDULE_COLUMNS)} "
                    "WHERE id = ?",
                    (*schedule_columns(changed), current.id),
                )
            except IntegrityError as exc:
                raise AlreadyExists(f"a schedule named {changed.name!r} already exists") from exc
            # After the schedule's row, which a delete locks first too: the same order.
            for before, after in zip(
                continued(current.rotations, changed.rotations), changed.rotations, strict=True
            ):
                if before is not None and before.name != after.name:  # overrides follow it
                    conn.execute(
                        "UPDATE schedule_overrides SET rotation = ? "
                        "WHERE schedule_id = ? AND lower(rotation) = ?",
                        (after.name, current.id, before.name.lower()),
                    )
            return changed

        return await self._claim(job)

    async def delete_schedule(self, schedule: str) -> None:
        def job(conn: Db) -> None:
            row = schedule_row(conn, schedule)
            lock_referenced(conn, "schedules", row["id"])
            refuse_if_paged(conn, row["id"], f"schedule {row['name']!r}")
            conn.execute("DELETE FROM schedule_overrides WHERE schedule_id = ?", (row["id"],))
            conn.execute("DELETE FROM schedules WHERE id = ?", (row["id"],))

        await self._claim(job)
