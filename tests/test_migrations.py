"""Migrations that move data: a database an older Tocsin left mid-flight loses nothing when
it is upgraded. On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from service.core.clock import to_micros
from service.db import migrations
from service.db.postgres import PostgresStore
from service.db.sql_store import SQLStore
from service.db.sqlite import SQLiteStore
from service.paging.planning import PageState
from service.teams.model import DEFAULT_TEAM
from tests.databases import BACKENDS, postgres_database
from tests.fakes import FakeClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CANCEL_COLUMN = 10  # the migration that moved the "cancel:" flag out of the page's detail


@contextlib.asynccontextmanager
async def older_store(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> AsyncIterator[tuple[SQLStore, str]]:
    """A store, not open, and where its database is, with the schema at `version` as an
    older Tocsin left it; its `migrate` brings it up to date."""
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            where = str(tmp_path / "tocsin.db")
            store: SQLStore = SQLiteStore(Path(where), FakeClock(T0))
        else:
            where = stack.enter_context(postgres_database())
            store = PostgresStore(where, FakeClock(T0))
        older = tuple(m for m in migrations.MIGRATIONS if m.version <= version)
        with monkeypatch.context() as patch:
            patch.setattr(migrations, "MIGRATIONS", older)
            await store.migrate()
        yield store, where


def run_sql(backend: str, where: str, sql: str, *rows: Sequence[object]) -> list[Any]:
    """`sql` (`?` placeholders) once per row of parameters, or once without any, committed;
    returns what the last run selects."""
    runs = rows or ((),)
    if backend == "sqlite":
        with contextlib.closing(sqlite3.connect(where)) as lite:
            cursor = lite.cursor()
            for params in runs:
                cursor.execute(sql, params)
            found = cursor.fetchall()
            lite.commit()
            return found
    with psycopg.connect(where) as conn, conn.cursor() as pg:
        for params in runs:
            pg.execute(sql.replace("?", "%s"), params)
        return pg.fetchall() if pg.description else []


def insert_alert(backend: str, where: str, alert_id: str) -> None:
    at = to_micros(T0)
    run_sql(
        backend,
        where,
        "INSERT INTO alerts (id, alias, message, description, tags, details, entity, source, "
        "priority, responders, actions, status, acknowledged, snoozed_until, count, created_at, "
        "updated_at, last_occurred_at, team_id, integration, acknowledged_by, closed_by) "
        "VALUES (?, ?, 'Disk full', '', '[]', '{}', '', '', 3, '[]', '[]', 'open', ?, NULL, 1, "
        "?, ?, ?, ?, '', 'ana', '')",
        (alert_id, alert_id, True, at, at, at, DEFAULT_TEAM),
    )


def insert_pages(backend: str, where: str, alert_id: str, *pages: tuple[str, str, str]) -> None:
    """Pages (key, state, detail) of the alert, by SMS to one number; those being sent have a
    lease that ran out a minute after T0."""
    lease = to_micros(T0 + timedelta(minutes=1))
    run_sql(
        backend,
        where,
        "INSERT INTO pages (key, alert_id, user_id, contact_method_id, channel, address, round, "
        "state, due_at, attempts, lease_until, sent_at, provider_id, detail, created_at) "
        "VALUES (?, ?, 'u-alice', 'm1', 'sms', '+15550001111', 0, ?, ?, 1, ?, ?, '', ?, ?)",
        *(
            (key, alert_id, state, to_micros(T0 + timedelta(days=1)) if state == "pending"
             else to_micros(T0), lease if state == "sending" else None,
             to_micros(T0) if state != "pending" else None, detail, to_micros(T0))
            for key, state, detail in pages
        ),
    )  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
async def test_pages_flagged_cancelled_in_their_detail_keep_the_flag_in_its_column(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with older_store(backend, tmp_path, monkeypatch, CANCEL_COLUMN - 1) as (store, where):
        insert_alert(backend, where, "a1")
        insert_pages(
            backend,
            where,
            "a1",
            ("p-in-flight", "sending", "cancel:acknowledged"),  # acknowledged while sent
            ("p-dead-sender", "cancelled", "cancel:closed"),  # its sender died, then cancelled
            ("p-throttled", "pending", "throttled"),
            ("p-sent", "delivered", ""),
        )
        applied = await store.migrate()
        assert applied[0].startswith(f"{CANCEL_COLUMN}: ")
        rows = run_sql(
            backend, where, "SELECT key, detail, cancelled_because FROM pages ORDER BY key"
        )
        assert [tuple(row) for row in rows] == [
            ("p-dead-sender", "closed", "closed"),
            ("p-in-flight", "", "acknowledged"),
            ("p-sent", "", None),
            ("p-throttled", "throttled", None),
        ]
        # The page that was in flight, its lease run out, is cancelled rather than sent again.
        await store.open()
        try:
            claims = await store.claim_pages(T0 + timedelta(minutes=2), 10, timedelta(minutes=1))
            assert claims.pages == []
            pages = {p.key: p for p in await store.list_pages("a1")}
            assert (pages["p-in-flight"].state, pages["p-in-flight"].detail) == (
                PageState.CANCELLED,
                "acknowledged",
            )
        finally:
            await store.close()
