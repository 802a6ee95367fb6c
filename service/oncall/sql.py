"""The SQL of on-call schedules and their overrides, a mixin of `SQLStore` (see
`service.core.database`), and how a schedule is found by id or name, the columns an update
writes, and schedules and overrides read from their rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from service.core.clock import from_micros, to_micros
from service.core.database import (
    Db,
    IntegrityError,
    Row,
    Transactions,
    hold_references,
    id_by_name,
    is_unique_violation,
    row_by_id_or_name,
)
from service.core.errors import AlreadyExists, NotFound
from service.oncall import documents as oncall_documents
from service.oncall.model import Override, Schedule


def schedule_row(conn: Db, schedule: str) -> Row:
    return row_by_id_or_name(conn, "schedules", "name_key", schedule, "schedule")


# What an update may change, in the order `schedule_columns` gives them.
SCHEDULE_COLUMNS = (
    "name", "name_key", "team_id", "time_zone", "description", "rotations", "ical_secret"
)  # fmt: skip


def schedule_columns(schedule: Schedule) -> tuple[object, ...]:
    return (
        schedule.name,
        schedule.name.lower(),
        schedule.team_id,
        schedule.time_zone,
        schedule.description,
        oncall_documents.rotations_json(schedule.rotations),
        schedule.ical_secret,
    )


def schedule_of(row: Row) -> Schedule:
    return Schedule(
        id=row["id"],
        name=row["name"],
        team_id=row["team_id"],
        time_zone=row["time_zone"],
        description=row["description"],
        rotations=oncall_documents.rotations(row["rotations"]),
        ical_secret=row["ical_secret"],
        created_at=from_micros(row["created_at"]),
    )


def override_of(row: Row) -> Override:
    return Override(
        id=row["id"],
        schedule_id=row["schedule_id"],
        user=row["user_id"],
        start=from_micros(row["start_at"]),
        end=from_micros(row["end_at"]),
        rotation=row["rotation"],
        created_at=from_micros(row["created_at"]),
    )


class SQLSchedules(Transactions):
    # Schedules

    async def create_schedule(self, schedule: Schedule) -> Schedule:
        def job(conn: Db) -> Schedule:
            hold_references(conn, "users", schedule_users(schedule), "user")
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


def schedule_users(schedule: Schedule) -> Iterator[str | None]:
    """Everyone a schedule's rotations name, now or in their history (`None`: nobody)."""
    for rotation in schedule.rotations:
        for participants in rotation.participants:
            yield from participants.users
