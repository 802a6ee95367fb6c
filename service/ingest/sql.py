"""The SQL of integrations, and of the deliveries SNS makes to them (see `service.core.database`).

A mixin of `SQLStore`, whose backends supply `_read` and `_write`. Taking a delivery writes
alerts and moves escalations in the same transaction, so that is composed in
`service.db.sql_store`, from the functions below.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from service.core.clock import from_micros, to_micros
from service.core.database import Db, IntegrityError, Row, Transactions
from service.core.errors import AlreadyExists, NotFound, PermissionDenied, shown
from service.ingest import acceptance
from service.ingest.model import (
    EVENT_TYPES,
    Integration,
    IntegrationType,
    NewIntegration,
    RequestRecord,
    SnsDelivery,
)
from service.teams.model import DEFAULT_TEAM
from service.teams.owners import team_row

# The types whose integrations Amazon SNS delivers to.
SNS_TYPES = frozenset(kind.value for kind in IntegrationType if kind not in EVENT_TYPES)

_INTEGRATION_SELECT = (
    "SELECT i.*, owner.name AS owner_name, assignee.name AS assignee_name FROM integrations i "
    "JOIN teams owner ON owner.id = i.team_id "
    "JOIN teams assignee ON assignee.id = i.assignee_team_id"
)


class SQLIntegrations(Transactions):
    async def create_integration(
        self, integration: NewIntegration, key_hash: str, now: datetime, new_id: str
    ) -> Integration:
        def job(conn: Db) -> Integration:
            owner = team_row(conn, integration.team or DEFAULT_TEAM, "team")
            assignee = owner
            if integration.assignee_team:
                assignee = team_row(conn, integration.assignee_team, "assignee_team")
            try:
                conn.execute(
                    "INSERT INTO integrations (id, name, name_key, type, team_id, "
                    "assignee_team_id, enabled, topic_arns, pinned_topic_arn, "
                    "min_signature_version, key_hash, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, TRUE, ?, '', ?, ?, ?)",
                    (
                        new_id,
                        integration.name,
                        integration.name.lower(),
                        integration.type.value,
                        owner["id"],
                        assignee["id"],
                        _json_list(integration.topic_arns),
                        integration.min_signature_version,
                        key_hash,
                        to_micros(now),
                    ),
                )
            except IntegrityError as exc:
                raise AlreadyExists(
                    f"an integration named {integration.name!r} already exists"
                ) from exc
            return _integration(_integration_row(conn, new_id))

        return await self._write(job)

    async def list_integrations(self, team: str) -> Sequence[Integration]:
        def job(conn: Db) -> list[Integration]:
            sql = f"{_INTEGRATION_SELECT} ORDER BY i.name_key"
            params: tuple[str, ...] = ()
            if team:
                sql = f"{_INTEGRATION_SELECT} WHERE i.team_id = ? ORDER BY i.name_key"
                params = (team_row(conn, team, "team")["id"],)
            return [_integration(row) for row in conn.execute(sql, params)]

        return await self._read(job)

    async def get_integration(self, integration: str) -> Integration:
        return await self._read(lambda conn: _integration(_integration_row(conn, integration)))

    async def set_integration_enabled(self, integration: str, enabled: bool) -> Integration:
        def job(conn: Db) -> Integration:
            row = _integration_row(conn, integration)
            conn.execute("UPDATE integrations SET enabled = ? WHERE id = ?", (enabled, row["id"]))
            return _integration(_integration_row(conn, row["id"]))

        return await self._write(job)

    async def update_integration(
        self, integration: str, changes: NewIntegration, fields: frozenset[str]
    ) -> Integration:
        def job(conn: Db) -> Integration:
            row = _integration_row(conn, integration)
            owner = row["team_id"]
            if "team" in fields and changes.team:
                owner = team_row(conn, changes.team, "team")["id"]
            assignee = row["assignee_team_id"]
            if "assignee_team" in fields:
                given = changes.assignee_team
                assignee = team_row(conn, given, "assignee_team")["id"] if given else owner
            name = changes.name if "name" in fields else row["name"]
            values = (
                name,
                name.lower(),
                changes.type.value if "type" in fields else row["type"],
                owner,
                assignee,
                _json_list(changes.topic_arns) if "topic_arns" in fields else row["topic_arns"],
                changes.min_signature_version
                if "min_signature_version" in fields
                else row["min_signature_version"],
                row["id"],
            )
            try:
                conn.execute(
                    "UPDATE integrations SET name = ?, name_key = ?, type = ?, team_id = ?, "
                    "assignee_team_id = ?, topic_arns = ?, min_signature_version = ? "
                    "WHERE id = ?",
                    values,
                )
            except IntegrityError as exc:
                raise AlreadyExists(f"an integration named {name!r} already exists") from exc
            return _integration(_integration_row(conn, row["id"]))

        return await self._write(job)

    async def rotate_integration_key(self, integration: str, key_hash: str) -> Integration:
        def job(conn: Db) -> Integration:
            row = _integration_row(conn, integration)
            conn.execute("UPDATE integrations SET key_hash = ? WHERE id = ?", (key_hash, row["id"]))
            return _integration(row)

        return await self._write(job)

    async def set_integration_rules(self, integration: str, rules_json: str) -> None:
        def job(conn: Db) -> None:
            row = _integration_row(conn, integration)
            conn.execute("UPDATE integrations SET rules = ? WHERE id = ?", (rules_json, row["id"]))

        await self._write(job)

    async def get_integration_rules(self, integration: str) -> str:
        return await self._read(lambda conn: str(_integration_row(conn, integration)["rules"]))

    async def delete_integration(self, integration: str) -> None:
        def job(conn: Db) -> None:
            row = _integration_row(conn, integration)
            conn.execute("DELETE FROM integrations WHERE id = ?", (row["id"],))

        await self._write(job)


def accepting_integration(conn: Db, delivery: SnsDelivery, key_hash: str, *, pin: bool) -> Row:
    """The integration, if it takes this delivery with this key (see `acceptance.accept`);
    with `pin`, the topic that taking it pins is recorded as the only one it takes."""
    row: Row | None = conn.execute(
        "SELECT * FROM integrations WHERE id = ?", (delivery.integration_id,)
    ).fetchone()
    if row is not None and row["type"] not in SNS_TYPES:
        row = None  # its events come another way, with its key in their body
    pins = acceptance.accept(None if row is None else _terms(row), key_hash, delivery)
    assert row is not None  # refused above
    if pin and pins:
        conn.execute(
            "UPDATE integrations SET pinned_topic_arn = ? WHERE id = ?",
            (delivery.topic_arn, row["id"]),
        )
    return row


def keyed_integration(conn: Db, kind: IntegrationType, key_hash: str, integration_id: str) -> Row:
    """The enabled integration of this type whose key hashes to `key_hash`, and whose id is
    `integration_id` when one is given: where an event goes, whether it carries its key in its
    body (PagerDuty's routing_key) or its URL names the integration and the request its key.
    A wrong id, key or type is NotFound alike, so which one is not said."""
    sql, params = (
        "SELECT * FROM integrations WHERE key_hash = ? AND type = ?",
        [key_hash, kind.value],
    )
    if integration_id:
        sql, params = f"{sql} AND id = ?", [*params, integration_id]
    row: Row | None = conn.execute(sql, tuple(params)).fetchone()
    if row is None:
        raise NotFound("no integration with this key")
    if not row["enabled"]:
        raise PermissionDenied(f"integration {row['name']!r} is disabled")
    return row


def _terms(row: Row) -> acceptance.Terms:
    return acceptance.Terms(
        name=row["name"],
        key_hash=row["key_hash"],
        enabled=bool(row["enabled"]),
        min_signature_version=row["min_signature_version"],
        topic_arns=tuple(json.loads(row["topic_arns"])),
        pinned_topic_arn=row["pinned_topic_arn"],
    )


def message_seen(conn: Db, integration_id: str, message_id: str) -> Row | None:
    """The record of the delivery with this MessageId, if it was taken before."""
    row: Row | None = conn.execute(
        "SELECT alert_id FROM sns_messages WHERE integration_id = ? AND message_id = ?",
        (integration_id, message_id),
    ).fetchone()
    return row


def record_message(
    conn: Db, integration_id: str, message_id: str, alert_id: str | None, now: datetime
) -> None:
    conn.execute(
        "INSERT INTO sns_messages (integration_id, message_id, alert_id, received_at) "
        "VALUES (?, ?, ?, ?)",
        (integration_id, message_id, alert_id, to_micros(now)),
    )


def _integration_row(conn: Db, integration: str) -> Row:
    row: Row | None = conn.execute(
        f"{_INTEGRATION_SELECT} WHERE i.id = ?", (integration,)
    ).fetchone()
    if row is None:
        row = conn.execute(
            f"{_INTEGRATION_SELECT} WHERE i.name_key = ?", (integration.lower(),)
        ).fetchone()
    if row is None:
        raise NotFound(f"no integration named {shown(integration)}")
    return row


def _json_list(items: Sequence[str]) -> str:
    return json.dumps(list(items))


def _integration(row: Row) -> Integration:
    return Integration(
        id=row["id"],
        name=row["name"],
        type=IntegrationType(row["type"]),
        owner_team_id=row["team_id"],
        owner_team=row["owner_name"],
        assignee_team_id=row["assignee_team_id"],
        assignee_team=row["assignee_name"],
        enabled=bool(row["enabled"]),
        topic_arns=tuple(json.loads(row["topic_arns"])),
        pinned_topic_arn=row["pinned_topic_arn"],
        min_signature_version=row["min_signature_version"],
        created_at=from_micros(row["created_at"]),
    )


# How long a request's status is kept: Opsgenie's senders ask within seconds.
REQUEST_RETENTION = timedelta(days=1)


def record_request(conn: Db, record: RequestRecord) -> None:
    """Records a request in the transaction that took it, and forgets those past a day."""
    cutoff = to_micros(record.processed_at - REQUEST_RETENTION)
    conn.execute("DELETE FROM opsgenie_requests WHERE processed_at < ?", (cutoff,))
    conn.execute(
        "INSERT INTO opsgenie_requests (request_id, integration_id, action, success, status, "
        "alert_id, alias, processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.request_id, record.integration_id, record.action, record.success,
            record.status, record.alert_id, record.alias, to_micros(record.processed_at),
        ),
    )  # fmt: skip


def request_record(conn: Db, integration_id: str, request_id: str) -> RequestRecord:
    """The request `integration_id` made: another integration's is NotFound, as is one past
    a day or never made."""
    row: Row | None = conn.execute(
        "SELECT * FROM opsgenie_requests WHERE request_id = ? AND integration_id = ?",
        (request_id, integration_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"no request {shown(request_id)}")
    return RequestRecord(
        request_id=row["request_id"],
        integration_id=row["integration_id"],
        action=row["action"],
        success=bool(row["success"]),
        status=row["status"],
        alert_id=row["alert_id"],
        alias=row["alias"],
        processed_at=from_micros(row["processed_at"]),
    )
