"""The shared store: one PostgreSQL database behind any number of replicas.

The store's jobs are plain functions of a connection, written once for SQLite and PostgreSQL
(`service.core.database`), so here they run on psycopg's pooled connections, each job one
transaction on a worker thread: the event loop never waits for the network, and only the
LISTEN connection is asynchronous. Reads and writes are REPEATABLE READ: one snapshot for all of a
job's statements. Two writes to the same row conflict, and the later one is run again on a
fresh snapshot: an acknowledgement and the engine paging for that alert both write its
escalation, so one of them sees the other. Two creates of one alias both insert, and the
unique index over open aliases turns the second into a conflict too: run again, it finds the
alert and counts into it. (SERIALIZABLE would also catch conflicts between reads and writes
of different rows, but at page granularity: under load nearly every insert conflicts with
every other, and throughput collapses.)

Engines on several replicas claim due work with `FOR UPDATE SKIP LOCKED` (see
`service.sql.POSTGRES`) at READ COMMITTED, so they pass each other's claims by instead of
queuing behind them, and see what the others committed a moment ago.

A commit that changed anything sends a NOTIFY; every replica LISTENs, so watchers and engines
everywhere hear of changes made on any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import psycopg
import psycopg_pool
from psycopg import IsolationLevel

from service.alerts.signal import ChangeSignal
from service.core.clock import Clock
from service.core.database import Job, R
from service.core.errors import FailedPrecondition, Unavailable
from service.db import migrations
from service.db.migrations import LATEST_VERSION
from service.db.postgres_connection import CHANNEL, PostgresDb, row_factory
from service.db.postgres_failures import Connects, Failure, failure
from service.db.postgres_probe import Probe
from service.db.sql_store import SQLStore

log = logging.getLogger(__name__)

APPLICATION_NAME = "tocsin"  # as pg_stat_activity shows the pool's connections
_MIGRATION_LOCK = 7316029  # an advisory lock key: one migrating process at a time
_ATTEMPTS = 64  # conflicts resolve in a few; this many means something is wrong
_CONNECT_TIMEOUT_SECONDS = 2  # libpq's least: a server that answers at all answers sooner
# How long a job waits for a pooled connection before asking whether the pool can open one
# (`service.db.postgres_failures`): if not, the caller hears so, within 2 s of the database going.
# The pool has a connection for each worker thread, so a job waits only for the pool to open
# one: milliseconds while the database is there, seconds on a loaded machine, for at most
# `_BUSY_SECONDS`.
_POOL_TIMEOUT_SECONDS = 1.0
_BUSY_SECONDS = 5.0
# ...and while the last ping found it unreachable: a connection the pool still holds is used,
# but no job waits for one, so calls during an outage fail at once and do not queue.
_UNREACHABLE_WAIT_SECONDS = 0.1
# The pool waits longer after each failed attempt to reconnect (1 s, 2 s, 4 s, ...): after a
# minute's outage, a minute more would pass before it tried again, health answering SERVING
# meanwhile. Starting over after a few seconds keeps every wait at 2 s or less.
_RECONNECT_SECONDS = 5.0


def redacted_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured database"
    where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    return f"postgresql://{where}"


class PostgresStore(SQLStore):
    def __init__(self, url: str, clock: Clock, *, pool_size: int = 16) -> None:
        self._url = url
        self._clock = clock  # only to date the schema migrations it applies
        self._pool_size = pool_size
        self._origin = uuid.uuid4().hex  # this store, in the notifications its commits send
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._listener: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signal: ChangeSignal | None = None
        self._probe = Probe(
            url,
            redacted_url(url),
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
            application_name=APPLICATION_NAME,
        )
        self._connects = Connects()
        self.conflicts = 0  # jobs run again because another transaction got in the way
        self._counting = threading.Lock()  # jobs run on several threads

    # Life cycle

    async def open(self) -> None:
        """Connects; refuses a database whose schema is not the one this Tocsin knows (the
        schema changes only by `migrate`, run once by one process: never by every replica
        starting at once)."""
        version = await asyncio.to_thread(self._schema_version)
        where = redacted_url(self._url)
        if version == 0:
            raise FailedPrecondition(
                f"{where} has no Tocsin schema yet; run `tocsin migrate --database URL` first"
            )
        if version < LATEST_VERSION:
            raise FailedPrecondition(
                f"{where} has schema version {version}, older than this Tocsin needs "
                f"({LATEST_VERSION}); run `tocsin migrate --database URL` first"
            )
        migrations.refuse_newer(version, where)
        self._loop = asyncio.get_running_loop()
        self._signal = ChangeSignal()
        self._pool = psycopg_pool.ConnectionPool(
            self._url,
            min_size=min(2, self._pool_size),  # the configuration allows a pool of one
            max_size=self._pool_size,
            connection_class=self._connects.connection_class(),
            kwargs={
                "row_factory": row_factory,
                "connect_timeout": _CONNECT_TIMEOUT_SECONDS,
                "application_name": APPLICATION_NAME,
            },
            timeout=_POOL_TIMEOUT_SECONDS,
            reconnect_timeout=_RECONNECT_SECONDS,
            open=False,
            name="tocsin",
        )
        await asyncio.to_thread(self._pool.open)
        self._executor = ThreadPoolExecutor(self._pool_size, thread_name_prefix="tocsin-pg")
        self._listener = asyncio.create_task(self._listen(), name="tocsin-pg-listen")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._pool is not None:
            await asyncio.to_thread(self._pool.close)
            self._pool = None
        await self._probe.close()

    async def ping(self) -> None:
        """Answers within a second whether the database does, on a connection of its own
        (`service.db.postgres_probe`): what health checks ask."""
        await self._probe.ping()

    async def migrate(self) -> list[str]:
        """Brings the schema up to date; returns the migrations it applied."""
        return await asyncio.to_thread(self._migrate, self._clock.now())

    def _schema_version(self) -> int:
        try:
            with psycopg.connect(self._url, connect_timeout=_CONNECT_TIMEOUT_SECONDS) as conn:
                return _version(conn)
        except psycopg.Error as exc:
            raise Unavailable(f"cannot reach {redacted_url(self._url)}: {exc}") from exc

    def _migrate(self, now: datetime) -> list[str]:
        where = redacted_url(self._url)
        try:
            with psycopg.connect(self._url, connect_timeout=_CONNECT_TIMEOUT_SECONDS) as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                return migrations.apply(PostgresDb(conn), now, where)
        except psycopg.Error as exc:
            raise Unavailable(f"cannot migrate {where}: {exc}") from exc

    # Plumbing

    async def _write(self, job: Job[R]) -> R:
        return await self._run(job, IsolationLevel.REPEATABLE_READ, write=True)

    async def _claim(self, job: Job[R]) -> R:
        return await self._run(job, IsolationLevel.READ_COMMITTED, write=True)

    async def _read(self, job: Job[R]) -> R:
        return await self._run(job, IsolationLevel.REPEATABLE_READ, write=False)

    async def _run(self, job: Job[R], isolation: IsolationLevel, *, write: bool) -> R:
        if self._executor is None:
            raise Unavailable("the store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transact, job, isolation, write)

    def _transact(self, job: Job[R], isolation: IsolationLevel, write: bool) -> R:
        """Runs the job in one transaction: again on a fresh snapshot while it conflicts, and
        once more on another connection if its own was lost (`service.db.postgres_failures`)."""
        pool = self._pool
        if pool is None:
            raise Unavailable("the store is not open")
        if not self._probe.reachable:
            # The health check's last ping had no answer. A pooled connection may still look
            # open (a network that drops packets closes nothing), and a query on it would
            # wait for the caller's deadline: the caller hears at once instead, until a ping
            # is answered again (health asks every second).
            raise Unavailable(_unavailable(Failure.UNREACHABLE, None))
        lost_one = False
        started = time.monotonic()
        for attempt in itertools.count(1):
            conn: psycopg.Connection[Any] | None = None
            committing = False
            wait = _POOL_TIMEOUT_SECONDS if self._probe.reachable else _UNREACHABLE_WAIT_SECONDS
            try:
                with pool.connection(timeout=wait) as conn:
                    conn.isolation_level = isolation
                    conn.read_only = not write
                    db = PostgresDb(conn, self._origin)
                    result = job(db)
                    db.finish()
                    committing = True
                    conn.commit()
                if db.wrote and self._loop is not None and self._signal is not None:
                    self._loop.call_soon_threadsafe(self._signal.fire)
                return result
            except psycopg.Error as exc:
                kind = failure(
                    exc,
                    connection_broken=conn is not None and conn.broken,
                    pool_failing=self._connects.failing,
                )
                if kind is None:
                    raise
                if kind is Failure.BUSY and time.monotonic() - started < _BUSY_SECONDS:
                    continue
                if kind is Failure.CONFLICT and attempt < _ATTEMPTS:
                    with self._counting:
                        self.conflicts += 1
                    # Back off a little, and randomly, so the conflicting jobs stop colliding.
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
                    continue
                # A connection lost before the commit took its transaction with it: the job
                # runs once more. Lost during the commit, nobody knows whether it committed,
                # and the caller must hear so.
                if kind is Failure.LOST and not committing and not lost_one:
                    lost_one = True
                    log.warning("lost a database connection (%s); running the job again", exc)
                    # Whatever ended this connection likely ended the pool's others too: drop
                    # those now, so that the job's second run gets a live one.
                    pool.check()
                    continue
                raise Unavailable(_unavailable(kind, exc)) from exc
        raise AssertionError("unreachable")  # the loop ends only by return or raise

    async def _listen(self) -> None:
        """Fires the change signal for every commit on any replica, reconnecting as needed."""
        assert self._signal is not None
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url,
                    autocommit=True,
                    connect_timeout=_CONNECT_TIMEOUT_SECONDS,
                    application_name=APPLICATION_NAME,
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._signal.fire()  # anything may have changed while nobody listened
                    async for notice in conn.notifies():
                        if notice.payload != self._origin:  # its own commits fired already
                            self._signal.fire()
            except psycopg.Error as exc:
                log.warning("lost the database's change notifications (%s); reconnecting", exc)
                await asyncio.sleep(1)


def _unavailable(kind: Failure, exc: psycopg.Error | None) -> str:
    """What the caller hears of a job that cannot be run (any caller: the token check is a
    job too, so not where the database is)."""
    if kind is Failure.CONFLICT:
        return "the database is too busy: a job kept conflicting"
    if kind is Failure.UNREACHABLE:
        return "cannot reach the database: no connection to it"
    if kind is Failure.BUSY:
        return f"the database is too busy: no connection free within {_BUSY_SECONDS:g} s"
    return f"the database failed: {exc}"


def _version(conn: psycopg.Connection[Any]) -> int:
    """The schema version applied, or 0 for a database Tocsin has never migrated."""
    exists = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    if exists is None or exists[0] is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])
