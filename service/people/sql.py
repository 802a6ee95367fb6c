"""The SQL of people: users (with their contact methods and notification rules) and team
members, a mixin of `SQLStore` (see `service.core.database`), and how a user is written,
found by id or name, and read from its row."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from service.core.clock import from_micros, to_micros
from service.core.database import (
    Db,
    IntegrityError,
    Row,
    Transactions,
    id_by_name,
    row_by_id_or_name,
)
from service.core.errors import AlreadyExists, NotFound
from service.people import documents as people_documents
from service.people.model import MemberRole, Role, TeamMember, User


def insert_user(conn: Db, user: User) -> None:
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
            people_documents.contact_methods_json(user.contact_methods),
            people_documents.notification_rules_json(user.notification_rules),
            to_micros(user.created_at or from_micros(0)),
        ),
    )


def user_row(conn: Db, user: str) -> Row:
    return row_by_id_or_name(conn, "users", "username_key", user, "user")


def user_of(row: Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        full_name=row["full_name"],
        time_zone=row["time_zone"],
        role=Role(row["role"]),
        contact_methods=people_documents.contact_methods(row["contact_methods"]),
        notification_rules=people_documents.notification_rules(row["notification_rules"]),
        created_at=from_micros(row["created_at"]),
    )


class SQLPeople(Transactions):
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
