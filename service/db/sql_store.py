"""The store's use cases as SQL, written once for both databases (see `service.db.sql`).

`SQLiteStore` and `PostgresStore` supply the plumbing: `_read` and `_write` run a job on a
connection inside one transaction, and `_signal` wakes watchers after each commit.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from service.alerts import lifecycle
from service.alerts.model import (
    ActivityEntry,
    Actor,
    Alert,
    AlertEvent,
    AlertQuery,
    AlertRef,
    Change,
    CreateResult,
    NewAlert,
    Priority,
    RefKind,
    Responder,
    SortField,
    Status,
    Transition,
)
from service.alerts.responders import resolve_responders
from service.answers.sql import SQLInbound
from service.core import validation
from service.core.clock import from_micros, to_micros
from service.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    shown,
)
from service.core.pages import Page
from service.core.validation import INT64_MAX
from service.db.migrations import DEFAULT_TEAM_ID
from service.db.sql import Db, IntegrityError, Row
from service.db.sql_directory import SQLDirectory, lock_referenced, refuse_if_paged
from service.db.sql_paging import ENGINE, SQLPaging, start_escalation
from service.db.sql_paging import react as react_to_change
from service.db.store import Step
from service.ingest import rules
from service.ingest.model import (
    IngestAction,
    IngestResult,
    Integration,
    IntegrationType,
    NewIntegration,
    SnsDelivery,
    SnsType,
)
from service.teams.model import Team
from service.tokens.model import TokenInfo

log = logging.getLogger(__name__)


_ALERT_SELECT = "SELECT a.*, t.name AS team_name FROM alerts a JOIN teams t ON t.id = a.team_id"
_SORT_COLUMNS = {
    SortField.CREATED_AT: "a.created_at",
    SortField.UPDATED_AT: "a.updated_at",
    SortField.LAST_OCCURRED_AT: "a.last_occurred_at",
    SortField.TINY_ID: "a.tiny_id",
    SortField.PRIORITY: "a.priority",
    SortField.COUNT: "a.count",
}


class _ChangeSignal:
    """Wakes watchers after each commit; they re-read the feed to learn what changed."""

    def __init__(self) -> None:
        self.generation = 0
        self._event = asyncio.Event()

    def fire(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, since: int, poll_seconds: float) -> None:
        if self.generation != since:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), poll_seconds)


class SQLStore(SQLDirectory, SQLPaging, SQLInbound):
    """The `Store`, but for its connections: `SQLiteStore` and `PostgresStore` add them."""

    _signal: _ChangeSignal | None = None

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def migrate(self) -> list[str]: ...

    async def ping(self) -> None:
        """Answers once the database does: what health checks ask."""
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    # What the paging tables share with the alerts

    def _load_alert(self, conn: Db, alert_id: str) -> Alert:
        return _alert(_alert_row(conn, AlertRef(RefKind.ID, alert_id)))

    def _load_alerts(self, conn: Db, alert_ids: Sequence[str]) -> dict[str, Alert]:
        """The alerts with these ids, by id (those that exist), in a query per 500."""
        alerts: dict[str, Alert] = {}
        for chunk in _chunks(alert_ids, 500):
            marks = ", ".join("?" * len(chunk))
            for row in conn.execute(f"{_ALERT_SELECT} WHERE a.id IN ({marks})", chunk):
                alerts[row["id"]] = _alert(row)
        return alerts

    def _log(self, conn: Db, alert_id: str, changes: Sequence[Change], now: datetime) -> None:
        _insert_activity(conn, alert_id, changes, ENGINE, now)

    def _save_alert(self, conn: Db, transition: Transition, now: datetime) -> None:
        _write_transition(conn, transition.alert, transition, ENGINE, now, react=False)

    # Alerts

    async def create_alert(
        self, alert: NewAlert, actor: Actor, now: datetime, new_id: str
    ) -> CreateResult:
        return await self._write(lambda conn: _create_alert(conn, alert, actor, now, new_id))

    async def update_alert(
        self, ref: AlertRef, step: Step, actor: Actor, now: datetime
    ) -> Transition:
        return await self._write(lambda conn: self._update(conn, ref, step, actor, now))

    def _update(
        self, conn: Db, ref: AlertRef, step: Step, actor: Actor, now: datetime
    ) -> Transition:
        before = _alert(_alert_row(conn, ref))
        transition = step(before)
        _write_transition(conn, before, transition, actor, now)
        return transition

    async def get_alert(self, ref: AlertRef) -> Alert:
        return await self._read(lambda conn: _alert(_alert_row(conn, ref)))

    async def list_alerts(self, query: AlertQuery) -> Page[Alert]:
        return await self._read(lambda conn: _list_alerts(conn, query))

    async def list_activity(
        self, ref: AlertRef, page_size: int, page_token: str
    ) -> Page[ActivityEntry]:
        def job(conn: Db) -> Page[ActivityEntry]:
            alert_id = _alert_row(conn, ref)["id"]
            scope = f"activity:{alert_id}"
            after = _decode_token(page_token, scope, (int,))[0] if page_token else 0
            rows = conn.execute(
                "SELECT * FROM activity WHERE alert_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (alert_id, after, page_size + 1),
            ).fetchall()
            entries = tuple(_entry(row) for row in rows[:page_size])
            token = ""
            if len(rows) > page_size:
                token = _encode_token([entries[-1].seq], scope)
            return Page(entries, token)

        return await self._read(job)

    async def snoozes_due(self, now: datetime, limit: int) -> Sequence[str]:
        def job(conn: Db) -> list[str]:
            rows = conn.execute(
                "SELECT id FROM alerts WHERE snoozed_until IS NOT NULL AND snoozed_until <= ? "
                "AND status = 'open' ORDER BY snoozed_until LIMIT ?",
                (to_micros(now), limit),
            ).fetchall()
            return [row["id"] for row in rows]

        return await self._read(job)

    # Change feed

    async def last_seq(self) -> int:
        return await self._read(
            lambda conn: conn.execute("SELECT COALESCE(MAX(seq), 0) FROM activity").fetchone()[0]
        )

    async def events_after(self, seq: int, limit: int, team_id: str) -> Sequence[AlertEvent]:
        def job(conn: Db) -> list[AlertEvent]:
            sql = "SELECT act.* FROM activity act"
            params: list[object] = [seq]
            if team_id:
                sql += " JOIN alerts a ON a.id = act.alert_id WHERE act.seq > ? AND a.team_id = ?"
                params.append(team_id)
            else:
                sql += " WHERE act.seq > ?"
            entries = [
                _entry(row)
                for row in conn.execute(f"{sql} ORDER BY act.seq LIMIT ?", (*params, limit))
            ]
            alerts = self._load_alerts(conn, sorted({entry.alert_id for entry in entries}))
            return [AlertEvent(entry, alerts[entry.alert_id]) for entry in entries]

        return await self._read(job)

    def change_generation(self) -> int:
        return 0 if self._signal is None else self._signal.generation

    async def wait_for_change(self, since: int, poll_seconds: float) -> None:
        if self._signal is None:
            raise Unavailable("the store is not open")
        await self._signal.wait(since, poll_seconds)

    # Teams

    async def create_team(self, name: str, description: str, now: datetime, new_id: str) -> Team:
        def job(conn: Db) -> Team:
            try:
                conn.execute(
                    "INSERT INTO teams (id, name, name_key, description, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (new_id, name, name.lower(), description, to_micros(now)),
                )
            except IntegrityError as exc:
                raise AlreadyExists(f"a team named {name!r} already exists") from exc
            return Team(new_id, name, description, now)

        return await self._write(job)

    async def list_teams(self) -> Sequence[Team]:
        return await self._read(
            lambda conn: [_team(r) for r in conn.execute("SELECT * FROM teams ORDER BY name_key")]
        )

    async def get_team(self, team: str) -> Team:
        return await self._read(lambda conn: _team(_team_row(conn, team, "team")))

    async def rename_team(self, team: str, new_name: str) -> Team:
        def job(conn: Db) -> Team:
            row = _team_row(conn, team, "team")
            if row["id"] == DEFAULT_TEAM_ID:
                raise FailedPrecondition("the default team cannot be renamed")
            try:
                conn.execute(
                    "UPDATE teams SET name = ?, name_key = ? WHERE id = ?",
                    (new_name, new_name.lower(), row["id"]),
                )
            except IntegrityError as exc:
                raise AlreadyExists(f"a team named {new_name!r} already exists") from exc
            return _team(_team_row(conn, row["id"], "team"))

        return await self._write(job)

    async def delete_team(self, team: str) -> None:
        def job(conn: Db) -> None:
            row = _team_row(conn, team, "team")
            if row["id"] == DEFAULT_TEAM_ID:
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

    # Integrations

    async def create_integration(
        self, integration: NewIntegration, key_hash: str, now: datetime, new_id: str
    ) -> Integration:
        def job(conn: Db) -> Integration:
            owner = _team_row(conn, integration.team or DEFAULT_TEAM_ID, "team")
            assignee = owner
            if integration.assignee_team:
                assignee = _team_row(conn, integration.assignee_team, "assignee_team")
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
                params = (_team_row(conn, team, "team")["id"],)
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
                owner = _team_row(conn, changes.team, "team")["id"]
            assignee = row["assignee_team_id"]
            if "assignee_team" in fields:
                given = changes.assignee_team
                assignee = _team_row(conn, given, "assignee_team")["id"] if given else owner
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

    async def ingest_sns(
        self,
        delivery: SnsDelivery,
        key_hash: str,
        action: Callable[[IntegrationType], IngestAction] | None,
        actor: Actor,
        now: datetime,
        new_id: str,
    ) -> IngestResult:
        def job(conn: Db) -> IngestResult:
            row = _accepting_integration(conn, delivery, key_hash, pin=action is not None)
            seen = conn.execute(
                "SELECT alert_id FROM sns_messages WHERE integration_id = ? AND message_id = ?",
                (row["id"], delivery.message_id),
            ).fetchone()
            if action is None:
                return IngestResult(duplicate=seen is not None, alert=None, deduplicated=False)
            if seen is not None:
                earlier = None
                if seen["alert_id"] is not None:
                    earlier = _alert(_alert_row(conn, AlertRef(RefKind.ID, seen["alert_id"])))
                return IngestResult(duplicate=True, alert=earlier, deduplicated=False)
            outcome = rules.decide(row["rules"], action(IntegrationType(row["type"])))
            result = IngestResult(duplicate=False, alert=None, deduplicated=False)
            for index, taken in enumerate(outcome.actions):
                routed = dataclasses.replace(
                    taken.alert, owner_team=row["assignee_team_id"], integration=row["name"]
                )
                done = _take(conn, taken, routed, Actor(actor.user, taken.note), now, new_id)
                if index == 0 or result.alert is None:
                    result = done
            conn.execute(
                "INSERT INTO sns_messages (integration_id, message_id, alert_id, received_at) "
                "VALUES (?, ?, ?, ?)",
                (
                    row["id"],
                    delivery.message_id,
                    None if result.alert is None else result.alert.id,
                    to_micros(now),
                ),
            )
            return result

        return await self._write(job)

    # Tokens

    async def create_token(
        self, name: str, secret_hash: str, now: datetime, new_id: str
    ) -> TokenInfo:
        def job(conn: Db) -> TokenInfo:
            # Under a lock on the name, and looking at the latest commits: two replicas
            # creating the same name at once must not both succeed.
            if conn.dialect.name_lock:
                conn.execute(conn.dialect.name_lock, (f"api token {name}",))
            taken = conn.execute(
                "SELECT 1 FROM api_tokens WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone()
            if taken is not None:
                raise AlreadyExists(
                    f"name: an active token named {name!r} already exists (changes made with a "
                    "token are recorded under its name); choose another name or revoke that one"
                )
            return _insert_token(conn, name, secret_hash, now, new_id)

        return await self._claim(job)

    async def create_first_token(
        self,
        name: str,
        secret_hash: str,
        now: datetime,
        new_id: str,
        keep_secret: Callable[[], None],
    ) -> TokenInfo | None:
        def job(conn: Db) -> TokenInfo | None:
            # Replicas starting together take turns here, and each looks at what the one
            # before it committed (a claim sees the latest commits, not an older snapshot).
            if conn.dialect.name_lock:
                conn.execute(conn.dialect.name_lock, ("first api token",))
            if conn.execute("SELECT 1 FROM api_tokens LIMIT 1").fetchone() is not None:
                return None
            keep_secret()  # only the replica that makes the token writes its secret
            return _insert_token(conn, name, secret_hash, now, new_id)

        return await self._claim(job)

    async def list_tokens(self) -> Sequence[TokenInfo]:
        return await self._read(
            lambda conn: [
                _token(row)
                for row in conn.execute("SELECT * FROM api_tokens ORDER BY created_at, id")
            ]
        )

    async def revoke_token(self, token_id: str, now: datetime) -> TokenInfo:
        def job(conn: Db) -> TokenInfo:
            row = conn.execute("SELECT * FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise NotFound(f"no token with id {shown(token_id)}")
            if row["revoked_at"] is not None:
                return _token(row)
            # Locked: two replicas revoking the last two tokens at once must not both succeed.
            active = conn.execute(
                "SELECT id FROM api_tokens WHERE revoked_at IS NULL"
                + conn.dialect.lock_rows("api_tokens")
            ).fetchall()
            if not [r for r in active if r["id"] != token_id]:
                raise FailedPrecondition(
                    "this is the last active token; create another before revoking it"
                )
            conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (to_micros(now), token_id)
            )
            return TokenInfo(row["id"], row["name"], from_micros(row["created_at"]), now)

        return await self._write(job)

    async def find_token(self, secret_hash: str) -> TokenInfo | None:
        def job(conn: Db) -> TokenInfo | None:
            row = conn.execute(
                "SELECT * FROM api_tokens WHERE secret_hash = ? AND revoked_at IS NULL",
                (secret_hash,),
            ).fetchone()
            return None if row is None else _token(row)

        return await self._read(job)


def _create_alert(
    conn: Db, alert: NewAlert, actor: Actor, now: datetime, new_id: str, *, strict: bool = True
) -> CreateResult:
    """Creates the alert, or counts it into the open one with its alias and team. A caller's
    responder that names nothing is refused (`strict`); one set by an integration's rules is
    noted on the alert instead, since its delivery cannot be told and must not be lost."""
    if strict:
        unknown = resolve_responders(conn, alert.responders)
        if unknown.missing:
            index, responder = unknown.missing_at[0], alert.responders[unknown.missing_at[0]]
            raise InvalidArgument(
                f"responders[{index}]", f"no {responder.type} named {responder.name!r}"
            )
    alias = alert.alias or new_id
    row = _team_with_open_alias(conn, alert.owner_team or DEFAULT_TEAM_ID, alias)
    if row["id"] is not None:
        before = _alert(row)
        transition = lifecycle.deduplicate(before, now)
        _write_transition(conn, before, transition, actor, now)
        return CreateResult(transition.alert, deduplicated=True)

    def fresh(tiny_id: int) -> Alert:
        return lifecycle.new(alert, new_id, tiny_id, row["owner_id"], row["team_name"], now)

    tiny_id = conn.execute(
        f"INSERT INTO alerts (id, alias, {', '.join(_MUTABLE)}) "
        f"VALUES (?, ?, {', '.join('?' * len(_MUTABLE))}) RETURNING tiny_id",
        (new_id, alias, *_mutable_columns(fresh(0))),
    ).fetchone()[0]  # the tiny id, assigned by the insert
    created = fresh(tiny_id)
    # The policy is snapshotted in the transaction that creates the alert: nothing that
    # happens to the policy afterwards changes whom this alert pages.
    routed, notes, plan = start_escalation(conn, created, now)
    if notes:
        log.warning(
            "alert %s names responders that do not exist: %s",
            created.tiny_id, ", ".join(str(n.after["responder"]) for n in notes),
        )  # fmt: skip
    entry = lifecycle.created(created)
    entry = dataclasses.replace(entry, after={**entry.after, **routed})
    _insert_activity(conn, created.id, (entry,), actor, now)
    _insert_activity(conn, created.id, notes, ENGINE, now)
    return CreateResult(created, deduplicated=False, paging=plan)


# Rows and values


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_TEAM_AND_OPEN_ALIAS = (
    "SELECT a.*, t.id AS owner_id, t.name AS team_name FROM teams t "
    "LEFT JOIN alerts a ON a.team_id = t.id AND a.alias = ? AND a.status = 'open' WHERE t."
)


def _insert_token(conn: Db, name: str, secret_hash: str, now: datetime, new_id: str) -> TokenInfo:
    conn.execute(
        "INSERT INTO api_tokens (id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)",
        (new_id, name, secret_hash, to_micros(now)),
    )
    return TokenInfo(new_id, name, now, None)


def _team_with_open_alias(conn: Db, team: str, alias: str) -> Row:
    """The team (by id or name) and, in the same row, its open alert with `alias` if any:
    one statement where creating an alert needs two answers."""
    row: Row | None = conn.execute(_TEAM_AND_OPEN_ALIAS + "id = ?", (alias, team)).fetchone()
    if row is None:
        row = conn.execute(_TEAM_AND_OPEN_ALIAS + "name_key = ?", (alias, team.lower())).fetchone()
    if row is None:
        raise NotFound(f"owner_team: no team named {shown(team)}")
    return row


def _team_row(conn: Db, team: str, field: str) -> Row:
    """By id first, then by name: two indexed look-ups beat one OR that scans."""
    row: Row | None = conn.execute("SELECT * FROM teams WHERE id = ?", (team,)).fetchone()
    if row is None:
        row = conn.execute("SELECT * FROM teams WHERE name_key = ?", (team.lower(),)).fetchone()
    if row is None:
        raise NotFound(f"{field}: no team named {shown(team)}")
    return row


_INTEGRATION_SELECT = (
    "SELECT i.*, owner.name AS owner_name, assignee.name AS assignee_name FROM integrations i "
    "JOIN teams owner ON owner.id = i.team_id "
    "JOIN teams assignee ON assignee.id = i.assignee_team_id"
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


def _take(
    conn: Db,
    action: IngestAction,
    alert: NewAlert,
    actor: Actor,
    now: datetime,
    new_id: str,
) -> IngestResult:
    """One action of a delivery. Acting on the open alert with the alert's alias when there
    is none is no error: an OK may come for an alarm that was closed by hand."""
    if action.kind == "create":
        created = _create_alert(conn, alert, actor, now, new_id, strict=False)
        return IngestResult(False, created.alert, created.deduplicated)
    row = _team_with_open_alias(conn, alert.owner_team, alert.alias)
    if row["id"] is None:
        return IngestResult(duplicate=False, alert=None, deduplicated=False)
    current = _alert(row)
    if action.kind == "close":
        transition = lifecycle.close(current, actor.user, now)
    elif action.kind == "acknowledge":
        transition = lifecycle.acknowledge(current, actor.user, now)
    else:
        transition = lifecycle.add_note(current, actor.note or "(no note)", now)
    _write_transition(conn, current, transition, actor, now)
    return IngestResult(duplicate=False, alert=transition.alert, deduplicated=False)


def _accepting_integration(conn: Db, delivery: SnsDelivery, key_hash: str, *, pin: bool) -> Row:
    """The integration, if the key is its key and it takes this delivery. An integration
    without an allow-list takes the first topic whose subscription is confirmed: with `pin`,
    once SNS has confirmed it, that topic is recorded as the only one it takes."""
    row: Row | None = conn.execute(
        "SELECT * FROM integrations WHERE id = ?", (delivery.integration_id,)
    ).fetchone()
    if row is None or not hmac.compare_digest(row["key_hash"], key_hash):
        raise NotFound("no integration with this id and API key")
    if not row["enabled"]:
        raise PermissionDenied(f"integration {row['name']!r} is disabled")
    if delivery.signature_version < row["min_signature_version"]:
        raise PermissionDenied(
            f"SignatureVersion {delivery.signature_version} is below the minimum "
            f"{row['min_signature_version']} of integration {row['name']!r}"
        )
    allowed = json.loads(row["topic_arns"]) or [row["pinned_topic_arn"]]
    if delivery.topic_arn in allowed:
        return row
    pinning = (
        not row["pinned_topic_arn"]
        and allowed == [""]
        and delivery.type is SnsType.SUBSCRIPTION_CONFIRMATION
    )
    if not pinning:
        raise PermissionDenied(
            f"topic {delivery.topic_arn} is not accepted by integration {row['name']!r}"
        )
    if not pin:
        return row
    conn.execute(
        "UPDATE integrations SET pinned_topic_arn = ? WHERE id = ?",
        (delivery.topic_arn, row["id"]),
    )
    return row


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


def _team(row: Row) -> Team:
    return Team(row["id"], row["name"], row["description"], from_micros(row["created_at"]))


def _token(row: Row) -> TokenInfo:
    revoked = row["revoked_at"]
    return TokenInfo(
        row["id"],
        row["name"],
        from_micros(row["created_at"]),
        None if revoked is None else from_micros(revoked),
    )


def _alert_row(conn: Db, ref: AlertRef) -> Row:
    row: Row | None
    if ref.kind is RefKind.ID:
        row = conn.execute(f"{_ALERT_SELECT} WHERE a.id = ?", (ref.value,)).fetchone()
    elif ref.kind is RefKind.TINY_ID:
        tiny_id = validation.sequence_number("ref.tiny_id", ref.value)
        row = conn.execute(f"{_ALERT_SELECT} WHERE a.tiny_id = ?", (tiny_id,)).fetchone()
    else:
        team = _team_row(conn, ref.team or DEFAULT_TEAM_ID, "ref.team")
        row = conn.execute(
            f"{_ALERT_SELECT} WHERE a.team_id = ? AND a.alias = ? "
            "ORDER BY a.status = 'open' DESC, a.created_at DESC LIMIT 1",
            (team["id"], ref.value),
        ).fetchone()
    if row is None:
        raise NotFound(f"no alert with {ref.describe()}")
    return row


def _tuple(text: str) -> tuple[Any, ...]:
    # Most alerts' lists are empty: skip the decoder for them (every page reads its alert).
    return () if text == "[]" else tuple(json.loads(text))


def _alert(row: Row) -> Alert:
    snoozed = row["snoozed_until"]
    return Alert(
        id=row["id"],
        tiny_id=row["tiny_id"],
        alias=row["alias"],
        message=row["message"],
        description=row["description"],
        tags=_tuple(row["tags"]),
        details={} if row["details"] == "{}" else json.loads(row["details"]),
        entity=row["entity"],
        source=row["source"],
        priority=Priority(row["priority"]),
        responders=tuple(Responder(r["type"], r["name"]) for r in _tuple(row["responders"])),
        actions=_tuple(row["actions"]),
        status=Status(row["status"]),
        acknowledged=bool(row["acknowledged"]),
        snoozed_until=None if snoozed is None else from_micros(snoozed),
        count=row["count"],
        created_at=from_micros(row["created_at"]),
        updated_at=from_micros(row["updated_at"]),
        last_occurred_at=from_micros(row["last_occurred_at"]),
        owner_team_id=row["team_id"],
        owner_team=row["team_name"],
        integration=row["integration"],
        acknowledged_by=row["acknowledged_by"],
        closed_by=row["closed_by"],
    )


_MUTABLE = [
    "message",
    "description",
    "tags",
    "details",
    "entity",
    "source",
    "priority",
    "responders",
    "actions",
    "status",
    "acknowledged",
    "snoozed_until",
    "count",
    "created_at",
    "updated_at",
    "last_occurred_at",
    "team_id",
    "integration",
    "acknowledged_by",
    "closed_by",
]


def _mutable_columns(alert: Alert) -> tuple[object, ...]:
    """Column values in `_MUTABLE` order."""
    return (
        alert.message,
        alert.description,
        _json_list(alert.tags),
        json.dumps(dict(alert.details)) if alert.details else "{}",
        alert.entity,
        alert.source,
        int(alert.priority),
        _json_list([{"type": r.type, "name": r.name} for r in alert.responders]),
        _json_list(alert.actions),
        alert.status.value,
        alert.acknowledged,
        None if alert.snoozed_until is None else to_micros(alert.snoozed_until),
        alert.count,
        to_micros(alert.created_at),
        to_micros(alert.updated_at),
        to_micros(alert.last_occurred_at),
        alert.owner_team_id,
        alert.integration,
        alert.acknowledged_by,
        alert.closed_by,
    )


def _json_list(items: Sequence[object]) -> str:
    return json.dumps(list(items)) if items else "[]"  # most lists are empty; skip the encoder


def _write_transition(
    conn: Db,
    before: Alert,
    transition: Transition,
    actor: Actor,
    now: datetime,
    *,
    react: bool = True,
) -> None:
    """Saves a change to the alert and, unless the engine made it (`react` False), what it
    does to the escalation: acknowledging cancels pending pages in this same transaction."""
    if not transition.changes:
        return
    alert = transition.alert
    assignments = ", ".join(f"{column} = ?" for column in _MUTABLE)
    conn.execute(
        f"UPDATE alerts SET {assignments} WHERE id = ?", (*_mutable_columns(alert), alert.id)
    )
    _insert_activity(conn, alert.id, transition.changes, actor, now)
    if react:
        _insert_activity(conn, alert.id, react_to_change(conn, before, alert, now), ENGINE, now)


def _insert_activity(
    conn: Db,
    alert_id: str,
    changes: Sequence[Change],
    actor: Actor,
    now: datetime,
) -> None:
    if not changes:
        return
    # The caller's note goes with the first entry of what their call did.
    rows = [
        (
            alert_id,
            to_micros(now),
            actor.user,
            change.action,
            actor.note if index == 0 else "",
            json.dumps(dict(change.before)),
            json.dumps(dict(change.after)),
        )
        for index, change in enumerate(changes)
    ]
    sql = (
        "INSERT INTO activity (alert_id, at, actor, action, note, before, after) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    conn.append_feed(sql, rows)


def _entry(row: Row) -> ActivityEntry:
    return ActivityEntry(
        seq=row["seq"],
        alert_id=row["alert_id"],
        at=from_micros(row["at"]),
        actor=row["actor"],
        action=row["action"],
        note=row["note"],
        before=json.loads(row["before"]),
        after=json.loads(row["after"]),
    )


def _query_fingerprint(query: AlertQuery) -> str:
    """The same for the same query in any process: sets are sorted, instants are numbers."""
    f = query.filter
    canonical = [
        sorted(status.value for status in f.statuses),
        f.acknowledged,
        f.snoozed,
        sorted(int(priority) for priority in f.priorities),
        list(f.tags),
        f.team,
        f.text,
        None if f.created_after is None else to_micros(f.created_after),
        None if f.created_before is None else to_micros(f.created_before),
        query.sort.value,
        query.descending,
    ]
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()[:16]


def _encode_token(position: list[Any], scope: str) -> str:
    raw = json.dumps({"p": position, "s": scope}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, scope: str, shape: tuple[type, ...]) -> list[Any]:
    """The position a page token holds, checked value by value against `shape`: a token is
    input like any other, and a forged one must not reach the SQL."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        position = data["p"]
        if data["s"] != scope or not isinstance(position, list) or len(position) != len(shape):
            raise ValueError(scope)
        for value, kind in zip(position, shape, strict=True):
            if type(value) is not kind or (isinstance(value, int) and abs(value) > INT64_MAX):
                raise ValueError(value)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(
            "page_token", "is not a token this service issued for this query"
        ) from exc
    return position


def _list_alerts(conn: Db, query: AlertQuery) -> Page[Alert]:
    where: list[str] = []
    params: list[object] = []
    f = query.filter
    if f.statuses:
        where.append(f"a.status IN ({', '.join('?' * len(f.statuses))})")
        params.extend(sorted(s.value for s in f.statuses))
    if f.acknowledged is not None:
        where.append("a.acknowledged = ?")
        params.append(f.acknowledged)
    if f.snoozed is not None:
        where.append("a.snoozed_until IS NOT NULL" if f.snoozed else "a.snoozed_until IS NULL")
    if f.priorities:
        where.append(f"a.priority IN ({', '.join('?' * len(f.priorities))})")
        params.extend(sorted(int(p) for p in f.priorities))
    for tag in f.tags:
        where.append(conn.dialect.json_list_holds.format(column="a.tags"))
        params.append(tag)
    if f.team:
        where.append("a.team_id = ?")
        params.append(_team_row(conn, f.team, "filter.team")["id"])
    if f.text:
        where.append(conn.dialect.contains_text.format(haystack="a.message"))
        params.append(f.text)
    if f.created_after is not None:
        where.append("a.created_at >= ?")
        params.append(to_micros(f.created_after))
    if f.created_before is not None:
        where.append("a.created_at < ?")
        params.append(to_micros(f.created_before))

    column = _SORT_COLUMNS[query.sort]
    direction = "DESC" if query.descending else "ASC"
    scope = f"alerts:{_query_fingerprint(query)}"
    if query.page_token:
        position = _decode_token(query.page_token, scope, (int, str))
        where.append(f"({column}, a.id) {'<' if query.descending else '>'} (?, ?)")
        params.extend(position)
    sql = _ALERT_SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {column} {direction}, a.id {direction} LIMIT ?"
    rows = conn.execute(sql, (*params, query.page_size + 1)).fetchall()
    alerts = tuple(_alert(row) for row in rows[: query.page_size])
    token = ""
    if len(rows) > query.page_size:
        last = rows[query.page_size - 1]
        token = _encode_token([last[column.removeprefix("a.")], last["id"]], scope)
    return Page(alerts, token)
