"""The SQL of alerts: their rows, their activity (the change feed, whose `ChangeSignal` the
backends fire), and listing them a page at a time (see `service.core.database`).

A mixin of `SQLStore`, whose backends supply `_read` and `_write` and fire `_signal` after
each commit. What also starts or moves an escalation in the same transaction (creating an
alert, a change by hand) is composed in `service.db.sql_store`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from service.alerts import fields, page_tokens
from service.alerts.fields import Kind
from service.alerts.model import (
    ActivityEntry,
    Actor,
    Alert,
    AlertEvent,
    AlertQuery,
    AlertRef,
    Change,
    Priority,
    RefKind,
    Responder,
    SortField,
    Status,
    Transition,
)
from service.alerts.signal import ChangeSignal
from service.core import validation
from service.core.clock import from_micros, to_micros
from service.core.database import Db, Row, Transactions
from service.core.errors import NotFound, Unavailable, shown
from service.core.pages import Page
from service.teams.model import DEFAULT_TEAM
from service.teams.owners import team_row

_ALERT_SELECT = "SELECT a.*, t.name AS team_name FROM alerts a JOIN teams t ON t.id = a.team_id"
_SORT_COLUMNS = {
    SortField.CREATED_AT: "a.created_at",
    SortField.UPDATED_AT: "a.updated_at",
    SortField.LAST_OCCURRED_AT: "a.last_occurred_at",
    SortField.TINY_ID: "a.tiny_id",
    SortField.PRIORITY: "a.priority",
    SortField.COUNT: "a.count",
}


class SQLAlerts(Transactions):
    _signal: ChangeSignal | None = None

    async def get_alert(self, ref: AlertRef) -> Alert:
        return await self._read(lambda conn: alert_from(alert_row(conn, ref)))

    async def list_alerts(self, query: AlertQuery) -> Page[Alert]:
        return await self._read(lambda conn: _list_alerts(conn, query))

    async def list_activity(
        self, ref: AlertRef, page_size: int, page_token: str
    ) -> Page[ActivityEntry]:
        def job(conn: Db) -> Page[ActivityEntry]:
            alert_id = alert_row(conn, ref)["id"]
            scope = f"activity:{alert_id}"
            after = page_tokens.decode(page_token, scope, (int,))[0] if page_token else 0
            rows = conn.execute(
                "SELECT * FROM activity WHERE alert_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (alert_id, after, page_size + 1),
            ).fetchall()
            entries = tuple(_entry(row) for row in rows[:page_size])
            token = ""
            if len(rows) > page_size:
                token = page_tokens.encode([entries[-1].seq], scope)
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

    # What the paging tables read of the alerts

    def _load_alert(self, conn: Db, alert_id: str) -> Alert:
        return alert_from(alert_row(conn, AlertRef(RefKind.ID, alert_id)))

    def _load_alerts(self, conn: Db, alert_ids: Sequence[str]) -> dict[str, Alert]:
        """The alerts with these ids, by id (those that exist), in a query per 500."""
        alerts: dict[str, Alert] = {}
        for chunk in _chunks(alert_ids, 500):
            marks = ", ".join("?" * len(chunk))
            for row in conn.execute(f"{_ALERT_SELECT} WHERE a.id IN ({marks})", chunk):
                alerts[row["id"]] = alert_from(row)
        return alerts


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_TEAM_AND_OPEN_ALIAS = (
    "SELECT a.*, t.id AS owner_id, t.name AS team_name FROM teams t "
    "LEFT JOIN alerts a ON a.team_id = t.id AND a.alias = ? AND a.status = 'open' WHERE t."
)


def team_with_open_alias(conn: Db, team: str, alias: str) -> Row:
    """The team (by id or name) and, in the same row, its open alert with `alias` if any:
    one statement where creating an alert needs two answers."""
    row: Row | None = conn.execute(_TEAM_AND_OPEN_ALIAS + "id = ?", (alias, team)).fetchone()
    if row is None:
        row = conn.execute(_TEAM_AND_OPEN_ALIAS + "name_key = ?", (alias, team.lower())).fetchone()
    if row is None:
        raise NotFound(f"owner_team: no team named {shown(team)}")
    return row


def alert_row(conn: Db, ref: AlertRef) -> Row:
    row: Row | None
    if ref.kind is RefKind.ID:
        row = conn.execute(f"{_ALERT_SELECT} WHERE a.id = ?", (ref.value,)).fetchone()
    elif ref.kind is RefKind.TINY_ID:
        tiny_id = validation.sequence_number("ref.tiny_id", ref.value)
        row = conn.execute(f"{_ALERT_SELECT} WHERE a.tiny_id = ?", (tiny_id,)).fetchone()
    else:
        team = team_row(conn, ref.team or DEFAULT_TEAM, "ref.team")
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


def _details(text: str) -> dict[str, str]:
    return {} if text == "{}" else dict(json.loads(text))


def _responders(text: str) -> tuple[Responder, ...]:
    return tuple(Responder(r["type"], r["name"]) for r in _tuple(text))


def _maybe_instant(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _maybe_micros(instant: datetime | None) -> int | None:
    return None if instant is None else to_micros(instant)


# Each kind of field from its column and back (None: as it is), for `fields.ALERT`.
_FROM_COLUMN: dict[Kind, Callable[[Any], Any] | None] = {
    Kind.TEXT: None, Kind.NUMBER: None, Kind.FLAG: bool, Kind.WORDS: _tuple,
    Kind.DETAILS: _details, Kind.PRIORITY: Priority, Kind.RESPONDERS: _responders,
    Kind.STATUS: Status, Kind.INSTANT: from_micros, Kind.MAYBE_INSTANT: _maybe_instant,
}  # fmt: skip
_TO_COLUMN: dict[Kind, Callable[[Any], object] | None] = {
    Kind.TEXT: None, Kind.NUMBER: None, Kind.FLAG: None,
    Kind.WORDS: lambda words: _json_list(words),
    Kind.DETAILS: lambda details: json.dumps(dict(details)) if details else "{}",
    Kind.PRIORITY: int,
    Kind.RESPONDERS: lambda rs: _json_list([{"type": r.type, "name": r.name} for r in rs]),
    Kind.STATUS: lambda status: status.value,
    Kind.INSTANT: to_micros, Kind.MAYBE_INSTANT: _maybe_micros,
}  # fmt: skip
# Where a field's column is named otherwise: the team is stored by id, and its name joined in.
_COLUMN = {"owner_team_id": "team_id", "owner_team": "team_name"}
_READERS = tuple(
    (name, _COLUMN.get(name, name), _FROM_COLUMN[kind]) for name, kind in fields.ALERT.items()
)
# Set once at insert (the id, the alias, and the tiny id the insert assigns) or not a column.
_FIXED = ("id", "tiny_id", "alias", "owner_team")
_WRITERS = tuple(
    (name, _TO_COLUMN[kind]) for name, kind in fields.ALERT.items() if name not in _FIXED
)
_MUTABLE = [_COLUMN.get(name, name) for name, _ in _WRITERS]


def alert_from(row: Row) -> Alert:
    return Alert(
        **{
            name: row[column] if read is None else read(row[column])
            for name, column, read in _READERS
        }
    )


def _mutable_columns(alert: Alert) -> tuple[object, ...]:
    """Column values in `_MUTABLE` order."""
    return tuple(
        getattr(alert, name) if write is None else write(getattr(alert, name))
        for name, write in _WRITERS
    )


def _json_list(items: Sequence[object]) -> str:
    return json.dumps(list(items)) if items else "[]"  # most lists are empty; skip the encoder


def insert_alert(conn: Db, alert_id: str, alias: str, alert: Alert) -> int:
    """Inserts the alert; returns the tiny id the insert assigned it."""
    return int(
        conn.execute(
            f"INSERT INTO alerts (id, alias, {', '.join(_MUTABLE)}) "
            f"VALUES (?, ?, {', '.join('?' * len(_MUTABLE))}) RETURNING tiny_id",
            (alert_id, alias, *_mutable_columns(alert)),
        ).fetchone()[0]
    )


def save_transition(conn: Db, transition: Transition, actor: Actor, now: datetime) -> None:
    """Saves a change to the alert and logs it; nothing, when nothing changed."""
    if not transition.changes:
        return
    alert = transition.alert
    assignments = ", ".join(f"{column} = ?" for column in _MUTABLE)
    conn.execute(
        f"UPDATE alerts SET {assignments} WHERE id = ?", (*_mutable_columns(alert), alert.id)
    )
    insert_activity(conn, alert.id, transition.changes, actor, now)


def insert_activity(
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


def _list_alerts(conn: Db, query: AlertQuery) -> Page[Alert]:
    where, params = _filter(conn, query)
    column = _SORT_COLUMNS[query.sort]
    direction = "DESC" if query.descending else "ASC"
    scope = f"alerts:{page_tokens.query_fingerprint(query)}"
    if query.page_token:
        position = page_tokens.decode(query.page_token, scope, (int, str))
        where.append(f"({column}, a.id) {'<' if query.descending else '>'} (?, ?)")
        params.extend(position)
    sql = _ALERT_SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {column} {direction}, a.id {direction} LIMIT ?"
    rows = conn.execute(sql, (*params, query.page_size + 1)).fetchall()
    alerts = tuple(alert_from(row) for row in rows[: query.page_size])
    token = ""
    if len(rows) > query.page_size:
        last = rows[query.page_size - 1]
        token = page_tokens.encode([last[column.removeprefix("a.")], last["id"]], scope)
    return Page(alerts, token)


def _filter(conn: Db, query: AlertQuery) -> tuple[list[str], list[object]]:
    """The query's filter as WHERE conditions and their parameters."""
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
        params.append(team_row(conn, f.team, "filter.team")["id"])
    if f.text:
        where.append(conn.dialect.contains_text.format(haystack="a.message"))
        params.append(f.text)
    if f.created_after is not None:
        where.append("a.created_at >= ?")
        params.append(to_micros(f.created_after))
    if f.created_before is not None:
        where.append("a.created_at < ?")
        params.append(to_micros(f.created_before))
    return where, params
