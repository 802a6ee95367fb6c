"""The SQL of people and schedules: users, team members, schedules and overrides.

A mixin of `SQLStore`, whose backends supply `_read` and `_write` (each job one transaction).
Read-modify-write steps run inside the write job, so they are atomic; a step that refuses
raises, and nothing of the job is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from service.core.clock import from_micros, to_micros
from service.core.database import Db, IntegrityError, Row, Transactions, is_unique_violation
from service.core.errors import AlreadyExists, FailedPrecondition, NotFound, shown
from service.db import documents
from service.oncall.model import Override, Schedule, continued
from service.people.model import MemberRole, Role, TeamMember, User


class SQLDirectory(Transactions):
    # Users

    async def create_user(self, user: User) -> User:
        def job(conn: Db) -> User:
            try:
                _insert_user(conn, user)
            except IntegrityError as exc:
                raise AlreadyExists(f"a user named {user.username!r} already exists") from exc
            return user

        return await self._write(job)

    async def get_user(self, user: str) -> User:
        return await self._read(lambda conn: _user(_user_row(conn, user)))

    async def list_users(self) -> Sequence[User]:
        return await self._read(
            lambda conn: [
                _user(r) for r in conn.execute("SELECT * FROM users ORDER BY username_key")
            ]
        )

    async def update_user(self, user: str, step: Callable[[User], User]) -> User:
        def job(conn: Db) -> User:
            current = _user(_user_row(conn, user))
            changed = step(current)
            conn.execute(
                "UPDATE users SET full_name = ?, time_zone = ?, role = ?, contact_methods = ?, "
                "notification_rules = ? WHERE id = ?",
                (
                    changed.full_name,
                    changed.time_zone,
                    changed.role.value,
                    documents.contact_methods_json(changed.contact_methods),
                    documents.notification_rules_json(changed.notification_rules),
                    current.id,
                ),
            )
            return changed

        return await self._write(job)

    async def delete_user(self, user: str, now: datetime) -> None:
        def job(conn: Db) -> None:
            row = _user_row(conn, user)
            lock_referenced(conn, "users", row["id"])
            who = f"user {row['username']!r}"
            in_rotations, in_history = [], []
            for s in conn.execute("SELECT name, rotations FROM schedules ORDER BY name_key"):
                rotations = documents.rotations(s["rotations"])
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
            team_id = _id_by_name(conn, "teams", "name_key", team, "team")
            row = _user_row(conn, user)
            conn.execute(
                "INSERT INTO team_members (team_id, user_id, role) VALUES (?, ?, ?) "
                "ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role",
                (team_id, row["id"], role.value),
            )
            return TeamMember(row["id"], row["username"], role)

        return await self._write(job)

    async def remove_team_member(self, team: str, user: str) -> None:
        def job(conn: Db) -> None:
            team_id = _id_by_name(conn, "teams", "name_key", team, "team")
            row = _user_row(conn, user)
            gone = conn.execute(
                "DELETE FROM team_members WHERE team_id = ? AND user_id = ?", (team_id, row["id"])
            ).rowcount
            if not gone:
                raise NotFound(f"user {row['username']!r} is not a member of team {team!r}")

        await self._write(job)

    async def list_team_members(self, team: str) -> Sequence[TeamMember]:
        def job(conn: Db) -> list[TeamMember]:
            team_id = _id_by_name(conn, "teams", "name_key", team, "team")
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
                    f"INSERT INTO schedules (id, created_at, {', '.join(_SCHEDULE_COLUMNS)}) "
                    f"VALUES (?, ?, {', '.join('?' * len(_SCHEDULE_COLUMNS))})",
                    (
                        schedule.id,
                        to_micros(schedule.created_at or from_micros(0)),
                        *_schedule_columns(schedule),
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
        return await self._read(lambda conn: _schedule(_schedule_row(conn, schedule)))

    async def list_schedules(self, team: str) -> Sequence[Schedule]:
        def job(conn: Db) -> list[Schedule]:
            if not team:
                rows = conn.execute("SELECT * FROM schedules ORDER BY name_key")
            else:
                team_id = _id_by_name(conn, "teams", "name_key", team, "team")
                rows = conn.execute(
                    "SELECT * FROM schedules WHERE team_id = ? ORDER BY name_key", (team_id,)
                )
            return [_schedule(r) for r in rows]

        return await self._read(job)

    async def update_schedule(
        self, schedule: str, step: Callable[[Schedule], Schedule]
    ) -> Schedule:
        def job(conn: Db) -> Schedule:
            # Locked before it is read, in case it moves to another team (and read after, as
            # a claim sees the latest commit).
            schedule_id = _schedule_row(conn, schedule)["id"]
            lock_referenced(conn, "schedules", schedule_id)
            current = _schedule(_schedule_row(conn, schedule_id))
            changed = step(current)
            if changed.team_id != current.team_id and _routing_schedule(conn, current.id):
                raise FailedPrecondition(
                    f"schedule {current.name!r} is its team's on-call schedule in routing: "
                    "change that before moving the schedule to another team"
                )
            hold_references(conn, "users", _participants(changed), "user")
            try:
                conn.execute(
                    f"UPDATE schedules SET {', '.join(f'{c} = ?' for c in _SCHEDULE_COLUMNS)} "
                    "WHERE id = ?",
                    (*_schedule_columns(changed), current.id),
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
            row = _schedule_row(conn, schedule)
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
            schedule_id = _schedule_row(conn, schedule)["id"]
            row = conn.execute(
                "SELECT * FROM schedule_overrides WHERE id = ? AND schedule_id = ?",
                (override, schedule_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"override: no override {override!r} in schedule {schedule!r}")
            changed = step(_override(row))
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
                    _override(r)
                    for r in conn.execute(
                        "SELECT * FROM schedule_overrides WHERE schedule_id = ? AND end_at > ? "
                        "AND start_at < ? ORDER BY created_at, id",
                        (schedule_id, to_micros(start), to_micros(end)),
                    )
                )
            return found

        return await self._read(job)


def refuse_if_paged(conn: Db, ref_id: str, what: str) -> None:
    """Refuses to delete what an escalation policy pages, or what a team's routing names as
    its on-call schedule: alerts would otherwise page nobody, without a word."""
    policies = [
        r["name"]
        for r in conn.execute("SELECT name, document FROM escalation_policies ORDER BY name_key")
        if any(
            t.ref == ref_id for rule in documents.policy(r["document"]).rules for t in rule.targets
        )
    ]
    routings = _routing_schedule(conn, ref_id)
    if policies:
        raise FailedPrecondition(
            f"{what} is paged by escalation policy {', '.join(policies)}: change those first"
        )
    if routings:
        raise FailedPrecondition(
            f"{what} is the on-call schedule of team {', '.join(routings)}'s routing: "
            "change that first"
        )


def hold_references(
    conn: Db, table: str, ids: Iterable[str | None], what: str, team_id: str = ""
) -> None:
    """Makes sure the rows a write is about to name (in a document, where no foreign key
    looks) still exist, and, with `team_id`, still belong to that team, in the write's own
    transaction: they were looked up by name in an earlier read, and may have been deleted
    or moved since. With other writers, the rows are held until this transaction ends, so
    that a delete or move of one waits and then sees the reference (those lock their row
    first; see `lock_referenced`)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return
    owner = "team_id" if team_id else "''"  # users belong to no team
    teams = {
        row["id"]: row["owner"]
        for row in conn.execute(
            f"SELECT id, {owner} AS owner FROM {table} "
            f"WHERE id IN ({', '.join('?' * len(wanted))}) "
            f"ORDER BY id{conn.dialect.share_rows(table)}",
            wanted,
        )
    }
    for row_id in wanted:
        if row_id not in teams:
            raise NotFound(f"{what}: the {what} with id {row_id!r} was deleted meanwhile")
        if team_id and teams[row_id] != team_id:
            raise FailedPrecondition(
                f"{what}: the {what} with id {row_id!r} was moved to another team meanwhile"
            )


def _routing_schedule(conn: Db, schedule_id: str) -> list[str]:
    """The teams whose routing names the schedule as their on-call schedule."""
    return [
        r["name"]
        for r in conn.execute(
            "SELECT t.name, r.team_id, r.document FROM team_routing r "
            "JOIN teams t ON t.id = r.team_id ORDER BY t.name_key"
        )
        if documents.routing(r["team_id"], r["document"]).default_schedule_id == schedule_id
    ]


def _participants(schedule: Schedule) -> Iterator[str | None]:
    for rotation in schedule.rotations:
        for participants in rotation.participants:
            yield from participants.users


def lock_referenced(conn: Db, table: str, row_id: str) -> None:
    """Before a delete (or a move to another team) looks for what still refers to the row: a
    write naming it waits until the change ends (and then finds it gone or moved), or the
    change waits for that write to commit; the change runs as a claim, so the look that
    follows sees what that write committed."""
    conn.execute(f"SELECT id FROM {table} WHERE id = ?{conn.dialect.lock_rows(table)}", (row_id,))


def _insert_user(conn: Db, user: User) -> None:
    conn.execute(
        "INSERT INTO users (id, username, username_key, full_name, time_zone, role, "
        "contact_methods, notification_rules, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            user.id,
            user.username,
            user.username.lower(),
            user.full_name,
            user.time_zone,
            user.role.value,
            documents.contact_methods_json(user.contact_methods),
            documents.notification_rules_json(user.notification_rules),
            to_micros(user.created_at or from_micros(0)),
        ),
    )


def _by_id_or_name(conn: Db, table: str, key: str, ref: str, what: str) -> Row:
    """By id first, then by name (case-insensitive): two indexed look-ups beat one OR."""
    row: Row | None = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (ref,)).fetchone()
    if row is None:
        row = conn.execute(f"SELECT * FROM {table} WHERE {key} = ?", (ref.lower(),)).fetchone()
    if row is None:
        raise NotFound(f"{what}: no {what} named {shown(ref)}")
    return row


def _id_by_name(conn: Db, table: str, key: str, ref: str, what: str) -> str:
    return str(_by_id_or_name(conn, table, key, ref, what)["id"])


def _user_row(conn: Db, user: str) -> Row:
    return _by_id_or_name(conn, "users", "username_key", user, "user")


def _schedule_row(conn: Db, schedule: str) -> Row:
    return _by_id_or_name(conn, "schedules", "name_key", schedule, "schedule")


def _user(row: Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        full_name=row["full_name"],
        time_zone=row["time_zone"],
        role=Role(row["role"]),
        contact_methods=documents.contact_methods(row["contact_methods"]),
        notification_rules=documents.notification_rules(row["notification_rules"]),
        created_at=from_micros(row["created_at"]),
    )


# What an update may change, in the order `_schedule_columns` gives them.
_SCHEDULE_COLUMNS = (
    "name", "name_key", "team_id", "time_zone", "description", "rotations", "ical_secret"
)  # fmt: skip


def _schedule_columns(schedule: Schedule) -> tuple[object, ...]:
    return (
        schedule.name,
        schedule.name.lower(),
        schedule.team_id,
        schedule.time_zone,
        schedule.description,
        documents.rotations_json(schedule.rotations),
        schedule.ical_secret,
    )


def _schedule(row: Row) -> Schedule:
    return Schedule(
        id=row["id"],
        name=row["name"],
        team_id=row["team_id"],
        time_zone=row["time_zone"],
        description=row["description"],
        rotations=documents.rotations(row["rotations"]),
        ical_secret=row["ical_secret"],
        created_at=from_micros(row["created_at"]),
    )


def _override(row: Row) -> Override:
    return Override(
        id=row["id"],
        schedule_id=row["schedule_id"],
        user=row["user_id"],
        start=from_micros(row["start_at"]),
        end=from_micros(row["end_at"]),
        rotation=row["rotation"],
        created_at=from_micros(row["created_at"]),
    )
