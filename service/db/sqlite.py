"""The embedded store: one SQLite file in WAL mode, durable at every commit.

Writes are group-committed: whatever is queued shares one transaction, so one fsync serves
many callers; a job that fails after writing undoes the batch, which is redone without it.
Reads run on a few reader threads, each with its own connection; WAL lets them proceed while
the writer commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from service.alerts.signal import ChangeSignal
from service.core.clock import Clock
from service.core.database import SQLITE, Dialect, Job, R, savepoint
from service.core.errors import TocsinError, Unavailable
from service.db import migrations
from service.db.sql_store import SQLStore

log = logging.getLogger(__name__)


class SQLiteDb(sqlite3.Connection):
    """SQLite's own connection, naming its dialect for the store's SQL."""

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    def savepoint(self) -> contextlib.AbstractContextManager[None]:
        return savepoint(self)

    def append_feed(self, sql: str, rows: Sequence[Sequence[Any]], /) -> None:
        # The one writer's transactions commit in the order they append: nothing to wait for.
        if len(rows) == 1:  # the usual case; executemany costs more for one row
            self.execute(sql, rows[0])
        else:
            self.executemany(sql, rows)


BUSY_TIMEOUT_MS = 30_000


def _connect(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> SQLiteDb:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=SQLiteDb)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous = FULL")  # an acknowledged commit survives power loss
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    return conn


# The database holds token hashes, contact addresses and alert bodies: the owner's alone.
_PRIVATE = 0o600


def _make_private(path: Path) -> None:
    """Creates the database file readable by its owner only, before SQLite first opens it,
    and tightens one an older version left readable by others. SQLite creates the -wal and
    -shm files (on every open, after a clean close removed them) with the database file's
    own mode, so this is what makes them private too; the umask is not touched, as it is the
    whole process's. Existing -wal and -shm files are tightened here as well."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, _PRIVATE))
    except OSError as exc:
        raise Unavailable(f"cannot create the database {path}: {exc.strerror}") from exc
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if file.stat().st_mode & 0o777 != _PRIVATE:
                file.chmod(_PRIVATE)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise Unavailable(f"cannot make {file} private (mode 0600): {exc.strerror}") from exc


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

    def __init__(self, conn: SQLiteDb, on_commit: Callable[[], None], batch_max: int) -> None:
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


class SQLiteStore(SQLStore):
    def __init__(self, path: Path, clock: Clock, *, readers: int = 4, batch_max: int = 256) -> None:
        self._path = path
        self._clock = clock  # only to date the schema migrations it applies
        self._readers = readers
        self._batch_max = batch_max
        self._local = threading.local()
        self._reader_conns: list[SQLiteDb] = []
        self._reader_lock = threading.Lock()
        self._writer: _Writer | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._signal: ChangeSignal | None = None

    # Life cycle

    async def open(self) -> None:
        """Opens the file, creating it and migrating its schema as needed: one process owns
        an SQLite database, so there is nobody to wait for."""
        for migration in await self.migrate():
            log.info("applied migration %s", migration)
        self._signal = ChangeSignal()
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

    async def migrate(self) -> list[str]:
        """Brings the schema up to date; returns the migrations it applied."""
        try:
            # The owner's alone, as `tocsin serve` makes it: `tocsin migrate` may come first.
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise Unavailable(f"cannot create {self._path.parent}: {exc.strerror}") from exc
        return await asyncio.to_thread(self._migrate, self._clock.now())

    def _migrate(self, now: datetime) -> list[str]:
        _make_private(self._path)
        try:
            conn = _connect(self._path)
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open the database {self._path}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            applied = migrations.apply(conn, now, f"the database {self._path}")
            conn.execute("COMMIT")  # a refusal leaves the transaction to the close: undone
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open the database {self._path}: {exc}") from exc
        finally:
            conn.close()
        return applied

    # Plumbing

    async def _write(self, job: Job[R]) -> R:
        if self._writer is None:
            raise Unavailable("the store is not open")
        return await self._writer.submit(job)

    async def _claim(self, job: Job[R]) -> R:
        return await self._write(job)  # the one writer sees every commit before it

    async def _read(self, job: Job[R]) -> R:
        if self._executor is None:
            raise Unavailable("the store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_read, job)

    def _run_read(self, job: Job[R]) -> R:
        conn: SQLiteDb | None = getattr(self._local, "conn", None)
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
