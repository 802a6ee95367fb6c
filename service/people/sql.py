"""The SQL of people: how a user is written, found by id or name, and read from its row
(see `service.core.database`)."""

from __future__ import annotations

from service.core.clock import from_micros, to_micros
from service.core.database import Db, Row, row_by_id_or_name
from service.people import documents as people_documents
from service.people.model import Role, User


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
