"""The embedded store: one SQLite file in WAL mode, durable at every commit.

Writes are group-committed: whatever is queued shares one transaction, so one fsync serves
many callers, and each caller's work runs in its own savepoint so one failure never spoils
the others. Reads run on a few reader threads, each with its own connection; WAL lets them
proceed while the writer commits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from service import lifecycle, rules, validation
from service.clock import Clock, from_micros, to_micros
from service.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    TocsinError,
    Unavailable,
)
from service.migrations import DEFAULT_TEAM_ID, LATEST_VERSION, MIGRATIONS
from service.model import (
    ActivityEntry,
    Actor,
    Alert,
    AlertEvent,
    AlertQuery,
    AlertRef,
    Change,
    CreateResult,
    IngestAction,
    IngestResult,
    Integration,
    IntegrationType,
    NewAlert,
    NewIntegration,
    Page,
    Priority,
    RefKind,
    Responder,
    SnsDelivery,
    SnsType,
    SortField,
    Status,
    Team,
    TokenInfo,
    Transition,
)
from service.sqlite_directory import SQLiteDirectory, refuse_if_paged
from service.sqlite_inbound import SQLiteInbound
from service.sqlite_paging import ENGINE, SQLitePaging, start_escalation
from service.sqlite_paging import react as react_to_change
from service.store import Step
from service.validation import INT64_MAX

log = logging.getLogger(__name__)

R = TypeVar("R")
Job = Callable[[sqlite3.Connection], R]

_ALERT_SELECT = "SELECT a.*, t.name AS team_name FROM alerts a JOIN teams t ON t.id = a.team_id"
_SORT_COLUMNS = {
    SortField.CREATED_AT: "a.created_at",
    SortField.UPDATED_AT: "a.updated_at",
    SortField.LAST_OCCURRED_AT: "a.last_occurred_at",
    SortField.TINY_ID: "a.tiny_id",
    SortField.PRIORITY: "a.priority",
    SortField.COUNT: "a.count",
}


BUSY_TIMEOUT_MS = 30_000


def _connect(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous = FULL")  # an acknowledged commit survives power loss
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    return conn


class _JobFailedError(Exception):
    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


@dataclass
class _Queued:
    job: Job[Any]
    future: asyncio.Future[Any]


class _Writer:
    """Group commit on the event loop: every write queued meanwhile shares one transaction.

    The jobs' SQL runs on the loop itself (it is quick, and a thread hop per write costs more
    than the write); only the COMMIT, which waits for the disk, goes to a thread. While it does,
    new writes queue up and form the next batch, so one fsync serves many callers.
    """

    def __init__(
        self, conn: sqlite3.Connection, on_commit: Callable[[], None], batch_max: int
    ) -> None:
        self._conn = conn
        self._on_commit = on_commit
        self._batch_max = batch_max
        self._pending: list[_Queued] = []
        self._wakeup = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tocsin-sqlite-writer")

    async def submit(self, job: Job[R]) -> R:
        if self._closed:
            raise Unavailable("the store is closed")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append(_Queued(job, future))
        self._wakeup.set()
        return await future

    async def stop(self) -> None:
        """Finishes what is queued, then closes the connection."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        await asyncio.to_thread(self._conn.close)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self._batch_max]
                del self._pending[: self._batch_max]
                await self._run_batch(batch)
            if self._closed:
                return

    async def _run_batch(self, batch: list[_Queued]) -> None:
        remaining = list(batch)
        while remaining:
            try:
                await self._begin()
                outcomes = [self._run_job(index, item.job) for index, item in enumerate(remaining)]
                await asyncio.to_thread(self._conn.execute, "COMMIT")
            except _JobFailedError as failed:
                # Undo the whole batch, answer the failed caller, and redo the others: their
                # jobs are functions of the database, and nobody has been answered yet.
                self._rollback()
                culprit = remaining.pop(failed.index)
                _settle(culprit.future, False, _store_error(failed.error))
                continue
            except Exception as exc:
                # BEGIN or COMMIT failed (or something unforeseen): nothing of the batch is
                # written, every caller hears so, and the writer lives on for the next batch.
                log.error("database transaction failed; nothing of it was written: %s", exc)
                self._rollback()
                failure = Unavailable(f"the database could not commit: {exc}")
                outcomes = [(False, failure)] * len(remaining)
            for item, (ok, value) in zip(remaining, outcomes, strict=True):
                _settle(item.future, ok, value)
            self._on_commit()
            return

    def _run_job(self, index: int, job: Job[Any]) -> tuple[bool, Any]:
        """Runs one caller's work inside the batch's transaction.

        A job refuses (raises a domain error) before it writes, so a refusal needs no undo;
        that is checked, not assumed. Any other failure, or a refusal after a write, undoes
        the batch (no savepoint per job: two statements each, on the hottest path).
        """
        changes_before = self._conn.total_changes
        try:
            return True, job(self._conn)
        except TocsinError as exc:
            if self._conn.total_changes != changes_before:
                raise _JobFailedError(index, exc) from exc
            return False, exc
        except Exception as exc:
            raise _JobFailedError(index, exc) from exc

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    async def _begin(self) -> None:
        """Takes the write lock at once when it is free (always, unless another process
        writes to the same file); otherwise waits for it off the loop."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            await asyncio.to_thread(self._begin_waiting)

    def _begin_waiting(self) -> None:
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        finally:
            self._conn.execute("PRAGMA busy_timeout = 0")


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _store_error(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.OperationalError):
        return Unavailable(f"the database failed: {exc}")
    return exc


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


class SQLiteStore(SQLiteDirectory, SQLitePaging, SQLiteInbound):
    def __init__(self, path: Path, clock: Clock, *, readers: int = 4, batch_max: int = 256) -> None:
        self._path = path
        self._clock = clock  # only to date the schema migrations it applies
        self._readers = readers
        self._batch_max = batch_max
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._writer: _Writer | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._signal: _ChangeSignal | None = None

    # Life cycle

    async def open(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Unavailable(f"cannot create {self._path.parent}: {exc.strerror}") from exc
        await asyncio.to_thread(self._migrate, self._clock.now())
        self._signal = _ChangeSignal()
        # The writer never waits for the lock on the event loop (see _Writer._begin).
        try:
            conn = await asyncio.to_thread(_connect, self._path, 0)
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open the database {self._path}: {exc}") from exc
        self._writer = _Writer(conn, self._signal.fire, self._batch_max)
        self._writer.start()
        self._executor = ThreadPoolExecutor(self._readers, thread_name_prefix="tocsin-sqlite-read")

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    def _migrate(self, now: datetime) -> None:
        try:
            conn = _connect(self._path)
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open the database {self._path}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
            )
            current = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] or 0
            if current > LATEST_VERSION:
                conn.execute("ROLLBACK")
                raise FailedPrecondition(
                    f"the database {self._path} has schema version {current}, newer than this "
                    f"Tocsin knows ({LATEST_VERSION}); run a newer Tocsin"
                )
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, to_micros(now)),
                )
                log.info("applied migration %d: %s", migration.version, migration.name)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open the database {self._path}: {exc}") from exc
        finally:
            conn.close()

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    # Plumbing

    async def _write(self, job: Job[R]) -> R:
        if self._writer is None:
            raise Unavailable("the store is not open")
        return await self._writer.submit(job)

    async def _read(self, job: Job[R]) -> R:
        if self._executor is None:
            raise Unavailable("the store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_read, job)

    def _run_read(self, job: Job[R]) -> R:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self._path)
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        try:
            conn.execute("BEGIN")  # one snapshot for every statement of the read
            try:
                return job(conn)
            finally:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"the database failed: {exc}") from exc

    # What the paging tables share with the alerts

    def _load_alert(self, conn: sqlite3.Connection, alert_id: str) -> Alert:
        return _alert(_alert_row(conn, AlertRef(RefKind.ID, alert_id)))

    def _log(
        self, conn: sqlite3.Connection, alert_id: str, changes: Sequence[Change], now: datetime
    ) -> None:
        _insert_activity(conn, alert_id, changes, ENGINE, now)

    def _save_alert(self, conn: sqlite3.Connection, transition: Transition, now: datetime) -> None:
        _write_transition(conn, transition.alert, transition, ENGINE, now, react=False)

    # Alerts

    async def create_alert(
        self, alert: NewAlert, actor: Actor, now: datetime, new_id: str
    ) -> CreateResult:
        return await self._write(lambda conn: _create_alert(conn, alert, actor, now, new_id))

    async def update_alert(
        self, ref: AlertRef, step: Step, actor: Actor, now: datetime
    ) -> Transition:
        def job(conn: sqlite3.Connection) -> Transition:
            before = _alert(_alert_row(conn, ref))
            transition = step(before)
            _write_transition(conn, before, transition, actor, now)
            return transition

        return await self._write(job)

    async def get_alert(self, ref: AlertRef) -> Alert:
        return await self._read(lambda conn: _alert(_alert_row(conn, ref)))

    async def list_alerts(self, query: AlertQuery) -> Page[Alert]:
        return await self._read(lambda conn: _list_alerts(conn, query))

    async def list_activity(
        self, ref: AlertRef, page_size: int, page_token: str
    ) -> Page[ActivityEntry]:
        def job(conn: sqlite3.Connection) -> Page[ActivityEntry]:
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
        def job(conn: sqlite3.Connection) -> list[str]:
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
        def job(conn: sqlite3.Connection) -> list[AlertEvent]:
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
            ids = sorted({entry.alert_id for entry in entries})
            alerts: dict[str, Alert] = {}
            for chunk in _chunks(ids, 500):
                marks = ", ".join("?" * len(chunk))
                for row in conn.execute(f"{_ALERT_SELECT} WHERE a.id IN ({marks})", chunk):
                    alerts[row["id"]] = _alert(row)
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
        def job(conn: sqlite3.Connection) -> Team:
            try:
                conn.execute(
                    "INSERT INTO teams (id, name, name_key, description, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (new_id, name, name.lower(), description, to_micros(now)),
                )
            except sqlite3.IntegrityError as exc:
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
        def job(conn: sqlite3.Connection) -> Team:
            row = _team_row(conn, team, "team")
            if row["id"] == DEFAULT_TEAM_ID:
                raise FailedPrecondition("the default team cannot be renamed")
            try:
                conn.execute(
                    "UPDATE teams SET name = ?, name_key = ? WHERE id = ?",
                    (new_name, new_name.lower(), row["id"]),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"a team named {new_name!r} already exists") from exc
            return _team(_team_row(conn, row["id"], "team"))

        return await self._write(job)

    async def delete_team(self, team: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            row = _team_row(conn, team, "team")
            if row["id"] == DEFAULT_TEAM_ID:
                raise FailedPrecondition("the default team cannot be deleted")
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

        await self._write(job)

    # Integrations

    async def create_integration(
        self, integration: NewIntegration, key_hash: str, now: datetime, new_id: str
    ) -> Integration:
        def job(conn: sqlite3.Connection) -> Integration:
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
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(
                    f"an integration named {integration.name!r} already exists"
                ) from exc
            return _integration(_integration_row(conn, new_id))

        return await self._write(job)

    async def list_integrations(self, team: str) -> Sequence[Integration]:
        def job(conn: sqlite3.Connection) -> list[Integration]:
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
        def job(conn: sqlite3.Connection) -> Integration:
            row = _integration_row(conn, integration)
            conn.execute("UPDATE integrations SET enabled = ? WHERE id = ?", (enabled, row["id"]))
            return _integration(_integration_row(conn, row["id"]))

        return await self._write(job)

    async def rotate_integration_key(self, integration: str, key_hash: str) -> Integration:
        def job(conn: sqlite3.Connection) -> Integration:
            row = _integration_row(conn, integration)
            conn.execute("UPDATE integrations SET key_hash = ? WHERE id = ?", (key_hash, row["id"]))
            return _integration(row)

        return await self._write(job)

    async def set_integration_rules(self, integration: str, rules_json: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            row = _integration_row(conn, integration)
            conn.execute("UPDATE integrations SET rules = ? WHERE id = ?", (rules_json, row["id"]))

        await self._write(job)

    async def get_integration_rules(self, integration: str) -> str:
        return await self._read(lambda conn: str(_integration_row(conn, integration)["rules"]))

    async def delete_integration(self, integration: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            row = _integration_row(conn, integration)
            conn.execute("DELETE FROM integrations WHERE id = ?", (row["id"],))

        await self._write(job)

    async def ingest_sns(
        self,
        delivery: SnsDelivery,
        key_hash: str,
        action: IngestAction | None,
        actor: Actor,
        now: datetime,
        new_id: str,
    ) -> IngestResult:
        def job(conn: sqlite3.Connection) -> IngestResult:
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
            outcome = rules.apply(rules.stored(row["rules"]), action)
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
        def job(conn: sqlite3.Connection) -> TokenInfo:
            conn.execute(
                "INSERT INTO api_tokens (id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)",
                (new_id, name, secret_hash, to_micros(now)),
            )
            return TokenInfo(new_id, name, now, None)

        return await self._write(job)

    async def list_tokens(self) -> Sequence[TokenInfo]:
        return await self._read(
            lambda conn: [
                _token(row) for row in conn.execute("SELECT * FROM api_tokens ORDER BY created_at")
            ]
        )

    async def revoke_token(self, token_id: str, now: datetime) -> TokenInfo:
        def job(conn: sqlite3.Connection) -> TokenInfo:
            row = conn.execute("SELECT * FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise NotFound(f"no token with id {token_id!r}")
            if row["revoked_at"] is not None:
                return _token(row)
            others = conn.execute(
                "SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL AND id != ?",
                (token_id,),
            ).fetchone()[0]
            if not others:
                raise FailedPrecondition(
                    "this is the last active token; create another before revoking it"
                )
            conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (to_micros(now), token_id)
            )
            return TokenInfo(row["id"], row["name"], from_micros(row["created_at"]), now)

        return await self._write(job)

    async def find_token(self, secret_hash: str) -> TokenInfo | None:
        def job(conn: sqlite3.Connection) -> TokenInfo | None:
            row = conn.execute(
                "SELECT * FROM api_tokens WHERE secret_hash = ? AND revoked_at IS NULL",
                (secret_hash,),
            ).fetchone()
            return None if row is None else _token(row)

        return await self._read(job)


def _create_alert(
    conn: sqlite3.Connection, alert: NewAlert, actor: Actor, now: datetime, new_id: str
) -> CreateResult:
    """Creates the alert, or counts it into the open one with its alias and team."""
    alias = alert.alias or new_id
    row = _team_with_open_alias(conn, alert.owner_team or DEFAULT_TEAM_ID, alias)
    if row["id"] is not None:
        before = _alert(row)
        transition = lifecycle.deduplicate(before, now)
        _write_transition(conn, before, transition, actor, now)
        return CreateResult(transition.alert, deduplicated=True)

    def fresh(tiny_id: int) -> Alert:
        return Alert(
            id=new_id,
            tiny_id=tiny_id,
            alias=alias,
            message=alert.message,
            description=alert.description,
            tags=alert.tags,
            details=dict(alert.details),
            entity=alert.entity,
            source=alert.source,
            priority=alert.priority,
            responders=alert.responders,
            actions=alert.actions,
            status=Status.OPEN,
            acknowledged=False,
            snoozed_until=None,
            count=1,
            created_at=now,
            updated_at=now,
            last_occurred_at=now,
            owner_team_id=row["owner_id"],
            owner_team=row["team_name"],
            integration=alert.integration,
            acknowledged_by="",
            closed_by="",
        )

    cursor = conn.execute(
        f"INSERT INTO alerts (id, alias, {', '.join(_MUTABLE)}) "
        f"VALUES (?, ?, {', '.join('?' * len(_MUTABLE))})",
        (new_id, alias, *_mutable_columns(fresh(0))),
    )
    assert cursor.lastrowid is not None  # the tiny id, assigned by the insert
    created = fresh(cursor.lastrowid)
    # The policy is snapshotted in the transaction that creates the alert: nothing that
    # happens to the policy afterwards changes whom this alert pages.
    routed, notes = start_escalation(conn, created, now)
    entry = lifecycle.created(created)
    entry = dataclasses.replace(entry, after={**entry.after, **routed})
    _insert_activity(conn, created.id, (entry,), actor, now)
    _insert_activity(conn, created.id, notes, ENGINE, now)
    return CreateResult(created, deduplicated=False)


# Rows and values


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_TEAM_AND_OPEN_ALIAS = (
    "SELECT a.*, t.id AS owner_id, t.name AS team_name FROM teams t "
    "LEFT JOIN alerts a ON a.team_id = t.id AND a.alias = ? AND a.status = 'open' WHERE t."
)


def _team_with_open_alias(conn: sqlite3.Connection, team: str, alias: str) -> sqlite3.Row:
    """The team (by id or name) and, in the same row, its open alert with `alias` if any:
    one statement where creating an alert needs two answers."""
    row: sqlite3.Row | None = conn.execute(
        _TEAM_AND_OPEN_ALIAS + "id = ?", (alias, team)
    ).fetchone()
    if row is None:
        row = conn.execute(_TEAM_AND_OPEN_ALIAS + "name_key = ?", (alias, team.lower())).fetchone()
    if row is None:
        raise NotFound(f"owner_team: no team named {team!r}")
    return row


def _team_row(conn: sqlite3.Connection, team: str, field: str) -> sqlite3.Row:
    """By id first, then by name: two indexed look-ups beat one OR that scans."""
    row: sqlite3.Row | None = conn.execute("SELECT * FROM teams WHERE id = ?", (team,)).fetchone()
    if row is None:
        row = conn.execute("SELECT * FROM teams WHERE name_key = ?", (team.lower(),)).fetchone()
    if row is None:
        raise NotFound(f"{field}: no team named {team!r}")
    return row


_INTEGRATION_SELECT = (
    "SELECT i.*, owner.name AS owner_name, assignee.name AS assignee_name FROM integrations i "
    "JOIN teams owner ON owner.id = i.team_id "
    "JOIN teams assignee ON assignee.id = i.assignee_team_id"
)


def _integration_row(conn: sqlite3.Connection, integration: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        f"{_INTEGRATION_SELECT} WHERE i.id = ?", (integration,)
    ).fetchone()
    if row is None:
        row = conn.execute(
            f"{_INTEGRATION_SELECT} WHERE i.name_key = ?", (integration.lower(),)
        ).fetchone()
    if row is None:
        raise NotFound(f"no integration named {integration!r}")
    return row


def _take(
    conn: sqlite3.Connection,
    action: IngestAction,
    alert: NewAlert,
    actor: Actor,
    now: datetime,
    new_id: str,
) -> IngestResult:
    """One action of a delivery. Acting on the open alert with the alert's alias when there
    is none is no error: an OK may come for an alarm that was closed by hand."""
    if action.kind == "create":
        created = _create_alert(conn, alert, actor, now, new_id)
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


def _accepting_integration(
    conn: sqlite3.Connection, delivery: SnsDelivery, key_hash: str, *, pin: bool
) -> sqlite3.Row:
    """The integration, if the key is its key and it takes this delivery. An integration
    without an allow-list takes the first topic whose subscription is confirmed: with `pin`,
    once SNS has confirmed it, that topic is recorded as the only one it takes."""
    row: sqlite3.Row | None = conn.execute(
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


def _integration(row: sqlite3.Row) -> Integration:
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


def _team(row: sqlite3.Row) -> Team:
    return Team(row["id"], row["name"], row["description"], from_micros(row["created_at"]))


def _token(row: sqlite3.Row) -> TokenInfo:
    revoked = row["revoked_at"]
    return TokenInfo(
        row["id"],
        row["name"],
        from_micros(row["created_at"]),
        None if revoked is None else from_micros(revoked),
    )


def _alert_row(conn: sqlite3.Connection, ref: AlertRef) -> sqlite3.Row:
    row: sqlite3.Row | None
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


def _alert(row: sqlite3.Row) -> Alert:
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
    conn: sqlite3.Connection,
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
    conn: sqlite3.Connection,
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
    if len(rows) == 1:  # the usual case; executemany costs more for one row
        conn.execute(sql, rows[0])
    else:
        conn.executemany(sql, rows)


def _entry(row: sqlite3.Row) -> ActivityEntry:
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


def _list_alerts(conn: sqlite3.Connection, query: AlertQuery) -> Page[Alert]:
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
        where.append("EXISTS (SELECT 1 FROM json_each(a.tags) WHERE json_each.value = ?)")
        params.append(tag)
    if f.team:
        where.append("a.team_id = ?")
        params.append(_team_row(conn, f.team, "filter.team")["id"])
    if f.text:
        where.append("instr(lower(a.message), lower(?)) > 0")
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
