"""The databases tests run on: SQLite in a temporary directory, and a real PostgreSQL server.

PostgreSQL tests use the server at `TOCSIN_TEST_DATABASE_URL` (default: the local one), each in
a schema of its own that is dropped afterwards (or, to make a database refuse connections, in a
database of its own). Without a server they are skipped, with the
reason, unless `TOCSIN_REQUIRE_POSTGRES=1` (as CI sets it) makes that a failure.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from service.core.clock import Clock
from service.core.database import Db
from service.db.postgres import PostgresStore
from service.db.sql_store import SQLStore
from service.db.sqlite import SQLiteStore

POSTGRES_URL = os.environ.get("TOCSIN_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


@functools.cache
def unreachable(url: str) -> str:
    """Why PostgreSQL at `url` cannot be used, or "" when it can (asked once per run)."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL at {url} ({str(exc).strip()})"
    return ""


def require_postgres() -> None:
    """Skips the test when PostgreSQL is absent, or fails it where it must be present."""
    reason = unreachable(POSTGRES_URL)
    if not reason:
        return
    reason += "; set TOCSIN_TEST_DATABASE_URL"
    if os.environ.get("TOCSIN_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def scratch_schema(url: str, prefix: str) -> Iterator[str]:
    """`url` scoped to a new empty schema of that server, which is dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        # A URL, as users give one: the schema is chosen by the connection's options.
        joiner = "&" if "?" in url else "?"
        yield f"{url}{joiner}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A connection string to an empty schema of the test server, dropped afterwards."""
    require_postgres()
    with scratch_schema(POSTGRES_URL, "test") as url:
        yield url


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A URL of a new empty database of the test server, dropped afterwards. A database, not
    a schema: whether it takes connections is set per database (see `refuse_connections`)."""
    require_postgres()
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urlsplit(POSTGRES_URL)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def refuse_connections(url: str, refuse: bool = True) -> None:
    """An outage of the database at `url` (one `scratch_database` made), as its clients see
    one: new connections refused and those it had ended. `refuse=False` ends the outage."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(not refuse).lower()}")
        if refuse:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


@contextlib.asynccontextmanager
async def open_store(backend: str, tmp_path: Path, clock: Clock) -> AsyncIterator[SQLStore]:
    """An open, migrated, empty store on `backend`, closed afterwards."""
    store: SQLStore
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            store = SQLiteStore(tmp_path / "tocsin.db", clock)
        else:
            store = PostgresStore(stack.enter_context(postgres_database()), clock)
        await store.migrate()
        await store.open()
        try:
            yield store
        finally:
            await store.close()


async def everything_stored(store: SQLStore, data_dir: Path) -> bytes:
    """All the store holds, as bytes to search: what someone who stole the database has."""
    if isinstance(store, SQLiteStore):
        files = [data_dir / name for name in ("tocsin.db", "tocsin.db-wal")]
        return b"".join(path.read_bytes() for path in files if path.exists())

    def dump(conn: Db) -> bytes:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        rows = [r[0] for t in tables for r in conn.execute(f"SELECT t::text FROM {t[0]} t")]
        return "\n".join(rows).encode()

    return await store._read(dump)
