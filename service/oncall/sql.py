"""The SQL of on-call schedules: how a schedule is found by id or name, the columns an update
writes, and schedules and overrides read from their rows (see `service.core.database`)."""

from __future__ import annotations

from service.core.clock import from_micros
from service.core.database import Db, Row, row_by_id_or_name
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
