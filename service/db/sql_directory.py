"""The SQL of people and schedules: users, team members, schedules and overrides.

A mixin of `SQLStore`, whose backends supply `_read` and `_write` (each job one transaction).
Read-modify-write steps run inside the write job, so they are atomic; a step that refuses
raises, and nothing of the job is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from service.core.clock import from_micros, to_micros
from service.core.database import (
    Db,
    IntegrityError,
    Transactions,
    hold_references,
    id_by_name,
    is_unique_violation,
    lock_referenced,
)
from service.core.errors import AlreadyExists, FailedPrecondition, NotFound
from service.escalation.sql import refuse_if_paged, routing_teams
from service.oncall import documents as oncall_documents
from service.oncall.model import Override, Schedule, continued
from service.oncall.sql import (
    SCHEDULE_COLUMNS,
    override_of,
    schedule_columns,
    schedule_of,
    schedule_row,
)
from service.people import documents as people_documents
from service.people.model import MemberRole, TeamMember, User
from service.people.sql import insert_user, user_of, user_row


class SQLDirectory(Transactions):
    # Users

    async def create_user(self, user: User) -> User:
        def job(conn: Db) -> User:
            try:
                insert_user(conn, user)
            except IntegrityError as exc:
                raise AlreadyExists(f"a user named {user.username!r} already exists") from exc
            return user

        return await self._write(job)

    async def get_user(self, user: str) -> User:
        return await self._read(lambda conn: user_of(user_row(conn, user)))

    async def list_users(self) -> Sequence[User]:
        return await self._read(
            lambda conn: [
                user_of(r) for r in conn.execute("SELECT * FROM users ORDER BY username_key")
            ]
        )

    async def update_user(self, user: str, step: Callable[[User], User]) -> User:
        def job(conn: Db) -> User:
            current = user_of(user_row(conn, user))
            changed = step(current)
            conn.execute(
                "UPDATE users SET full_name = ?, time_zone = ?, role = ?, contact_methods = ?, "
                "notification_rules = ? WHERE id = ?",
                (
                    changed.full_name,
                    changed.time_zone,
                    changed.role.value,
                    people_documents.contact_methods_json(changed.contact_methods),
                    people_documents.notification_rules_json(changed.notification_rules),
                    current.id,
                ),
            )
            return changed

        return await self._write(job)

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

    # Team members

    async def set_team_member(self, team: str, user: str, role: MemberRole) -> TeamMember:
        def job(conn: Db) -> TeamMember:
            team_id = id_by_name(conn, "teams", "name_key", team, "team")
            row = user_row(conn, user)
            conn.execute(
                "INSERT INTO team_members (team_id, user_id, role) VALUES (?, ?, ?) "
                "ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role",
                (team_id, row["id"], role.value),
            )
            return TeamMember(row["id"], row["username"], role)

        return await self._write(job)

    async def remove_team_member(self, team: str, user: str) -> None:
        def job(conn: Db) -> None:
            team_id = id_by_name(conn, "teams", "name_key", team, "team")
            row = user_row(conn, user)
            gone = conn.execute(
                "DELETE FROM team_members WHERE team_id = ? AND user_id = ?", (team_id, row["id"])
            ).rowcount
            if not gone:
                raise NotFound(f"user {row['username']!r} is not a member of team {team!r}")

        await self._write(job)

    async def list_team_members(self, team: str) -> Sequence[TeamMember]:
        def job(conn: Db) -> list[TeamMember]:
            team_id = id_by_name(conn, "teams", "name_key", team, "team")
            return [
                TeamMember(r["id"], r["username"], MemberRole(r["role"]))
                for r in conn.execute(
                    "SELECT u.id, u.username, m.role FROM team_members m "
                    "JOIN users u ON u.id = m.user_id WHERE m.team_id = ? ORDER BY u.username_key",
                    (team_id,),
                )
            ]

        return await self._read(job)

    # Schedules

    async def create_schedule(self, schedule: Schedule) -> Schedule:
        def job(conn: Db) -> Schedule:
            hold_references(conn, "users", _participants(schedule), "user")
            try:
                conn.execute(
                    f"INSERT INTO schedules (id, created_at, {', '.join(SCHEDULE_COLUMNS)}) "
                    f"VALUES (?, ?, {', '.join('?' * len(SCHEDULE_COLUMNS))})",
                    (
                        schedule.id,
                        to_micros(schedule.created_at or from_micros(0)),
                        *schedule_columns(schedule),
                    ),
                )
            except IntegrityError as exc:
                if is_unique_violation(exc):
                    raise AlreadyExists(
                        f"a schedule named {schedule.name!r} already exists"
                    ) from exc
                raise NotFound(f"team: no team with id {schedule.team_id!r}") from exc
            return schedule

        return await self._write(job)

    async def get_schedule(self, schedule: str) -> Schedule:
        return await self._read(lambda conn: schedule_of(schedule_row(conn, schedule)))

    async def list_schedules(self, team: str) -> Sequence[Schedule]:
        def job(conn: Db) -> list[Schedule]:
            if not team:
                rows = conn.execute("SELECT * FROM schedules ORDER BY name_key")
            else:
                team_id = id_by_name(conn, "teams", "name_key", team, "team")
                rows = conn.execute(
                    "SELECT * FROM schedules WHERE team_id = ? ORDER BY name_key", (team_id,)
                )
            return [schedule_of(r) for r in rows]

        return await self._read(job)

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
            hold_references(conn, "users", _participants(changed), "user")
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

    async def add_override(self, override: Override) -> Override:
        def job(conn: Db) -> Override:
            conn.execute(
                "INSERT INTO schedule_overrides (id, schedule_id, user_id, rotation, start_at, "
                "end_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    override.id,
                    override.schedule_id,
                    override.user,
                    override.rotation,
                    to_micros(override.start),
                    to_micros(override.end),
                    to_micros(override.created_at or override.start),
                ),
            )
            return override

        return await self._write(job)

    async def end_override(
        self, schedule: str, override: str, step: Callable[[Override], Override | None]
    ) -> Override | None:
        """Runs `step` on the override: None deletes it, a value replaces its end."""

        def job(conn: Db) -> Override | None:
            schedule_id = schedule_row(conn, schedule)["id"]
            row = conn.execute(
                "SELECT * FROM schedule_overrides WHERE id = ? AND schedule_id = ?",
                (override, schedule_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"override: no override {override!r} in schedule {schedule!r}")
            changed = step(override_of(row))
            if changed is None:
                conn.execute("DELETE FROM schedule_overrides WHERE id = ?", (override,))
            else:
                conn.execute(
                    "UPDATE schedule_overrides SET end_at = ? WHERE id = ?",
                    (to_micros(changed.end), override),
                )
            return changed

        return await self._write(job)

    async def list_overrides(
        self, schedule_ids: Sequence[str], start: datetime, end: datetime
    ) -> Sequence[Override]:
        """Overrides of these schedules that overlap [start, end), oldest first."""

        def job(conn: Db) -> list[Override]:
            found: list[Override] = []
            for schedule_id in schedule_ids:
                found.extend(
                    override_of(r)
                    for r in conn.execute(
                        "SELECT * FROM schedule_overrides WHERE schedule_id = ? AND end_at > ? "
                        "AND start_at < ? ORDER BY created_at, id",
                        (schedule_id, to_micros(start), to_micros(end)),
                    )
                )
            return found

        return await self._read(job)


def _participants(schedule: Schedule) -> Iterator[str | None]:
    for rotation in schedule.rotations:
        for participants in rotation.participants:
            yield from participants.users
